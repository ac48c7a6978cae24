"""Losses against values computed by hand on small tensors."""

import math

import pytest
import torch

from gan.losses import LSGAN, WGANGP, Hinge, Minimax, NonSaturating, Targets
from gan.losses.ragan import RaGAN
from gan.losses.rpgan import RpGAN
from gan.step import FeatureTaps, Seen

REAL = torch.tensor([0.0, 2.0])
FAKE = torch.tensor([-1.0, 1.0])
T = Targets.default(REAL)


def bce(logit: float, target: float) -> float:
    p = 1 / (1 + math.exp(-logit))
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))


def mean(values) -> float:
    return sum(values) / len(values)


def test_minimax_matches_hand_computation():
    d = mean([bce(0, 1), bce(2, 1)]) + mean([bce(-1, 0), bce(1, 0)])
    g = mean([math.log(1 - 1 / (1 + math.exp(1))), math.log(1 - 1 / (1 + math.exp(-1)))])
    assert Minimax().d_loss(REAL, FAKE, T).item() == pytest.approx(d, rel=1e-6)
    assert Minimax().g_loss(FAKE, T).item() == pytest.approx(g, rel=1e-6)


def test_nonsaturating_g_loss_is_minus_log_d():
    g = mean([-math.log(1 / (1 + math.exp(1))), -math.log(1 / (1 + math.exp(-1)))])
    assert NonSaturating().g_loss(FAKE, T).item() == pytest.approx(g, rel=1e-6)
    assert NonSaturating().uses_targets and Minimax().uses_targets


def test_targets_reach_the_loss():
    smoothed = Targets(real=torch.full_like(REAL, 0.9), fake=T.fake, g=T.g)
    d = mean([bce(0, 0.9), bce(2, 0.9)]) + mean([bce(-1, 0), bce(1, 0)])
    assert NonSaturating().d_loss(REAL, FAKE, smoothed).item() == pytest.approx(d, rel=1e-6)


def test_lsgan_is_mse_to_targets():
    assert LSGAN().d_loss(REAL, FAKE, T).item() == pytest.approx(mean([1, 1]) + mean([1, 1]))
    assert LSGAN().g_loss(FAKE, T).item() == pytest.approx(mean([4, 0]))


def test_hinge_and_wgan_have_no_targets():
    assert Hinge().d_loss(REAL, FAKE, T).item() == pytest.approx(mean([1, 0]) + mean([0, 2]))
    assert Hinge().g_loss(FAKE, T).item() == pytest.approx(0.0)
    assert WGANGP().d_loss(REAL, FAKE, T).item() == pytest.approx(0.0 - 1.0)
    assert not Hinge().uses_targets and not WGANGP().uses_targets


def test_wgan_gradient_penalty_of_linear_critic():
    class Linear(torch.nn.Module):
        def forward(self, x, cond=None):
            return (x * 3.0).flatten(1).sum(1)  # |grad| = 3 * sqrt(numel)

    real, fake = torch.randn(4, 1, 2, 2), torch.randn(4, 1, 2, 2)
    expected = 10 * (3 * 2 - 1) ** 2
    seen = Seen(real, fake, None, Linear(), FeatureTaps(Linear(), []))
    assert WGANGP(gp_weight=10).d_penalty(seen).item() == pytest.approx(expected, rel=1e-5)


def test_wgan_warns_about_batchnorm_critic():
    with pytest.warns(UserWarning, match="BatchNorm"):
        WGANGP().check(torch.nn.Sequential(torch.nn.BatchNorm2d(3)))


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_rpgan_pairs_each_real_with_its_fake():
    # pairs (0, -1) and (2, 1): fake - real = -1 for both
    assert RpGAN().d_loss(REAL, FAKE, T).item() == pytest.approx(softplus(-1.0))
    assert RpGAN().g_loss(FAKE, T, REAL).item() == pytest.approx(softplus(1.0))
    assert RpGAN().g_uses_real and not RpGAN().uses_targets


def test_ragan_against_the_mean_of_the_other_batch():
    # mean(real) = 1, mean(fake) = 0: real - 0 = [0, 2], fake - 1 = [-2, 0]
    d = (math.log(2) + softplus(-2.0)) / 2  # ((log2 + sp(-2))/2 + (sp(-2) + log2)/2) / 2
    g = (math.log(2) + softplus(2.0)) / 2
    assert RaGAN().d_loss(REAL, FAKE, T).item() == pytest.approx(d)
    assert RaGAN().g_loss(FAKE, T, REAL).item() == pytest.approx(g)
    assert RaGAN().g_uses_real and not RaGAN().uses_targets
