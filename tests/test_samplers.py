"""The sampler group (gan/samplers/, conf/sampler/): plain and truncation draw the latents gan.generate and
the studio drew before samplers existed, pixel for pixel; a bad sampler is one line; and a sampler added by
the seam alone (drs: discriminator rejection sampling, Azadi et al. 2019) against its formula."""

import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from gan.checkpoint import load_checkpoint, load_generator
from gan.cli import arguments
from gan.designs import between, latent_of
from gan.errors import ConfigError
from gan.generate import generate, main, parse
from gan.pixels import to_unit
from gan.priors import sample_latent
from gan.samplers import Models, build
from gan.samplers.plain import Plain
from gan.samplers.truncation import Truncation
from gan.studio.app import Studio


def by_hand(ckpt_path, z: torch.Tensor, labels: list[int], out) -> list[np.ndarray]:
    """The images G draws for these latents, saved as gan.generate saved them before samplers."""
    from torchvision.utils import save_image

    generator = load_generator(load_checkpoint(ckpt_path), True)
    with torch.no_grad():
        images = to_unit(generator(z, torch.tensor(labels)))
    out.mkdir()
    for i, image in enumerate(images):
        save_image(image, out / f"{i}.png")
    return [np.asarray(Image.open(out / f"{i}.png")) for i in range(len(images))]


def drawn(ckpt_path, out, *overrides: str) -> list[np.ndarray]:
    generate(parse([f"ckpt_path={ckpt_path}", "individual=true", f"out_dir={out}", *overrides]))
    return [np.asarray(Image.open(path)) for path in sorted((out / "images").glob("*.png"))]


@pytest.mark.parametrize("prior", ["gaussian", "uniform", "sphere"])
def test_plain_and_truncation_latents_are_the_formulas_of_before(prior):
    models = Models(nn.Identity(), prior, 8)
    z = sample_latent(prior, 5, 8, generator=torch.Generator().manual_seed(3))
    plain = Plain().latents(models, 5, torch.Generator().manual_seed(3))
    assert torch.equal(plain, z) and Plain().psi == 1.0
    if prior != "sphere":  # truncation leaves the sphere's support: refused (gan.designs.truncate)
        truncated = Truncation(0.7).latents(models, 5, torch.Generator().manual_seed(3))
        assert torch.equal(truncated, latent_of(prior, z, 0.7, [], {}))
        assert torch.equal(Plain().but(psi=0.5).latents(models, 5, torch.Generator().manual_seed(3)), 0.5 * z)


