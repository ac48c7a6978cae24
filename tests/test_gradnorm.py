"""Gradient normalization (gan/models/gradnorm.py): the formula by hand and against finite differences, and
model=dcgan_gn, whose D wraps a D given as a nested node, gets the data's values, trains and reloads."""

import pytest
import torch
from torch import nn

from gan.build import build_datamodule, build_module
from gan.checkpoint import load_checkpoint, load_discriminator, load_generator
from gan.errors import ConfigError
from gan.models.gradnorm import GradNormDiscriminator
from tests.conftest import fit, smoke


class Quadratic(nn.Module):
    """f(x) = sum_j w_j x_j^2 per image: grad_x f = 2 w x, known without autograd."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float64).view(1, 1, 2, 2))

    def forward(self, x, cond=None):
        return (self.w * x**2).flatten(1).sum(1)


def test_the_formula_by_hand():
    d = GradNormDiscriminator(Quadratic([1.0, 2.0, 0.0, 0.0]))
    x = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.5, -1.0, 3.0, 0.0]], dtype=torch.float64).view(2, 1, 2, 2)
    # image 0: f = 1 + 2 = 3, grad = (2, 4, 0, 0), |grad| = sqrt(20); image 1: f = 0.25 + 2 = 2.25,
    # grad = (1, -4, 0, 0), |grad| = sqrt(17)
    expected = torch.tensor([3 / (20**0.5 + 3), 2.25 / (17**0.5 + 2.25)], dtype=torch.float64)
    assert torch.allclose(d(x), expected, atol=1e-12)
    assert not x.requires_grad  # the caller's tensor is left as it was


def test_its_derivative_matches_finite_differences():
    """The double backward (create_graph) is right: D_hat's gradient in x and in D's weights."""
    torch.manual_seed(0)
    inner = nn.Sequential(nn.Flatten(), nn.Linear(8, 5), nn.LeakyReLU(0.2), nn.Linear(5, 1), nn.Flatten(0))
    d = GradNormDiscriminator(_Ignore(inner.double()))
    x = torch.randn(3, 2, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(d, (x,))
    weight = inner[1].weight

    def of_weight(w):
        with torch.no_grad():
            weight.copy_(w)
        return d(x.detach())

    hat = d(x.detach())
    (analytic,) = torch.autograd.grad(hat.sum(), weight)
    w0, eps = weight.detach().clone(), 1e-6
    numeric = torch.zeros_like(w0)
    for i in range(w0.numel()):
        step = torch.zeros_like(w0).view(-1)
        step[i] = eps
        plus, minus = of_weight(w0 + step.view_as(w0)).sum(), of_weight(w0 - step.view_as(w0)).sum()
        numeric.view(-1)[i] = (plus - minus) / (2 * eps)
    assert torch.allclose(analytic, numeric, atol=1e-6)


class _Ignore(nn.Module):
    """A D without conditioning: drops `cond`."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, cond=None):
        return self.net(x)


def test_under_no_grad_it_gives_the_same_values_detached():
    d = GradNormDiscriminator(Quadratic([1.0, 2.0, 0.0, 0.0]))
    x = torch.ones(2, 1, 2, 2, dtype=torch.float64)
    with torch.no_grad():
        out = d(x)
    assert not out.requires_grad and torch.allclose(out, d(x))


def test_dcgan_gn_gets_the_data_values_in_its_nested_d_trains_and_reloads(tmp_path):
    cfg = smoke(
        "model=dcgan_gn", "model.generator.ngf=8", "model.discriminator.inner.ndf=8", output_dir=tmp_path
    )
    data = build_datamodule(cfg)
    module = build_module(cfg, data)
    inner = module.config["model"]["discriminator"]["inner"]
    assert (inner["image_size"], inner["channels"]) == (data.image_size, data.channels) == (32, 3)
    assert "image_size" not in module.config["model"]["discriminator"]  # the wrapper takes none
    assert module.discriminator.inner.net[0].in_channels == 3
    trainer = fit(module, cfg, iterations=2)
    assert (module.d_steps, module.g_steps) == (2, 2)
    path = tmp_path / "gn.ckpt"
    trainer.save_checkpoint(path)
    ckpt = load_checkpoint(path)
    z = torch.randn(4, cfg.model.latent_dim)
    module.eval()
    with torch.no_grad():
        images = module.generator(z)
        assert torch.equal(load_generator(ckpt, use_ema=False)(z), images)
        scores = module.discriminator(images)
        assert torch.equal(load_discriminator(ckpt)(images), scores)
    assert scores.shape == (4,) and scores.abs().max() < 1


def test_a_typed_nested_value_that_disagrees_with_the_data_is_one_line(tmp_path):
    cfg = smoke("model=dcgan_gn", "+model.discriminator.inner.image_size=64", output_dir=tmp_path)
    message = "model.discriminator.inner.image_size=64 but the data has image_size=32: drop"
    with pytest.raises(ConfigError, match=message):
        build_module(cfg)
