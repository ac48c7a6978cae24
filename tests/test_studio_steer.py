"""The studio's principal directions, steering and truncation: computed once and cached beside the
checkpoint, found for every generator family, named, exported in latents files and redrawn by gan.generate
pixel for pixel (old latents files too)."""

import io
import json
import shutil
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from gan.designs import latent_of, read_latents, render_one, truncate
from gan.errors import ConfigError
from gan.generate import generate, parse
from gan.models import dcgan, dcgan_upsample, mlp, r3gan, resnet
from gan.priors import sample_latent
from gan.studio.app import BadRequest, Studio
from gan.studio.directions import activations, cache_path, compute, probe_layer
from tests.test_studio import pixels


@pytest.fixture(scope="module")
def studio(studio_ckpt):
    return Studio(str(studio_ckpt))


@pytest.fixture
def own_ckpt(studio_ckpt, tmp_path):
    """A copy in a folder of its own, so its directions cache starts empty."""
    return shutil.copy(studio_ckpt, tmp_path / "last.ckpt")


@pytest.mark.slow  # trains or searches for seconds: the full suite, not the fast tier
def test_directions_are_computed_once_cached_by_digest_and_keep_their_names(own_ckpt):  # ~8 s
    first = Studio(str(own_ckpt))
    made = first.directions()
    path = cache_path(own_ckpt, first.identity["digest"])
    assert not made["cached"] and made["file"] == str(path) and path.is_file() and made["unsaved"] is None
    assert len(made["directions"]) == 20 and made["method"]["layer"] == "net.2"
    variance = [d["variance"] for d in made["directions"]]
    assert variance == sorted(variance, reverse=True) and 0 < sum(variance) <= 1
    assert first.name(3, "  heel height ")["directions"][3]["name"] == "heel height"
    again = Studio(str(own_ckpt))
    read = again.directions()
    assert read["cached"] and read["directions"][3]["name"] == "heel height"
    assert torch.equal(again.loaded_directions()[0].vectors, first.loaded_directions()[0].vectors)
    raw = Studio(str(own_ckpt), use_ema=False)  # other weights: another digest, another file
    assert raw.identity["digest"] != first.identity["digest"]
    assert not raw.directions()["cached"] and raw.directions()["directions"][3]["name"] == ""
    data = json.loads(path.read_text())
    data["generator"]["digest"] = "0" * 16  # a file that does not belong to these weights is not read
    path.write_text(json.dumps(data))
    assert not Studio(str(own_ckpt)).directions()["cached"]


SMALL = {  # each family at a small size: (build, the layer expected, its labels)
    "dcgan": (lambda: dcgan.Generator(latent_dim=16, image_size=16, ngf=8), "net.2", None),
    "cdcgan": (
        lambda: dcgan.ConditionalGenerator(3, latent_dim=16, embed_dim=4, image_size=16, ngf=8),
        "net.2",
        lambda n: torch.arange(n) % 3,
    ),
    "dcgan_upsample": (lambda: dcgan_upsample.Generator(latent_dim=16, image_size=28), "fc", None),
    "mlp": (lambda: mlp.Generator(latent_dim=16, image_size=8, hidden=(32, 64)), "net.1", None),
    "resnet": (lambda: resnet.Generator(latent_dim=16, image_size=32, ngf=16), "blocks.0", None),
    "r3gan": (
        lambda: r3gan.Generator(latent_dim=16, image_size=32, width=16, group_channels=8),
        "stages.0",
        None,
    ),
}


