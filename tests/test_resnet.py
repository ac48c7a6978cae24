"""model=resnet / cresnet: parameter counts of the reference configurations by hand, the layout per size,
spectral norm, the projection discriminator and the "features" tap on spectral-normed layers. ~3 s."""

import math

import pytest
import torch

from gan.errors import ConfigError
from gan.models import dcgan, resnet
from gan.step import FeatureTaps, Seen


def n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


# By hand from mimicry's SNGAN layers (torch_mimicry/nets/sngan, modules/resblocks.py at a7fda06): 3x3 and
# 1x1 convs with biases, BatchNorm scale + shift, the G block's shortcut always a 1x1 conv (it upsamples).


def g_block(a: int, b: int, classes: int = 0) -> int:
    norms = (classes or 1) * 2 * (a + b)  # BN scale/shift, or one (scale, shift) row per class
    return norms + (9 * a * b + b) + (9 * b * b + b) + (a * b + b)


def generator(widths: list[int], nz: int = 128, classes: int = 0) -> int:
    stem = nz * 16 * widths[0] + 16 * widths[0]
    blocks = sum(g_block(a, b, classes) for a, b in zip(widths, widths[1:], strict=False))
    return stem + blocks + 2 * widths[-1] + (9 * widths[-1] * 3 + 3)


def d_first(c: int) -> int:  # the optimized block: conv 3->c, conv c->c, shortcut 3->c
    return (9 * 3 * c + c) + (9 * c * c + c) + (3 * c + c)


def d_block(a: int, b: int, shortcut: bool) -> int:  # hidden width = input width, as mimicry
    return (9 * a * a + a) + (9 * a * b + b) + ((a * b + b) if shortcut else 0)


def test_sngan32_parameter_count_is_mimicrys():
    # mimicry's SNGANGenerator32 / SNGANDiscriminator32 (ngf 256, ndf 128): 4,276,739 and 1,053,825
    # parameters (counted once from its classes, outside CI)
    g = generator([256] * 4)
    d = d_first(128) + d_block(128, 128, True) + 2 * d_block(128, 128, False) + (128 + 1)
    assert (g, d) == (4_276_739, 1_053_825)
    assert n_params(resnet.Generator(128, 32)) == g
    assert n_params(resnet.Discriminator(32)) == d


def test_sngan64_parameter_count_is_mimicrys():
    # mimicry's SNGAN 64 (ngf = ndf = 1024): 12,220,675 and 10,141,441. Its D downsamples in all five
    # blocks (to 2x2); ours stops at 4x4 and keeps its last block there: the same layers and weights.
    g = generator([1024, 512, 256, 128, 64])
    widths = [64, 128, 256, 512, 1024]
    d = d_first(64) + sum(d_block(a, b, True) for a, b in zip(widths, widths[1:], strict=False)) + 1024 + 1
    assert (g, d) == (12_220_675, 10_141_441)
    assert n_params(resnet.Generator(128, 64)) == g
    assert n_params(resnet.Discriminator(64)) == d
    assert abs(n_params(resnet.Discriminator(64)) - 10_141_441) / 10_141_441 < 0.05  # the bound


def test_conditional_parameter_count_is_mimicrys_cgan_pd32():
    # mimicry's CGANPDGenerator32 / CGANPDDiscriminator32 with 10 classes: 4,304,387 and 1,055,105
    g = generator([256] * 4, classes=10)
    d = d_first(128) + d_block(128, 128, True) + 2 * d_block(128, 128, False) + (128 + 1) + 10 * 128
    assert (g, d) == (4_304_387, 1_055_105)
    assert n_params(resnet.ConditionalGenerator(10, 128, 32)) == g
    assert n_params(resnet.ProjectionDiscriminator(10, 32)) == d


def test_widths_per_size():
    assert resnet.generator_widths(32, 256) == [256, 256, 256, 256]
    assert resnet.generator_widths(128, 1024) == [1024, 1024, 512, 256, 128, 64]  # mimicry SNGAN 128
    assert resnet.generator_widths(256, 1024) == [1024, 1024, 1024, 512, 256, 128, 64]
    assert resnet.discriminator_plan(32, 128) == [(128, True), (128, True), (128, False), (128, False)]
    assert resnet.discriminator_plan(128, 1024) == [(64, True), (128, True), (256, True), (512, True),
                                                    (1024, True), (1024, False)]  # fmt: skip
    assert resnet.reference_widths(32, None, None) == (256, 128)
    assert resnet.reference_widths(256, None, 64) == (1024, 64)


