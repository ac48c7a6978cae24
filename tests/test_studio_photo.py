"""Starting from a photo: the search's maths (it picks the class and beats its own random start), the
upload's checks (each bad file is a sentence, through the server a 400), and the search as the page drives
it (progress, the found design, cancelling)."""

import base64
import io
import shutil
import time

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from gan.priors import sample_latent
from gan.studio.app import BadRequest, Studio
from gan.studio.projection import Adam, Settings, onto_prior, project
from gan.studio.server import MAX_PHOTO_BODY
from tests.test_studio import running, send


class ToyGenerator(nn.Module):
    """The class sets the colour, z the pattern: a photo of class 2 is only reachable through class 2."""

    condition = "label"

    def __init__(self):
        super().__init__()
        self.colour = nn.Embedding(3, 3)
        self.colour.weight.data = torch.eye(3) * 1.6 - 0.8
        self.pattern = nn.Linear(8, 3 * 16 * 16)
        self.requires_grad_(False)

    def forward(self, z, cond=None):
        return torch.tanh(self.colour(cond)[:, :, None, None] + 0.5 * self.pattern(z).view(-1, 3, 16, 16))


class ToyDiscriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 8, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(8, 16, 4, 2, 1))
        self.net.append(nn.LeakyReLU(0.2)).append(nn.Conv2d(16, 1, 4))
        self.requires_grad_(False)

    def forward(self, x, cond=None):
        return self.net(x).flatten()


def test_search_chooses_the_class_and_improves_on_its_random_start():  # ~2 s
    torch.manual_seed(0)
    generator, discriminator = ToyGenerator(), ToyDiscriminator()
    truth = torch.randn(1, 8)
    photo = generator(truth, torch.tensor([2]))[0]
    options = torch.tensor([0, 1, 2])
    start = project(generator, discriminator, photo, "gaussian", 8, options, Settings(steps=0, candidates=64))
    told = []
    found = project(
        generator,
        discriminator,
        photo,
        "gaussian",
        8,
        options,
        Settings(steps=40, candidates=64),
        progress=lambda step, steps, loss, image: told.append((step, steps, loss, image.shape)),
    )
    assert start.option == found.option == 2 and found.steps == 40 and found.stopped is None
    assert found.loss < 0.5 * start.loss  # the optimisation, not the random start, finds it
    assert [t[0] for t in told] == list(range(1, 41)) and told[-1][3] == (3, 16, 16)
    cancelled = project(generator, discriminator, photo, "gaussian", 8, options, cancelled=lambda: True)
    assert cancelled.stopped == "cancelled" and cancelled.steps == 0
    slow = project(
        generator, discriminator, photo, "gaussian", 8, options, Settings(seconds=0.0, candidates=64)
    )
    assert slow.stopped == "time" and slow.loss == pytest.approx(start.loss)  # bounded: it keeps the start


@pytest.mark.parametrize("prior", ["gaussian", "sphere", "uniform"])
def test_found_latents_are_put_back_where_the_prior_draws(prior):
    z = torch.randn(512, 64) * torch.linspace(0.1, 4, 512)[:, None]  # far inside and far outside
    back = onto_prior(prior, z)
    if prior == "uniform":
        assert torch.equal(back, z.clamp(-1, 1))
        return
    assert torch.allclose(back / back.norm(dim=1, keepdim=True), z / z.norm(dim=1, keepdim=True))  # rescaled
    if prior == "sphere":
        assert torch.allclose(back.norm(dim=1), torch.full((512,), 8.0))
        return
    low, high = 8 - 3 / 2**0.5, 8 + 3 / 2**0.5  # the shell holding 99.7% of N(0, I) draws in 64-d
    assert back.norm(dim=1).min() >= low - 1e-4 and back.norm(dim=1).max() <= high + 1e-4
    drawn = sample_latent("gaussian", 4096, 64, generator=torch.Generator().manual_seed(0))
    inside = (drawn.norm(dim=1) > low) & (drawn.norm(dim=1) < high)
    assert inside.float().mean() > 0.99 and torch.allclose(onto_prior(prior, drawn[inside]), drawn[inside])


def test_adam_by_hand_is_torch_adam():
    a = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    b = a.detach().clone().requires_grad_(True)
    mine, theirs = Adam(a, lr=0.1), torch.optim.Adam([b], lr=0.1)
    for step in range(10):
        for x, opt in ((a, mine), (b, theirs)):
            x.grad = None
            (x.square() * torch.tensor([1.0, 2.0, 3.0]) + step * x).sum().backward()
            opt.step()
    assert torch.allclose(a, b, atol=1e-6)


def upload(image: Image.Image | bytes, kind: str = "PNG") -> str:
    if isinstance(image, Image.Image):
        out = io.BytesIO()
        image.save(out, format=kind)
        image = out.getvalue()
    return "data:image/png;base64," + base64.b64encode(image).decode()