@pytest.mark.parametrize(  # the two slowest families in the full suite only
    "model",
    [
        pytest.param(m, marks=pytest.mark.slow) if m in ("dcgan_upsample", "resnet") else m
        for m in sorted(SMALL)
    ],
)
def test_directions_for_every_generator_family(model):  # ~1-3 s each
    build, layer, labels = SMALL[model]
    with torch.random.fork_rng(devices=[]):  # seeded weights, the worker's RNG left alone
        torch.manual_seed(0)  # at init dcgan_upsample's fc layer is near-isotropic (see below)
        generator = build().eval()
    conditions = labels or (lambda n: None)
    found = compute(generator, "gaussian", 16, conditions, components=6)
    assert found.method["layer"] == layer
    assert found.vectors.shape == (6, 16) and torch.allclose(found.vectors.norm(dim=1), torch.ones(6))
    assert torch.equal(found.sigmas, torch.ones(6))  # N(0, I) has unit spread along any unit vector
    assert torch.equal(compute(generator, "gaussian", 16, conditions, components=6).vectors, found.vectors)
    # the first direction moves the layer's activations more than random directions of the same length do on
    # average (not more than each of them: dcgan_upsample's first component explains 5.3% of the variance, the
    # next 5.1%, and a random direction came within 0.1% of it for 18 of 200 initialisations)
    z = sample_latent("gaussian", 200, 16, generator=torch.Generator().manual_seed(1))
    cond = conditions(200)
    base = activations(generator, found.method["layer"], z, cond)

    def moved(v):
        return (activations(generator, found.method["layer"], z + v, cond) - base).norm(dim=1).mean()

    randoms = torch.randn(20, 16, generator=torch.Generator().manual_seed(2))
    randoms = randoms / randoms.norm(dim=1, keepdim=True)
    assert moved(found.vectors[0]) > torch.stack([moved(r) for r in randoms]).mean()


def test_probe_skips_affine_layers_and_in_place_activations():
    generator = dcgan.Generator(latent_dim=8, image_size=16, ngf=8).eval()  # ConvT, BN, ReLU(inplace)
    assert probe_layer(generator, "gaussian", 8, None) == "net.2"


def test_strips_preview_each_direction_from_minus_to_plus_two_sigma(studio):
    design = studio.page(seed=3, count=1, label=1)["designs"][0]
    design["steps"] = [{"direction": 2, "sigma": 1.5}]
    result = studio.strips(design)
    assert result["sigmas"] == [-2.0, -1.0, 0.0, 1.0, 2.0] and len(result["strips"]) == 8
    assert result["design"]["steps"] == [{"direction": 2, "sigma": 1.5, "name": ""}]
    strip = {s["direction"]: s["designs"] for s in result["strips"]}
    assert [d["steps"] for d in strip[2]][2] == []  # direction 2 at 0: the step is removed
    assert strip[0][4]["steps"] == [
        {"direction": 0, "sigma": 2.0, "name": ""},
        {"direction": 2, "sigma": 1.5, "name": ""},
    ]  # the other directions keep their sliders
    assert all(d["label"] == 1 and len(d["z"]) == 100 for s in result["strips"] for d in s["designs"])
    assert len(studio.strips(design, [5, 19])["strips"]) == 2


def test_steered_latent_is_truncated_z_plus_sigma_steps(studio):
    z = torch.randn(100)
    found = studio.loaded_directions()[0]
    d = studio.parse({"z": z.tolist(), "label": 0, "psi": 0.5, "steps": [{"direction": 1, "sigma": -2}]})
    expected = 0.5 * z - 2 * found.vectors[1]
    assert torch.allclose(studio.latent(d), expected, atol=1e-6)
    assert torch.equal(studio.latent(studio.parse({"z": z.tolist(), "label": 0})), z)  # old designs: z


def test_truncation_pulls_designs_toward_the_mean(studio, studio_ckpt, tmp_path):
    page = studio.page(seed=5, count=4, psi=0.5)
    assert [d["psi"] for d in page["designs"]] == [0.5] * 4
    expected = sample_latent("gaussian", 4, 100, generator=torch.Generator().manual_seed(5))
    assert torch.equal(torch.tensor([d["z"] for d in page["designs"]]), expected)  # z as drawn, psi apart
    generate(
        parse(
            [
                f"ckpt_path={studio_ckpt}",
                "seed=5",
                "num_images=4",
                "psi=0.5",
                "individual=true",
                f"out_dir={tmp_path}",
            ]
        )
    )
    for i, design in enumerate(page["designs"]):  # the page is what gan.generate psi=0.5 draws
        assert np.array_equal(
            pixels(design["src"]), np.asarray(Image.open(tmp_path / "images" / f"{i:05d}.png"))
        )
    same = studio.page(seed=6, count=3, label=2, psi=0.0)["designs"]  # psi 0: every design is the mean one
    assert np.array_equal(pixels(same[0]["src"]), pixels(same[2]["src"]))
    spread = {
        psi: np.std([pixels(d["src"]) for d in studio.page(7, 16, 0, None, psi)["designs"]], 0).mean()
        for psi in (0.3, 1.0)
    }
    assert spread[0.3] < spread[1.0]  # less variety