@pytest.mark.parametrize("size", [32, 64, 128, 256])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_and_depth_at_every_size(size, channels):
    g = resnet.ConditionalGenerator(10, 16, size, channels, ngf=32)
    d = resnet.ProjectionDiscriminator(10, size, channels, ndf=32)
    y = torch.tensor([0, 9])
    x = g(torch.randn(2, 16), y)
    assert x.shape == (2, channels, size, size) and x.abs().max() <= 1
    assert d(x, y).shape == (2,)
    assert len(g.blocks) == int(math.log2(size // 4))  # one up-block per doubling from 4x4
    assert len(d.blocks_from_input()) == (4 if size == 32 else int(math.log2(size // 4)) + 1)


def test_sizes_outside_32_to_256_are_refused():
    with pytest.raises(ConfigError, match="cannot make 48x48 images: data.image_size must be one of 32, 64"):
        resnet.Generator(image_size=48)
    with pytest.raises(ConfigError, match="cannot make 16x16"):
        resnet.Discriminator(image_size=16)


def test_spectral_norm_bounds_every_d_layer():
    torch.manual_seed(0)  # the statistics below are of one fixed draw
    d = resnet.Discriminator(32, 3, ndf=16)
    for _ in range(20):  # power iterations run in training-mode forwards
        d(torch.randn(4, 3, 32, 32))
    layers = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    assert len(layers) == 3 + 3 + 2 + 2 + 1  # 3 convs in each of the first two blocks, 2 + 2, the head
    for layer in layers:
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
        assert sigma == pytest.approx(1.0, abs=0.02)
    assert not any(hasattr(m, "parametrizations") for m in resnet.Generator(128, 32, ngf=16).modules())


def test_xavier_init_bounds():
    torch.manual_seed(0)  # the statistics below are of one fixed draw
    g = resnet.Generator(128, 32, ngf=16)
    conv = g.blocks[0].conv1  # 3x3, 16 -> 16: fan_in = fan_out = 144
    bound = math.sqrt(2) * math.sqrt(6 / (144 + 144))
    assert conv.weight.abs().max() <= bound and conv.weight.abs().max() > 0.9 * bound
    shortcut = g.blocks[0].shortcut  # 1x1, gain 1
    assert shortcut.weight.abs().max() <= math.sqrt(6 / 32)


def test_projection_adds_label_embedding_dot_features():
    d = resnet.ProjectionDiscriminator(10, 32, 3, ndf=16).eval()  # eval: spectral norm's vectors fixed
    taps = FeatureTaps(d, ["features"])  # the head's input: h, D's pooled features
    x, y, y2 = torch.randn(3, 3, 32, 32), torch.tensor([1, 2, 3]), torch.tensor([4, 2, 0])
    seen = Seen(x, x, y, d, taps)
    h = seen.features("real", "features")
    assert h.shape == (3, 16)
    with torch.no_grad():
        embed = d.embed.weight  # spectral-normed embedding rows
        expected = d(x, y) - d(x, y2)
        assert torch.allclose(expected, ((embed[y] - embed[y2]) * h).sum(1), atol=1e-5)
        assert expected[1] == 0  # same label, same logit


def test_features_tap_reads_a_spectral_normed_head_input():
    # a spectral-normed layer's last leaf is its parametrization (fed the weight); the tap must skip it
    d = dcgan.Discriminator(32, 3, ndf=8, spectral_norm=True)
    _, features = FeatureTaps(d, ["features"]).run(d, torch.randn(2, 3, 32, 32), None)
    assert features["features"].shape == (2, 32, 4, 4)  # the input of D's last conv, not its weight


def test_conditional_generator_listens_to_its_label():
    g = resnet.ConditionalGenerator(10, 16, 32, 3, ngf=16)
    with torch.no_grad():
        g.blocks[0].norm1.embed.weight[3, :16] += 1.0  # class 3's first scale differs from class 7's
    g.eval()
    z = torch.randn(1, 16).repeat(2, 1)
    out = g(z, torch.tensor([3, 7]))
    assert not torch.allclose(out[0], out[1])
    with pytest.raises(ConfigError, match="needs labelled data"):
        resnet.ConditionalGenerator(0)
