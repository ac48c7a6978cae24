"""trick=freeze_d: what a block is in each discriminator, frozen blocks bit-identical after training while
the rest trains, and one-line refusals. ~8 s."""

import pytest
import torch

from gan.build import build_module
from gan.errors import ConfigError
from gan.models import dcgan, r3gan, resnet
from gan.tricks.freeze_d import discriminator_blocks
from tests.conftest import fit, smoke


def test_blocks_of_each_discriminator():
    d = dcgan.Discriminator(64, 3, ndf=8)  # convs 64 -> 32 -> 16 -> 8 -> 4, then the 4x4 head conv
    blocks = discriminator_blocks(d)
    assert [[type(m).__name__ for m in b] for b in blocks] == [["Conv2d", "LeakyReLU"]] + [
        ["Conv2d", "BatchNorm2d", "LeakyReLU"]
    ] * 3
    assert d.net[-1] not in [m for b in blocks for m in b]  # the head is not a block
    conditional = dcgan.ConditionalDiscriminator(10, 32, 3, ndf=8)
    assert discriminator_blocks(conditional)[0][0] is conditional.embed  # the label map enters with block 1
    assert len(discriminator_blocks(dcgan.Discriminator(32, 1, ndf=8, spectral_norm=True))) == 3
    assert len(discriminator_blocks(resnet.Discriminator(32, ndf=8))) == 4
    assert len(discriminator_blocks(resnet.ProjectionDiscriminator(10, 128, ndf=32))) == 6
    r3 = r3gan.Discriminator(64, width=16)
    blocks = discriminator_blocks(r3)
    assert len(blocks) == 5 and blocks[0][0] is r3.from_image  # one per resolution 64 ... 4


@pytest.mark.parametrize(
    "model",
    [
        ["model=dcgan", "model.discriminator.ndf=8", "model.generator.ngf=8"],
        ["model=resnet", "model.discriminator.ndf=8", "model.generator.ngf=8"],
        ["model=r3gan", "model.discriminator.width=16", "model.generator.width=16", "loss=rpgan"],
    ],
    ids=["dcgan", "resnet", "r3gan"],
)
def test_frozen_blocks_keep_their_weights_bit_for_bit(model, tmp_path):
    cfg = smoke(*model, "trick=freeze_d", "trick.freeze_d.layers=2", output_dir=tmp_path)
    module = build_module(cfg)
    blocks = discriminator_blocks(module.discriminator)
    frozen = [p for b in blocks[:2] for p in b.parameters()]
    rest = [p for b in blocks[2:] for p in b.parameters()]
    before = {id(p): p.detach().clone() for p in module.discriminator.parameters()}
    fit(module, cfg, iterations=2)
    assert frozen and all(torch.equal(p, before[id(p)]) for p in frozen)
    assert all(not p.requires_grad for p in frozen)
    assert any(not torch.equal(p, before[id(p)]) for p in rest)  # the rest of D trains
    assert module.tricks["freeze_d"].frozen_parameters == sum(p.numel() for p in frozen)


def test_refusals(tmp_path):
    with pytest.raises(ConfigError, match="trick=freeze_d: D's blocks are not defined for gan.models.mlp"):
        build_module(smoke("model=mlp", "trick=freeze_d", output_dir=tmp_path))
    with pytest.raises(ConfigError, match="layers=5: this discriminator has 3 blocks"):
        build_module(smoke("trick=freeze_d", "trick.freeze_d.layers=5", output_dir=tmp_path))