def test_truncation_is_refused_where_it_would_leave_the_prior(studio_ckpt):
    with pytest.raises(ValueError, match="needs a Gaussian or uniform prior"):
        truncate("sphere", torch.ones(4), 0.5)
    assert torch.equal(truncate("uniform", torch.ones(4), 0.25), torch.full((4,), 0.25))  # stays in the cube
    sphere = Studio(str(studio_ckpt))
    sphere.prior = "sphere"  # the same G read as a sphere-prior model: what the page and API then allow
    assert sphere.info()["truncation"] is False and "same norm" in sphere.info()["truncation_note"]
    with pytest.raises(BadRequest, match="truncation is for Gaussian and uniform priors"):
        sphere.page(seed=1, count=2, psi=0.5)
    assert len(sphere.page(seed=1, count=2, psi=1)["designs"]) == 2


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.page(seed=1, count=2, psi=1.5), "truncation psi must be a number from 0 to 1"),
        (lambda s: s.page(seed=1, count=2, psi="lots"), "truncation psi must be a number from 0 to 1"),
        (lambda s: s.render([]), "send 1 to 64 designs"),
        (lambda s: s.render([{"z": [0.0] * 100}] * 65), "send 1 to 64 designs"),
        (lambda s: s.name(20, "x"), "direction must be a whole number from 0 to 19"),
        (lambda s: s.name(0, "x" * 41), "at most 40 printable characters"),
        (lambda s: s.name(0, "a\nb"), "at most 40 printable characters"),
        (lambda s: s.name(0, 7), "at most 40 printable characters"),
        (lambda s: s.strips({"z": [0.0] * 100}, [0] * 21), "ask for 1 to 20 directions"),
        (lambda s: s.strips({"z": [0.0] * 100}, [25]), "direction must be a whole number from 0 to 19"),
        (
            lambda s: s.render([{"z": [0.0] * 100, "steps": [{"direction": 0, "sigma": 9}]}]),
            "a step's sigma must be a number from -5 to 5",
        ),
        (
            lambda s: s.render([{"z": [0.0] * 100, "steps": [{"direction": "up", "sigma": 1}]}]),
            "a step's direction must be a whole number",
        ),
        (lambda s: s.render([{"z": [0.0] * 100, "steps": "up"}]), "a design's steps are at most 20"),
    ],
)
def test_bad_steering_requests_get_a_sentence(studio, call, message):
    with pytest.raises(BadRequest, match=message):
        call(studio)


