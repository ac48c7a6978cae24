"""Every model: output shapes per resolution and channel count, parameter counts of the seed ports,
forward + backward, and conditional models that listen to their label."""

import math

import pytest
import torch

from gan.build import build_module
from gan.conditioning import condition_input, condition_of
from gan.errors import ConfigError
from gan.models import dcgan, dcgan256, dcgan_upsample, mlp
from gan.models.minibatch import (
    MinibatchDiscrimination,
    MinibatchStd,
    group_size_for,
    minibatch_closeness,
)
from tests.conftest import make_cfg


def n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def roundtrip(model: str, size: int, channels: int, tmp_path, *extra: str):
    cfg = make_cfg(
        f"model={model}",
        "data=synthetic",
        f"data.image_size={size}",
        f"data.channels={channels}",
        "data.num_classes=10",
        "model.generator.encoder_weights=none" if model == "fashiongen" else "",
        *extra,
        output_dir=tmp_path,
    )
    module = build_module(cfg)
    n = 4
    labels = torch.arange(n) % 10
    real = torch.rand(n, channels, size, size) * 2 - 1
    g_cond = condition_input(condition_of(module.generator), labels, real)
    d_cond = condition_input(condition_of(module.discriminator), labels, real)
    fake = module.generator(module.sample_latent(n), g_cond)
    logits = module.discriminator(fake, d_cond)
    assert fake.shape == (n, channels, size, size) and logits.shape == (n,)
    assert fake.min() >= -1 and fake.max() <= 1
    logits.mean().backward()
    assert all(p.grad is not None for p in module.generator.parameters() if p.requires_grad)
    return module