def jpeg_cut_short() -> str:
    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(out, "JPEG")
    return upload(out.getvalue()[: len(out.getvalue()) // 2])


@pytest.fixture(scope="module")
def studio(studio_ckpt):
    return Studio(str(studio_ckpt), search_steps=5)


@pytest.mark.parametrize(
    ("photo", "message"),
    [
        (lambda: None, "drop a photo"),
        (lambda: "data:image/png;base64,@@@@", "not a file the page encoded"),
        (lambda: upload(b"just some text, not a picture"), "not an image the studio can read"),
        (lambda: upload(Image.new("RGB", (8, 8))), "the photo is 8x8; it needs at least 16 pixels a side"),
        (lambda: upload(Image.new("RGB", (300, 100))), r"300x100, 3.0:1; the designs are square"),
        (lambda: upload(Image.new("1", (8000, 6000))), r"8000x6000 \(48 MP\); at most 40 MP"),
        (jpeg_cut_short, "could not be decoded"),
        (lambda: "A" * (MAX_PHOTO_BODY + 10), "the photo is over 10 MB"),
    ],
)
def test_bad_uploads_get_a_sentence(studio, photo, message):
    with pytest.raises(BadRequest, match=message):
        studio.project(photo())


def wait_for(studio, number: int, timeout: float = 120) -> dict:
    end = time.time() + timeout
    while (status := studio.search_status(number))["state"] == "running" and time.time() < end:
        time.sleep(0.1)
    return status


def test_search_runs_beside_the_server_and_pins_a_design(studio):  # ~4 s
    photo = Image.fromarray(np.random.default_rng(1).integers(0, 255, (120, 100, 3), dtype=np.uint8))
    started = studio.project(upload(photo, "JPEG"))
    assert (
        started["state"] == "running"
        and started["steps"] == 5
        and started["photo"].startswith("data:image/png")
    )
    assert np.asarray(Image.open(io.BytesIO(base64.b64decode(started["photo"].split(",")[1])))).shape == (
        32,
        32,
        3,
    )
    done = wait_for(studio, started["search"])
    assert done["state"] == "done" and done["step"] == 5 and done["preview"].startswith("data:image/png")
    design = done["design"]
    assert (
        design["label"] in (0, 1, 2)
        and design["psi"] == 1.0
        and design["steps"] == []
        and len(design["z"]) == 100
    )
    assert len(studio.variations(design, 0.3, 1, 4)["designs"]) == 4  # it can be varied at once
    with pytest.raises(BadRequest, match=f"no photo search {started['search'] + 1} is running"):
        studio.search_status(started["search"] + 1)


def test_a_new_photo_or_stop_ends_the_running_search(studio):
    photo = upload(Image.new("RGB", (64, 64), "white"))
    first = studio.project(photo, steps=200)
    second = studio.project(photo, steps=200)
    assert first["search"] != second["search"]
    studio.cancel(second["search"])
    assert wait_for(studio, second["search"])["state"] == "cancelled"
    with pytest.raises(BadRequest, match="steps must be a whole number from 1 to 200"):
        studio.project(photo, steps=500)


@pytest.mark.slow  # trains or searches for seconds: the full suite, not the fast tier
def test_server_answers_every_new_request_and_refuses_bad_ones_with_400(studio_ckpt, tmp_path):  # ~10 s
    ckpt = shutil.copy(studio_ckpt, tmp_path / "last.ckpt")  # its names stay in its own cache
    with running(ckpt, search_steps=3) as server:
        status, found = send(server, "/api/directions", b"{}")
        assert status == 200 and len(found["directions"]) == 20
        status, page = send(server, "/api/page", {"seed": 1, "count": 2, "psi": 0.5})
        assert status == 200 and page["designs"][0]["psi"] == 0.5
        design = {**page["designs"][0], "steps": [{"direction": 1, "sigma": 2}]}
        status, strips = send(server, "/api/strips", {"design": design, "directions": [0, 1]})
        assert status == 200 and [len(s["designs"]) for s in strips["strips"]] == [5, 5]
        status, drawn = send(server, "/api/render", {"designs": [design]})
        assert status == 200 and drawn["designs"][0]["steps"][0]["sigma"] == 2
        assert send(server, "/api/name", {"direction": 1, "name": "toe"})[1]["directions"][1]["name"] == "toe"
        for path, body, message in [
            ("name", {"direction": 99, "name": "x"}, "direction must be a whole number from 0 to 19"),
            ("strips", {"design": design, "directions": "all"}, "ask for 1 to 20 directions"),
            ("render", {"designs": []}, "send 1 to 64 designs"),
            ("page", {"seed": 1, "count": 2, "psi": -1}, "truncation psi must be a number from 0 to 1"),
            ("project", {"photo": upload(b"<html>")}, "not an image the studio can read"),
            ("project/status", {"search": 10**9}, f"no photo search {10**9} is running"),
        ]:
            status, answer = send(server, "/api/" + path, body)
            assert status == 400 and message in answer["error"], (path, answer)
        status, answer = send(server, "/api/project", b" " * (MAX_PHOTO_BODY + 1))  # read away, then refused
        assert status == 413 and "at most 13.3 MB are accepted" in answer["error"]
        status, started = send(server, "/api/project", {"photo": upload(Image.new("RGB", (40, 40)))})
        assert status == 200
        end = time.time() + 120
        while started["state"] == "running" and time.time() < end:
            time.sleep(0.1)
            started = send(server, "/api/project/status", {"search": started["search"]})[1]
        assert started["state"] == "done" and started["step"] == 3
