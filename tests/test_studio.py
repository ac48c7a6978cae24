"""The design studio: its requests (checked one by one), its latent maths, its server, and gan.generate
recreating what it draws. The browser walk-through is in test_studio_browser.py."""

import base64
import contextlib
import http.client
import io
import json
import subprocess
import sys
import threading
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from gan.designs import between, neighbours, read_latents
from gan.errors import ConfigError
from gan.generate import generate, parse
from gan.priors import sample_latent
from gan.studio.app import BadRequest, Studio
from gan.studio.server import serve
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def conditional(studio_ckpt):
    return studio_ckpt


@pytest.fixture(scope="module")
def studio(conditional):
    return Studio(str(conditional))


def pixels(src: str | bytes) -> np.ndarray:
    data = base64.b64decode(src.split(",", 1)[1]) if isinstance(src, str) else src
    return np.asarray(Image.open(io.BytesIO(data)))


def test_info_lists_class_names_from_the_dataset(studio):
    info = studio.info()
    assert info["condition"] == "label" and info["latent_dim"] == 100 and info["prior"] == "gaussian"
    assert info["classes"] == [{"id": i, "name": f"class_{i}"} for i in range(3)]


def test_page_is_the_seeded_draw_gan_generate_makes(studio, conditional, tmp_path):
    page = studio.page(seed="5", count=4)
    assert page["seed"] == 5 and len(page["designs"]) == 4
    expected = sample_latent("gaussian", 4, 100, generator=torch.Generator().manual_seed(5))
    assert torch.equal(torch.tensor([d["z"] for d in page["designs"]]), expected)
    assert [d["label"] for d in page["designs"]] == [0, 1, 2, 0]  # classes in turn, as gan.generate
    generate(
        parse(
            [f"ckpt_path={conditional}", "seed=5", "num_images=4", "individual=true", f"out_dir={tmp_path}"]
        )
    )
    for i, design in enumerate(page["designs"]):
        assert np.array_equal(
            pixels(design["src"]), np.asarray(Image.open(tmp_path / "images" / f"{i:05d}.png"))
        )
    assert {d["label"] for d in studio.page(seed=1, count=5, label=2)["designs"]} == {2}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda s: s.page(seed="abc", count=4),
            "seed must be a whole number from 0 to 4294967295, not 'abc'",
        ),
        (lambda s: s.page(seed=-1, count=4), "seed must be a whole number"),
        (lambda s: s.page(seed=1, count=0), "count must be a whole number from 1 to 64"),
        (
            lambda s: s.page(seed=1, count=4, label=7),
            r"class 7 is not one this model was trained on \(0=class_0",
        ),
        (
            lambda s: s.variations({"z": [0.0] * 100}, "lots", 1, 8),
            "how different must be a number from 0 to 1",
        ),
        (lambda s: s.variations({"z": [0.0] * 100}, 1.5, 1, 8), "how different must be a number from 0 to 1"),
        (lambda s: s.variations({"z": [0.0] * 3}, 0.5, 1, 8), "a design's z must be 100 numbers from -1000"),
        (lambda s: s.interpolate({"z": [0.0] * 100}, None, 8), "a design needs its latent vector z"),
        (lambda s: s.interpolate({"z": [0.0] * 100}, {"z": [1.0] * 100}, 1), "steps must be a whole number"),
        (lambda s: s.zip([]), "pin at least one design"),
    ],
)
def test_bad_requests_get_a_sentence(studio, call, message):
    with pytest.raises(BadRequest, match=message):
        call(studio)


@pytest.mark.parametrize("prior", ["gaussian", "uniform", "sphere"])
def test_variations_stay_on_the_prior_and_grow_with_the_slider(prior):
    gen = torch.Generator().manual_seed(0)
    z = sample_latent(prior, 1, 64, generator=gen)[0]
    assert torch.allclose(neighbours(prior, z, 0.0, 4, gen), z.expand(4, -1))
    distances = [(neighbours(prior, z, s, 256, gen) - z).norm(dim=1).mean().item() for s in (0.1, 0.4, 0.9)]
    assert distances[0] < distances[1] < distances[2]
    near = neighbours(prior, z, 0.7, 4096, gen)
    if prior == "uniform":
        assert near.abs().max() <= 1.0
    if prior == "sphere":
        assert torch.allclose(near.norm(dim=1), torch.full((4096,), 8.0))
    if prior == "gaussian":  # z from the prior mixed with fresh noise keeps N(0, 1) per coordinate
        zs = sample_latent(prior, 4096, 64, generator=gen)
        mixed = torch.stack([neighbours(prior, zi, 0.7, 1, gen)[0] for zi in zs])
        assert abs(mixed.std().item() - 1.0) < 0.02


def test_interpolation_runs_from_a_to_b_on_the_sphere_for_gaussians():
    a, b = torch.randn(100), torch.randn(100)
    path = between("gaussian", a, b, 7)
    assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)
    assert path.norm(dim=1).min() > 0.9 * min(a.norm(), b.norm())  # a straight line would sag in the middle
    line = between("uniform", a.clamp(-1, 1), b.clamp(-1, 1), 5)
    assert torch.allclose(line[2], (a.clamp(-1, 1) + b.clamp(-1, 1)) / 2)