@pytest.mark.parametrize("size", [28, 32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("model", ["dcgan", "cdcgan"])
def test_dcgan_family_every_resolution(model, size, channels, tmp_path):
    roundtrip(model, size, channels, tmp_path, "model.generator.ngf=8", "model.discriminator.ndf=8")


@pytest.mark.parametrize("size", [28, 32])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("model", ["mlp", "cgan", "dcgan_upsample"])
def test_small_models_every_resolution(model, size, channels, tmp_path):
    roundtrip(model, size, channels, tmp_path)


def test_fashiongen_encodes_a_real_image(tmp_path):
    module = roundtrip("fashiongen", 64, 3, tmp_path, "model.generator.ngf=8")
    z = module.sample_latent(2)
    module.generator.eval()
    a, b = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    assert not torch.allclose(module.generator(z, a), module.generator(z, b))


def test_dcgan256_makes_256_and_refuses_other_sizes(tmp_path):
    roundtrip("dcgan256", 256, 3, tmp_path)
    with pytest.raises(Exception, match="data.image_size=256"):
        roundtrip("dcgan256", 64, 3, tmp_path)


def test_dcgan_refuses_impossible_sizes():
    with pytest.raises(ConfigError, match="cannot make 48x48"):
        dcgan.Generator(image_size=48)


@pytest.mark.parametrize("model", ["cgan", "cdcgan"])
def test_conditional_output_changes_with_label_only(model, tmp_path):
    module = build_module(
        make_cfg(f"model={model}", "data=synthetic", "data.image_size=32", output_dir=tmp_path)
    )
    module.generator.eval()
    z = module.sample_latent(1).repeat(2, 1)
    out = module.generator(z, torch.tensor([3, 7]))
    assert not torch.allclose(out[0], out[1])
    logits = module.discriminator(out, torch.tensor([3, 7]))
    assert not torch.allclose(module.discriminator(out, torch.tensor([7, 3])), logits)


# Parameter counts, by hand from the seeds' layers (Keras counts BatchNorm's moving mean/var as
# non-trainable params; PyTorch keeps them as buffers, so these are Keras' "Trainable params").


def test_radford_dcgan64_parameter_count():
    # PyTorch DCGAN tutorial (nz=100, ngf=ndf=64, nc=3): ConvT weights + BN scale/shift.
    g = (
        100 * 512 * 16
        + 512 * 256 * 16
        + 256 * 128 * 16
        + 128 * 64 * 16
        + 64 * 3 * 16
        + 2 * (512 + 256 + 128 + 64)
    )
    d = 3 * 64 * 16 + 64 * 128 * 16 + 128 * 256 * 16 + 256 * 512 * 16 + 512 * 16 + 2 * (128 + 256 + 512)
    assert (g, d) == (3_576_704, 2_765_568)
    assert n_params(dcgan.Generator(100, 64, 3)) == g
    assert n_params(dcgan.Discriminator(64, 3)) == d


def test_s4_mlp_gan_parameter_count():
    # Keras summary of S4's GAN: G 1,493,520 total with 3,584 BN moving stats; D 533,505.
    g = (
        (100 * 256 + 256)
        + (256 * 512 + 512)
        + (512 * 1024 + 1024)
        + (1024 * 784 + 784)
        + 2 * (256 + 512 + 1024)
    )
    d = (784 * 512 + 512) + (512 * 256 + 256) + (256 + 1)
    assert (g, d) == (1_493_520 - 3_584, 533_505)
    assert n_params(mlp.Generator(100, 28, 1)) == g
    assert n_params(mlp.Discriminator(28, 1)) == d


def test_s4_cgan_parameter_count():
    g = 10 * 100 + 1_489_936  # Embedding(10, 100) + the MLP generator
    d = 10 * 784 + (784 * 512 + 512) + 2 * (512 * 512 + 512) + (512 + 1)
    assert n_params(mlp.ConditionalGenerator(10, 100, 28, 1)) == g
    assert n_params(mlp.ConditionalDiscriminator(10, 28, 1)) == d == 935_585


def test_s4_keras_dcgan_parameter_count():
    # Keras summary of S4's DCGAN: G 856,193 total (384 BN moving stats), D 393,729 total (896).
    g = (100 * 6272 + 6272) + (9 * 128 * 128 + 128) + (9 * 128 * 64 + 64) + (9 * 64 + 1) + 2 * (128 + 64)
    d = (9 * 32 + 32) + (9 * 32 * 64 + 64) + (9 * 64 * 128 + 128) + (9 * 128 * 256 + 256) + (4096 + 1)
    d += 2 * (64 + 128 + 256)
    assert (g, d) == (856_193 - 384, 393_729 - 896)
    assert n_params(dcgan_upsample.Generator(100, 28, 1)) == g
    assert n_params(dcgan_upsample.Discriminator(28, 1)) == d


def test_dcgan256_parameter_count():
    # ConvT(4096->256, k4) + ReLU, conv blocks (k4, k4, k3, k3, k3, k3) 256..8 with BN, conv 3.
    convs = [(256, 256, 4), (256, 128, 4), (128, 64, 3), (64, 32, 3), (32, 16, 3), (16, 8, 3)]
    g = 4096 * 256 * 16 + 256
    g += sum(k * k * cin * cout + cout + 2 * cout for cin, cout, k in convs) + (9 * 8 * 3 + 3)
    widths = [3, 8, 16, 32, 64, 128, 256]  # BatchNorm from the second block on
    d = sum(9 * a * b + b for a, b in zip(widths, widths[1:], strict=False)) + 2 * sum(widths[2:])
    d += (4 * 4 * 256 * 128 + 128) + (128 + 1)
    assert n_params(dcgan256.Generator()) == g == 18_449_987
    assert n_params(dcgan256.Discriminator()) == d
    gan256 = dcgan256.Generator(first_filters=512, kernel_sizes=(3, 3, 3, 3, 3, 3))
    assert gan256.net[0].out_channels == 512 and gan256.net[2].kernel_size == (3, 3)


def test_minibatch_std_appends_the_group_std():
    x = torch.tensor([0.0, 2.0, 0.0, 2.0]).view(4, 1, 1, 1)
    # groups of 4 samples; the std over the group of [0, 2, 0, 2] is 1
    out = MinibatchStd(group_size=4)(x)
    assert out.shape == (4, 2, 1, 1) and torch.allclose(out[:, 1], torch.ones(4, 1, 1), atol=1e-6)
    assert group_size_for(6, 4) == 3 and group_size_for(7, 4) == 1


def test_minibatch_discrimination_closeness_by_hand():
    m = torch.tensor([[[0.0]], [[1.0]]])  # two samples, one kernel of dim 1: L1 distance 1
    assert torch.allclose(minibatch_closeness(m), torch.full((2, 1), math.exp(-1)))
    layer = MinibatchDiscrimination(in_features=8, n_kernels=5)
    assert layer(torch.randn(3, 2, 2, 2)).shape == (3, 8 + 5)


@pytest.mark.parametrize("option", ["minibatch_std=true", "minibatch_discrimination=4"])
@pytest.mark.parametrize("model", ["dcgan", "cdcgan"])
def test_dcgan_discriminators_take_minibatch_options(model, option, tmp_path):
    roundtrip(model, 32, 3, tmp_path, f"model.discriminator.{option}", "model.discriminator.ndf=8")


def test_dcgan_size_message_lists_only_sizes_it_accepts():
    from gan.errors import ConfigError
    from gan.models.dcgan import Generator

    with pytest.raises(ConfigError, match=r"cannot make 4x4 images: .* at least 8 \(8, 14, 16, 28"):
        Generator(image_size=4, channels=1)
    assert Generator(image_size=8, channels=1)(torch.randn(2, 100)).shape == (2, 1, 8, 8)