@pytest.mark.slow  # trains or searches for seconds: the full suite, not the fast tier
def test_a_named_steered_design_is_exported_and_redrawn_by_gan_generate(own_ckpt, tmp_path):  # ~8 s
    studio = Studio(str(own_ckpt))
    studio.name(0, "heel height")
    designs = studio.page(seed=9, count=2, label=1, psi=0.7)["designs"]
    designs[0]["steps"] = [{"direction": 0, "sigma": 1.5}, {"direction": 4, "sigma": -2.0}]
    with zipfile.ZipFile(io.BytesIO(studio.zip(designs))) as archive:
        archive.extractall(tmp_path / "set")
    latents = json.loads((tmp_path / "set" / "latents.json").read_text())
    assert latents["format"] == 2 and latents["designs"][0]["psi"] == 0.7
    assert latents["designs"][0]["steps"][0] == {"direction": 0, "sigma": 1.5, "name": "heel height"}
    exported = {d["index"]: d for d in latents["directions"]}
    assert (
        sorted(exported) == [0, 4]
        and exported[0]["name"] == "heel height"
        and len(exported[4]["vector"]) == 100
    )
    written = generate(
        parse(
            [
                f"ckpt_path={own_ckpt}",
                f"latents={tmp_path / 'set' / 'latents.json'}",
                f"out_dir={tmp_path / 'g'}",
            ]
        )
    )
    for path in written:
        assert np.array_equal(
            np.asarray(Image.open(path)), np.asarray(Image.open(tmp_path / "set" / path.name))
        )
    steered, plain = (np.asarray(Image.open(p)) for p in written)
    assert not np.array_equal(steered, pixels(studio.png({**designs[0], "steps": []})))  # the steps count
    # the file is z plus steps, so editing a step's sigma redraws the design the studio draws with it
    latents["designs"][0]["steps"][0]["sigma"] = -1.0
    (tmp_path / "edited.json").write_text(json.dumps(latents))
    [edited, _] = generate(
        parse([f"ckpt_path={own_ckpt}", f"latents={tmp_path / 'edited.json'}", f"out_dir={tmp_path / 'e'}"])
    )
    designs[0]["steps"][0]["sigma"] = -1.0
    assert np.array_equal(np.asarray(Image.open(edited)), pixels(studio.png(designs[0])))
    # a PNG carries the directions it needs: it is redrawn alone
    (tmp_path / "one.png").write_bytes(studio.png(designs[0]))
    assert read_latents(str(tmp_path / "one.png"))["directions"][0]["name"] == "heel height"
    [again] = generate(
        parse([f"ckpt_path={own_ckpt}", f"latents={tmp_path / 'one.png'}", f"out_dir={tmp_path / 'p'}"])
    )
    assert np.array_equal(np.asarray(Image.open(again)), pixels(studio.png(designs[0])))


def test_old_latents_files_draw_their_z(studio, studio_ckpt, tmp_path):
    z = sample_latent("gaussian", 1, 100, generator=torch.Generator().manual_seed(4))[0]
    old = {"checkpoint": str(studio_ckpt), "use_ema": True, "prior": "gaussian", "latent_dim": 100}
    old["designs"] = [{"z": z.tolist(), "label": 2, "image": None, "name": "old.png"}]
    (tmp_path / "old.json").write_text(json.dumps(old))
    [path] = generate(
        parse([f"ckpt_path={studio_ckpt}", f"latents={tmp_path / 'old.json'}", f"out_dir={tmp_path}"])
    )
    assert np.array_equal(
        np.asarray(Image.open(path)), render_one(studio.generator, z, torch.tensor(2)).numpy()
    )


def test_generate_refuses_steps_the_file_cannot_redraw(studio_ckpt, tmp_path):
    design = {"z": [0.0] * 100, "label": 0, "steps": [{"direction": 3, "sigma": 1.0}]}
    (tmp_path / "no_vectors.json").write_text(json.dumps({"designs": [design]}))
    (tmp_path / "bad_psi.json").write_text(json.dumps({"designs": [{**design, "steps": [], "psi": 2}]}))
    for name, message in (
        ("no_vectors", "steps along direction 3, which the file does not hold"),
        ("bad_psi", "psi=2"),
    ):
        with pytest.raises(ConfigError, match=message):
            generate(
                parse([f"ckpt_path={studio_ckpt}", f"latents={tmp_path / name}.json", f"out_dir={tmp_path}"])
            )
    with pytest.raises(ConfigError, match="psi=1.5: the truncation must be a number from 0 to 1"):
        generate(parse([f"ckpt_path={studio_ckpt}", "psi=1.5"]))


def test_latent_of_is_one_formula_for_studio_and_generate():
    z, v = torch.randn(8), torch.randn(8)
    steps = [{"direction": 5, "sigma": 2.0}, {"direction": 1, "sigma": -1.0}]
    table = {1: (v, 0.5), 5: (-v, 1.0)}
    assert torch.allclose(latent_of("gaussian", z, 0.5, steps, table), 0.5 * z - 0.5 * v - 2 * v)