def test_png_and_zip_carry_latents_that_gan_generate_recreates_exactly(studio, conditional, tmp_path):
    designs = studio.page(seed=9, count=3, label=1)["designs"]
    png = studio.png(designs[0])
    assert Image.open(io.BytesIO(png)).size == (32, 32)
    (tmp_path / "one.png").write_bytes(png)
    [again] = generate(
        parse([f"ckpt_path={conditional}", f"latents={tmp_path / 'one.png'}", f"out_dir={tmp_path}"])
    )
    assert np.array_equal(pixels(png), np.asarray(Image.open(again)))
    with zipfile.ZipFile(io.BytesIO(studio.zip(designs))) as archive:
        archive.extractall(tmp_path / "set")
    latents = json.loads((tmp_path / "set" / "latents.json").read_text())
    assert [d["label"] for d in latents["designs"]] == [1, 1, 1] and latents["use_ema"] is True
    written = generate(
        parse(
            [
                f"ckpt_path={conditional}",
                f"latents={tmp_path / 'set' / 'latents.json'}",
                f"out_dir={tmp_path / 'g'}",
            ]
        )
    )
    for path in written:
        assert np.array_equal(
            np.asarray(Image.open(path)), np.asarray(Image.open(tmp_path / "set" / path.name))
        )


def test_generate_rejects_bad_latents_files(conditional, tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "short.json").write_text(json.dumps({"designs": [{"z": [0.0] * 5}]}))
    Image.new("RGB", (4, 4)).save(tmp_path / "plain.png")
    for name, message in (("bad.json", "not a latents file"), ("plain.png", "has no design inside")):
        with pytest.raises(ConfigError, match=message):
            read_latents(str(tmp_path / name))
    with pytest.raises(ConfigError, match="design 0 has 5 numbers, G takes 100"):
        generate(
            parse([f"ckpt_path={conditional}", f"latents={tmp_path / 'short.json'}", f"out_dir={tmp_path}"])
        )
    with pytest.raises(ConfigError, match="label= and latents= together"):
        generate(parse([f"ckpt_path={conditional}", f"latents={tmp_path / 'short.json'}", "label=1"]))


@contextlib.contextmanager
def running(ckpt, **args):
    """A studio serving `ckpt` on a free port of 127.0.0.1, in a thread, for the `with` block."""
    server = serve({"ckpt_path": str(ckpt), "port": 0, "host": "127.0.0.1", **args})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def send(server, path: str, body=None, headers: dict | None = None, method: str = "POST", timeout=60):
    """(status, JSON or bytes) of one request as the studio's own page sends it (JSON, the launch's token);
    `headers` add to or replace those, a None value leaves one out."""
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", "X-Studio-Token": server.token, **(headers or {})}
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=timeout)
    try:
        connection.request(method, path, body=data, headers={k: v for k, v in sent.items() if v is not None})
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    return response.status, json.loads(raw) if response.getheader(
        "Content-Type"
    ) == "application/json" else raw


def test_server_binds_locally_and_answers_bad_input_with_400(conditional):
    with running(conditional) as server:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1" and server.url == f"http://127.0.0.1:{port}/?token={server.token}"
        status, page = send(server, f"/?token={server.token}", method="GET")
        assert status == 200 and b"gan studio" in page
        assert send(server, "/api/page", b"{broken")[0] == 400
        assert send(server, "/api/page", {"seed": 2, "count": 99}) == (
            400,
            {"error": "count must be a whole number from 1 to 64, not 99"},
        )
        status, body = send(server, "/api/page", {"seed": 2, "count": 2})
        assert status == 200 and body["seed"] == 2 and len(body["designs"]) == 2


@pytest.mark.slow
def test_bad_checkpoint_fails_before_the_server_starts(tmp_path):
    (tmp_path / "notes.ckpt").write_text("hello")
    for path in (tmp_path / "missing.ckpt", tmp_path / "notes.ckpt"):
        run = subprocess.run(
            [sys.executable, "-m", "gan.studio", f"ckpt_path={path}", "port=0"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        assert run.returncode == 2 and "Studio for" not in run.stdout
        assert run.stderr.strip().splitlines() == [run.stderr.strip().splitlines()[-1]]  # one line
        assert f"ckpt_path={path}" in run.stderr


def test_zip_names_files_after_pins_and_a_4x_png_is_lanczos(studio):
    designs = studio.page(seed=4, count=4)["designs"]
    named = [{**designs[0], "name": "photo 1"}, {**designs[1], "name": "Photo 1"}, designs[2], designs[3]]
    named[3]["name"] = "../../etc/passwd"
    with zipfile.ZipFile(io.BytesIO(studio.zip(named))) as archive:
        latents = json.loads(archive.read("latents.json"))
        assert archive.namelist() == [
            "photo_1.png",
            "Photo_1_2.png",
            "design_002.png",
            "etc_passwd.png",
            "latents.json",
        ]
        exact = pixels(archive.read("photo_1.png"))
    assert [d.get("title") for d in latents["designs"]] == ["photo 1", "Photo 1", None, "../../etc/passwd"]
    big = Image.open(io.BytesIO(studio.png(named[0], 4)))
    assert (
        big.size == (128, 128) and json.loads(big.text["gan-design"])["upscaled"]["resampling"] == "Lanczos"
    )
    lanczos = Image.fromarray(exact).resize((128, 128), Image.Resampling.LANCZOS)
    assert np.array_equal(np.asarray(big), np.asarray(lanczos))
    with pytest.raises(BadRequest, match="a PNG is downloaded at 1x or 4x the model's size"):
        studio.png(named[0], 2)
