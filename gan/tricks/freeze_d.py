"""FreezeD (Mo et al. 2020, "Freeze the Discriminator: a Simple Baseline for Fine-Tuning GANs"): D's first
`layers` blocks, counted from the input, do not train. Meant for a D started from another run's weights.

    python train.py 'trick=[freeze_d]' trick.freeze_d.layers=2

A block is, per discriminator:
- dcgan, cdcgan, fashiongen (the DCGAN D): a strided conv with the norm, activation and dropout after it
  (cdcgan's label embedding belongs to the first); the last conv (or minibatch layers and linear) is the head;
- resnet, cresnet: a residual block (the optimized input block is the first); the linear head and the
  projection embedding are not blocks;
- r3gan, cr3gan: a stage (one resolution: its residual blocks and its downsampling), the input 1x1 conv
  with the first; the 4x4 basis and linear map end the last stage.
Another D fails at start-up, naming these. Frozen parameters stop requiring gradients, so neither optimizer
nor DDP touch them; as in FreezeD's code, what is not a parameter still moves: BatchNorm running statistics
(DCGAN) and spectral norm's power-iteration vectors (ResNet) of frozen blocks keep updating in training mode.
"""

from torch import nn

from gan.errors import ConfigError
from gan.models import dcgan
from gan.tricks.base import Trick

#: modules that belong to the strided conv before them in a DCGAN D
_FOLLOWERS = (nn.BatchNorm2d, nn.InstanceNorm2d, nn.Identity, nn.LeakyReLU, nn.ReLU, nn.Dropout)
DEFINED_FOR = "dcgan, cdcgan, fashiongen (DCGAN D), resnet, cresnet, r3gan, cr3gan"


def dcgan_blocks(discriminator: dcgan.Discriminator) -> list[nn.Module]:
    blocks, open_block = [], False
    for layer in discriminator.net:
        if isinstance(layer, nn.Conv2d) and layer.stride == (2, 2):
            blocks.append([layer])
            open_block = True
        elif open_block and isinstance(layer, _FOLLOWERS):
            blocks[-1].append(layer)
        else:
            open_block = False
    if getattr(discriminator, "embed", None) is not None:
        blocks[0].insert(0, discriminator.embed)
    return [nn.ModuleList(block) for block in blocks]


def discriminator_blocks(discriminator: nn.Module) -> list[nn.Module]:
    """D's blocks from the input on, or a ConfigError for a D where they are not defined."""
    if hasattr(discriminator, "blocks_from_input"):
        return discriminator.blocks_from_input()
    if isinstance(discriminator, dcgan.Discriminator):
        return dcgan_blocks(discriminator)
    name = f"{type(discriminator).__module__}.{type(discriminator).__name__}"
    raise ConfigError(f"trick=freeze_d: D's blocks are not defined for {name}; they are for {DEFINED_FOR}")


class FreezeD(Trick):
    def __init__(self, layers: int = 1):
        super().__init__()
        self.layers = layers
        self.frozen_parameters = 0

    def setup(self, generator: nn.Module, discriminator: nn.Module) -> None:
        blocks = discriminator_blocks(discriminator)
        if not 1 <= self.layers <= len(blocks):
            raise ConfigError(
                f"trick.freeze_d.layers={self.layers}: this discriminator has {len(blocks)} blocks; "
                f"freeze between 1 and {len(blocks)}"
            )
        for block in blocks[: self.layers]:
            block.requires_grad_(False)
        self.frozen_parameters = sum(p.numel() for b in blocks[: self.layers] for p in b.parameters())

    def metrics(self):
        return {"frozen_parameters": float(self.frozen_parameters)}