def test_plain_gives_the_pixels_of_before(studio_ckpt, tmp_path):
    z = sample_latent("gaussian", 5, 100, generator=torch.Generator().manual_seed(4))
    expected = by_hand(studio_ckpt, z, [0, 1, 2, 0, 1], tmp_path / "hand")  # classes in turn
    default = drawn(studio_ckpt, tmp_path / "default", "seed=4", "num_images=5")
    plain = drawn(studio_ckpt, tmp_path / "plain", "seed=4", "num_images=5", "sampler=plain")
    assert len(default) == 5 and all(np.array_equal(a, b) for a, b in zip(default, expected, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(plain, expected, strict=True))


def test_truncation_gives_the_pixels_of_before_and_of_psi(studio_ckpt, tmp_path, capsys):
    z = sample_latent("gaussian", 4, 100, generator=torch.Generator().manual_seed(6))
    expected = by_hand(studio_ckpt, latent_of("gaussian", z, 0.7, [], {}), [0, 1, 2, 0], tmp_path / "hand")
    sampler = drawn(
        studio_ckpt, tmp_path / "sampler", "seed=6", "num_images=4", "sampler=truncation", "sampler.psi=0.7"
    )
    psi = drawn(studio_ckpt, tmp_path / "psi", "seed=6", "num_images=4", "psi=0.7")
    said = capsys.readouterr().out.splitlines()
    assert said[-2].endswith("(sampler=truncation (psi=0.7))")
    assert said[-1].endswith("(sampler=plain (psi=0.7))")
    assert all(np.array_equal(a, b) for a, b in zip(sampler, expected, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(psi, expected, strict=True))
    assert not np.array_equal(sampler[0], drawn(studio_ckpt, tmp_path / "plain", "seed=6", "num_images=1")[0])


def test_truncated_walks_are_the_walks_of_before(studio_ckpt, tmp_path):
    from torchvision.utils import make_grid, save_image

    gen = torch.Generator().manual_seed(2)
    a, b = sample_latent("gaussian", 2, 100, generator=gen), sample_latent("gaussian", 2, 100, generator=gen)
    path = torch.cat([between("gaussian", a[i], b[i], 3) for i in range(2)])
    generator = load_generator(load_checkpoint(studio_ckpt), True)
    with torch.no_grad():
        images = to_unit(generator(0.5 * path, torch.tensor([0, 1, 2, 0, 1, 2])))
    save_image(make_grid(images, nrow=3), tmp_path / "hand.png")
    args = ["mode=interpolate", "rows=2", "steps=3", "seed=2", "sampler=truncation", "sampler.psi=0.5"]
    generate(parse([f"ckpt_path={studio_ckpt}", f"out_dir={tmp_path}", *args]))
    hand, made = Image.open(tmp_path / "hand.png"), Image.open(tmp_path / "interpolation.png")
    assert np.array_equal(np.asarray(hand), np.asarray(made))


def test_the_studio_page_draws_through_its_sampler(studio_ckpt):
    studio = Studio(str(studio_ckpt), sampler=Truncation(0.6))
    z = sample_latent("gaussian", 3, 100, generator=torch.Generator().manual_seed(9))
    default = studio.page(seed=9, count=3)  # a request without psi: the sampler's
    assert [d["psi"] for d in default["designs"]] == [0.6] * 3
    assert torch.equal(torch.tensor([d["z"] for d in default["designs"]]), z)  # z as drawn, psi apart
    slider = studio.page(seed=9, count=3, psi=0.25)  # the page's variety slider replaces it
    assert [d["psi"] for d in slider["designs"]] == [0.25] * 3


def test_tool_configs_compose_the_sampler_group():
    assert arguments("generate", [])["sampler"] == {"_target_": "gan.samplers.plain.Plain"}
    node = arguments("generate", ["sampler=truncation", "sampler.psi=0.5"])["sampler"]
    assert node == {"_target_": "gan.samplers.truncation.Truncation", "psi": 0.5} and build(node).psi == 0.5
    assert arguments("studio", ["sampler=truncation"])["sampler"]["psi"] == 0.7


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sampler=truncaton"], "sampler=truncaton: no such option (did you mean truncation?); options: "),
        (["sampler.psi=0.5"], "sampler.psi: sampler=plain has no such setting; its settings: none"),
        (["sampler=truncation", "sampler.psi=2"], "sampler.psi=2: the truncation must be a number from 0"),
        (["sampler=truncation", "psi=0.5"], "psi=0.5 and sampler.psi=0.7 together: pass one of them"),
        (["sampler=truncation", "latents=x.json"], "sampler= and latents= together"),
    ],
)
def test_a_bad_sampler_is_one_line(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as stop:
        main([f"ckpt_path={tmp_path / 'never_read.ckpt'}", *argv])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith(f"error: {message}") and err.count("\n") == 1, err


def test_a_sampler_that_is_not_one_is_refused():
    with pytest.raises(ConfigError, match="not a gan.samplers.Sampler"):
        build({"_target_": "torch.nn.Identity"})
    with pytest.raises(ConfigError, match="sampler.psi=-0.1"):
        Truncation(-0.1)


# ---- drs: discriminator rejection sampling, added as gan/samplers/drs.py + conf/sampler/drs.yaml alone ----


class Shows(nn.Module):
    """A G whose image is its latent, as [n, dim, 1, 1]."""

    def forward(self, z, cond=None):
        return z[:, :, None, None]


class Tilted(nn.Module):
    """A D whose logit is the latent's first coordinate: for the Gaussian prior p_g = N(0, I), exp(logit) is
    the density ratio of a target whose first coordinate is N(1, 1) (the rest N(0, 1))."""

    def forward(self, x, cond=None):
        return x[:, 0, 0, 0]


def tilted_models() -> Models:
    return Models(Shows(), "gaussian", 4, Tilted())


def test_drs_acceptance_is_azadi_et_al_s_formula_by_hand():
    from gan.samplers.drs import acceptance

    logits, top, gamma, eps = torch.tensor([2.0, 0.5, -3.0]), 2.0, 0.3, 1e-6
    by_hand = []
    for logit in logits.tolist():
        f = (logit - top) - math.log(1 - math.exp(logit - top - eps)) - gamma  # their F-hat
        by_hand.append(1 / (1 + math.exp(-f)))  # kept with probability sigmoid(F)
    assert torch.allclose(acceptance(logits, top, gamma, eps), torch.tensor(by_hand, dtype=torch.float64))
    exact = acceptance(logits, top, 0.0, eps)  # gamma 0: the exact rule min(1, exp(logit - max))
    assert torch.allclose(exact, torch.exp(logits.double() - top), atol=1e-5)
    assert acceptance(logits, top, 1.0, eps)[1] < exact[1]  # a larger gamma keeps fewer


def test_drs_with_gamma_zero_samples_the_density_ratio_s_target():
    from gan.samplers.drs import DRS

    z = DRS(burn_in=2000, gamma=0.0).draw(tilted_models(), 1000, torch.Generator().manual_seed(0))
    plain = Plain().draw(tilted_models(), 1000, torch.Generator().manual_seed(0))
    assert abs(z[:, 0].mean().item() - 1.0) < 0.15 and abs(z[:, 0].std().item() - 1.0) < 0.1
    assert abs(z[:, 1].mean().item()) < 0.15 and abs(plain[:, 0].mean().item()) < 0.15  # the rest: the prior


def test_drs_prefers_high_logit_latents_and_is_seeded():
    from gan.samplers.drs import DRS

    drs = DRS(burn_in=500)  # gamma: the 80th percentile of F over the burn-in draws
    z = drs.draw(tilted_models(), 400, torch.Generator().manual_seed(1))
    plain = Plain().draw(tilted_models(), 400, torch.Generator().manual_seed(1))
    assert z[:, 0].mean() > plain[:, 0].mean() + 0.3  # softer than the exact rule (1.0): gamma < 0 here
    assert torch.equal(z, drs.draw(tilted_models(), 400, torch.Generator().manual_seed(1)))
    with pytest.raises(ConfigError, match="sampler=drs kept"):
        DRS(burn_in=100, gamma=30.0, max_rounds=2).draw(tilted_models(), 8, torch.Generator().manual_seed(1))
    with pytest.raises(ConfigError, match="this checkpoint holds no discriminator"):
        drs.draw(Models(Shows(), "gaussian", 4), 2, torch.Generator())


class ByClass(nn.Module):
    """A conditional D that likes a large first coordinate for class 0 and a small one for class 1."""

    def forward(self, x, cond):
        return x[:, 0, 0, 0] * (1 - 2 * cond)


def test_drs_judges_each_latent_with_its_own_condition():
    from gan.samplers.drs import DRS

    cond = torch.tensor([0, 1] * 200)
    z = DRS(burn_in=500, gamma=0.0).draw(
        Models(Shows(), "gaussian", 4, ByClass()), 400, torch.Generator(), cond
    )
    assert z[cond == 0, 0].mean() > 0.7 and z[cond == 1, 0].mean() < -0.7  # N(+1, 1) and N(-1, 1)


def test_drs_in_gan_generate_reads_the_checkpoint_s_d(studio_ckpt, tmp_path):
    args = ["seed=3", "num_images=6", "sampler=drs", "sampler.burn_in=64"]
    first, again = drawn(studio_ckpt, tmp_path / "a", *args), drawn(studio_ckpt, tmp_path / "b", *args)
    plain = drawn(studio_ckpt, tmp_path / "plain", "seed=3", "num_images=6")
    assert len(first) == 6 and all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], plain[0])  # the seed's first draw was not the first one kept
    walk = [
        "mode=interpolate",
        "rows=2",
        "steps=3",
        "sampler=drs",
        "sampler.burn_in=16",
        f"out_dir={tmp_path}",
    ]
    generate(parse([f"ckpt_path={studio_ckpt}", *walk]))
    assert Image.open(tmp_path / "interpolation.png").size == (3 * 34 + 2, 2 * 34 + 2)


def test_the_studio_s_page_draws_through_drs(studio_ckpt):
    from gan.samplers.drs import DRS

    studio = Studio(str(studio_ckpt), sampler=DRS(burn_in=16))
    page = studio.page(seed=2, count=3, psi=0.5)
    models = Models(studio.generator, "gaussian", 100, studio.discriminator())
    z = DRS(burn_in=16).draw(models, 3, torch.Generator().manual_seed(2), torch.tensor([0, 1, 2]))
    assert torch.equal(torch.tensor([d["z"] for d in page["designs"]]), z)
    assert [d["psi"] for d in page["designs"]] == [0.5] * 3


def test_drs_is_an_option_and_a_wrong_name_says_so(capsys, tmp_path):
    assert arguments("generate", ["sampler=drs"])["sampler"]["_target_"] == "gan.samplers.drs.DRS"
    with pytest.raises(SystemExit) as stop:
        main([f"ckpt_path={tmp_path / 'never_read.ckpt'}", "sampler=drss"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err == (
        "error: sampler=drss: no such option (did you mean drs?); options: drs, plain, truncation\n"
    )
