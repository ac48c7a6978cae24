"""model=r3gan / cr3gan: the paper's 32 px configuration counted by hand, the fix-up initialization, the
[1, 3, 3, 1] resampling by hand, grouped convs, no normalization, widths per size. ~4 s."""

import math

import pytest
import torch

from gan.errors import ConfigError
from gan.models import r3gan
from gan.step import FeatureTaps


def n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def block(c: int, groups: int, expansion: int = 2) -> int:
    """1x1 c -> e*c, grouped 3x3 e*c -> e*c, 1x1 e*c -> c (no conv biases), two activation biases of e*c."""
    e = expansion * c
    return c * e + e * (e // groups) * 9 + e * c + 2 * e


def test_paper_cifar10_configuration_parameter_count():
    # R3GAN's 32 px configuration, `train.py --preset=CIFAR10` of github.com/brownvc/R3GAN (19a7ddf): widths
    # 768 x 4 stages, 2 blocks each, cardinality 96, expansion 2, noise 64. Instantiating its
    # R3GAN/Networks.py gives G 20,732,160 and D 20,683,776 unconditional, and with its CIFAR-10 condition
    # (10 classes, G embedding 64, D embedding 768) G 20,781,952 and D 21,280,512; the sums below agree.
    blocks = 8 * block(768, 96)
    g = blocks + (768 * 16 + 64 * 768) + 768 * 3  # basis 4x4 and linear z -> 768; 1x1 conv to RGB
    d = blocks + 3 * 768 + (768 * 16 + 768 * 1)  # 1x1 conv from RGB; 4x4 depthwise basis, linear -> 1
    assert (g, d) == (20_732_160, 20_683_776)
    assert n_params(r3gan.Generator()) == g
    assert n_params(r3gan.Discriminator()) == d
    g_cond = g + 64 * 768 + 10 * 64  # z ++ embedding(y): the linear map takes 128 inputs; the embedding
    d_cond = d - 768 + 768 * 768 + 10 * 768  # linear -> 768 for the projection; the embedding
    assert (g_cond, d_cond) == (20_781_952, 21_280_512)
    assert n_params(r3gan.ConditionalGenerator(10)) == g_cond
    assert n_params(r3gan.ConditionalDiscriminator(10)) == d_cond


def test_widths_follow_the_paper_presets():
    assert r3gan.stage_widths(32, 768) == [768] * 4  # CIFAR-10
    assert r3gan.stage_widths(64, 768) == [768] * 4 + [384]  # FFHQ-64
    assert r3gan.stage_widths(256, 768) == [768] * 4 + [384, 192, 96]  # FFHQ-256
    g = r3gan.Generator(image_size=256, width=32, group_channels=4)
    assert [s[1].conv2.groups for s in g.stages] == [8, 8, 8, 8, 4, 2, 1]  # width / group_channels
    assert g.stages[6][1].conv2.in_channels == 2 * 4  # expanded twice
    with pytest.raises(ConfigError, match="cannot be split into groups"):
        r3gan.Generator(width=20, group_channels=6)  # 3 groups of 20


def test_fix_up_initialization():
    torch.manual_seed(0)  # the statistics below are of one fixed draw
    g = r3gan.Generator(image_size=32, width=64, group_channels=8)
    total = 2 * 4  # blocks in the whole network
    gain = math.sqrt(2 / (1 + 0.2**2)) * total ** (-1 / 4)
    first = g.stages[0][1]
    assert first.conv1.weight.std().item() == pytest.approx(gain / math.sqrt(64), rel=0.03)  # fan_in 64
    assert first.conv2.weight.std().item() == pytest.approx(
        gain / math.sqrt(16 * 9), rel=0.03
    )  # 16 per group
    for stage in g.stages:
        for res in stage[1:]:
            assert torch.count_nonzero(res.conv3.weight) == 0 and torch.count_nonzero(res.act1.bias) == 0
    x = torch.randn(2, 64, 8, 8)
    assert torch.equal(first(x), x)  # every block starts as the identity
    assert g.stages[0][0].basis.std().item() == pytest.approx(1.0, rel=0.1)  # N(0, 1) 4x4 basis


def test_no_normalization_anywhere():
    norms = (
        torch.nn.modules.batchnorm._BatchNorm,
        torch.nn.GroupNorm,
        torch.nn.LayerNorm,
        torch.nn.InstanceNorm2d,
    )
    for net in (r3gan.Generator(width=16), r3gan.ConditionalDiscriminator(10, width=16)):
        assert not any(isinstance(m, norms) or hasattr(m, "parametrizations") for m in net.modules())


def test_upsampling_is_the_bilinear_filter_by_hand():
    up = r3gan.Resample(1, 1, up=True)
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)
    y = up(x)[0, 0]
    # per axis the output taps are [0.75, 0.75 a + 0.25 b, 0.25 a + 0.75 b, 0.75 b] (zero padding)
    assert y[1, 1].item() == pytest.approx(0.75 * (0.75 * 1 + 0.25 * 2) + 0.25 * (0.75 * 3 + 0.25 * 4))
    assert y[0, 0].item() == pytest.approx(0.75 * 0.75 * 1)
    # inside, it is bilinear interpolation (half-pixel centres)
    interpolated = torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.allclose(y[1:3, 1:3], interpolated[0, 0, 1:3, 1:3])


def test_downsampling_filter_by_hand():
    down = r3gan.Resample(1, 1, up=False)
    x = torch.tensor([1.0, 2.0, 3.0, 4.0]).repeat(4, 1).view(1, 1, 4, 4)  # every row 1 2 3 4
    y = down(x)[0, 0]
    # along W: taps [1, 3, 3, 1] / 8 at stride 2 with one zero of padding; along H the constant gives 7/8
    expected = torch.tensor([(3 * 1 + 3 * 2 + 1 * 3) / 8, (1 * 2 + 3 * 3 + 3 * 4) / 8]) * 7 / 8
    assert torch.allclose(y, expected.repeat(2, 1))


def test_width_change_uses_a_1x1_conv_around_resampling():
    assert r3gan.Resample(8, 4, up=True).conv.kernel_size == (1, 1)
    assert r3gan.Resample(8, 8, up=False).conv is None


def test_output_is_not_squashed():
    g = r3gan.Generator(16, 32, 3, width=16)
    with torch.no_grad():
        g.to_image.weight.mul_(1000)
    assert g(torch.randn(4, 16)).abs().max() > 1  # linear output, clamped only where saved or scored


@pytest.mark.parametrize("size", [32, 64, 128, 256])
def test_shapes_and_conditional_projection_by_hand(size):
    g = r3gan.ConditionalGenerator(10, 16, size, 1, width=16)
    d = r3gan.ConditionalDiscriminator(10, size, 1, width=16)
    y = torch.tensor([2, 5, 5])
    x = g(torch.randn(3, 16), y)
    assert x.shape == (3, 1, size, size)
    assert len(d.blocks_from_input()) == len(g.stages) == int(math.log2(size // 4)) + 1
    logits, features = FeatureTaps(d, ["features"]).run(d, x, y)  # the input of D's last linear map
    linear = d.stages[-1][-1].linear
    with torch.no_grad():
        expected = (linear(features["features"]) * d.embed.weight[y]).sum(1)
    assert logits.shape == (3,) and torch.allclose(logits, expected, atol=1e-5)
