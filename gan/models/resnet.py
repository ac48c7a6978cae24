"""SNGAN/BigGAN-style residual G and D (Miyato et al. 2018; Brock et al. 2019), laid out as mimicry's SNGAN
(github.com/kwotsin/mimicry, torch_mimicry/nets/sngan), with a class-conditional variant.

    python train.py model=resnet loss=hinge data=...        # unconditional, spectral norm in D
    python train.py model=cresnet loss=hinge data=fashion_mnist
        # conditional BatchNorm in G, projection D (Miyato & Koyama 2018), classes from the data

Depth from `data.image_size` (32, 64, 128 or 256; G starts at 4x4 and doubles):
- 32 px: SNGAN's CIFAR layout: G has three up-blocks at constant width `ngf` (256); D an optimized block and
  three blocks at width `ndf` (128), downsampling twice (to 8x8).
- 64-256 px: G's width halves per doubling from `ngf` (1024) down to ngf/16 at the image; D mirrors it
  (ndf/16 at the image up to `ndf`), downsampling to 4x4 and then one more block there. At 64 and 128 px these
  are mimicry's SNGAN 64 and 128 parameter for parameter (its 64 px D downsamples once more, to 2x2, with
  the same weights).
`ngf`/`ndf` null means those reference widths for the size.

G block: BN-ReLU-up-conv3x3-BN-ReLU-conv3x3, shortcut conv1x1-up (nearest-neighbour upsampling, as SNGAN's
and BigGAN's code; a 1x1 conv commutes with it, so the shortcut convolves before upsampling, 4x cheaper).
D block: ReLU-conv3x3-ReLU-conv3x3-avgpool, shortcut conv1x1-avgpool where shapes change; D ends in ReLU,
global sum pooling and a linear layer (plus <embed(y), h> for the projection D). The shortcut sees the
block's input x, not relu(x), as in SNGAN's own code (pfnet-research/sngan_projection dis_models/resblocks.py,
whose F.relu is not in place). mimicry differs here: its DBlock's `nn.ReLU(True)` rectifies x in place before
the shortcut reads it, so from the second block on its shortcut adds relu(x) (or a 1x1 conv of it); the first
(optimized) block is the same in both. We keep SNGAN's (tests/test_references.py). Spectral norm on every D
layer (and optionally G's). Xavier-uniform init: gain sqrt(2) in the blocks' 3x3 convs, 1 elsewhere.
`blocks_from_input()` lists D's residual blocks from the input on (trick=freeze_d counts them).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from gan.errors import ConfigError
from gan.models.layers import apply_spectral_norm

SIZES = (32, 64, 128, 256)
#: (ngf, ndf) of the reference configurations: SNGAN CIFAR (mimicry SNGAN 32) and mimicry SNGAN 64/128
REFERENCE_WIDTHS = {32: (256, 128)}
WIDE = (1024, 1024)


def check_size(image_size: int, model: str = "resnet") -> int:
    """The number of 2x upsamplings from 4x4, or a ConfigError naming the sizes the model makes."""
    if image_size not in SIZES:
        raise ConfigError(
            f"model {model} cannot make {image_size}x{image_size} images: data.image_size must be one of "
            f"{', '.join(map(str, SIZES))}"
        )
    return int(math.log2(image_size // 4))


def reference_widths(image_size: int, ngf: int | None, ndf: int | None) -> tuple[int, int]:
    default_g, default_d = REFERENCE_WIDTHS.get(image_size, WIDE)
    return ngf or default_g, ndf or default_d


def pyramid(width: int, image_size: int, resolution: int) -> int:
    """width/16 at the image, doubling towards the coarse end, capped at `width`."""
    return max(1, min(width, width * image_size // (16 * resolution)))


def generator_widths(image_size: int, ngf: int) -> list[int]:
    """G's widths at 4x4, 8x8, ..., image_size."""
    resolutions = [4 * 2**i for i in range(check_size(image_size) + 1)]
    if image_size == 32:
        return [ngf] * len(resolutions)
    return [pyramid(ngf, image_size, r) for r in resolutions]


def discriminator_plan(image_size: int, ndf: int) -> list[tuple[int, bool]]:
    """(output width, downsample) of each D block, from the input on."""
    check_size(image_size)
    if image_size == 32:
        return [(ndf, True), (ndf, True), (ndf, False), (ndf, False)]
    plan, resolution = [], image_size
    while resolution > 4:
        plan.append((pyramid(ndf, image_size, resolution), True))
        resolution //= 2
    return plan + [(pyramid(ndf, image_size, 4), False)]


def conv(cin: int, cout: int, kernel: int, gain: float) -> nn.Conv2d:
    layer = nn.Conv2d(cin, cout, kernel, 1, kernel // 2)
    nn.init.xavier_uniform_(layer.weight, gain)
    return layer


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm without affine terms, then a per-class scale and shift (scale init N(1, 0.02), shift 0)."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.channels = channels
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.embed = nn.Embedding(num_classes, 2 * channels)
        with torch.no_grad():
            self.embed.weight[:, :channels].normal_(1.0, 0.02)
            self.embed.weight[:, channels:].zero_()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        scale, shift = self.embed(y).view(-1, 2 * self.channels, 1, 1).chunk(2, dim=1)
        return self.norm(x) * scale + shift


class GBlock(nn.Module):
    def __init__(self, cin: int, cout: int, num_classes: int = 0):
        super().__init__()

        def norm(c):
            return ConditionalBatchNorm2d(c, num_classes) if num_classes else nn.BatchNorm2d(c)

        self.norm1, self.conv1 = norm(cin), conv(cin, cout, 3, math.sqrt(2))
        self.norm2, self.conv2 = norm(cout), conv(cout, cout, 3, math.sqrt(2))
        self.shortcut = conv(cin, cout, 1, 1.0)

    def _norm(self, norm, x, y):
        return norm(x, y) if isinstance(norm, ConditionalBatchNorm2d) else norm(x)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = F.relu(self._norm(self.norm1, x, y))
        h = self.conv1(F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.conv2(F.relu(self._norm(self.norm2, h, y)))
        return h + F.interpolate(self.shortcut(x), scale_factor=2, mode="nearest")


class DBlock(nn.Module):
    """`first`: the optimized input block (conv first, no leading ReLU, pool before the shortcut conv)."""

    def __init__(self, cin: int, cout: int, downsample: bool, first: bool = False):
        super().__init__()
        self.downsample, self.first = downsample, first
        hidden = cout if first else cin
        self.conv1 = conv(cin, hidden, 3, math.sqrt(2))
        self.conv2 = conv(hidden, cout, 3, math.sqrt(2))
        self.shortcut = conv(cin, cout, 1, 1.0) if first or downsample or cin != cout else None

    def _pool(self, x):
        return F.avg_pool2d(x, 2) if self.downsample else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(x if self.first else F.relu(x))
        h = self._pool(self.conv2(F.relu(h)))
        if self.shortcut is None:
            return h + x
        if self.first:
            return h + self.shortcut(self._pool(x))
        return h + self._pool(self.shortcut(x))


class _ResNetG(nn.Module):
    def __init__(
        self, latent_dim: int, image_size: int, channels: int, ngf, spectral_norm: bool, num_classes: int
    ):
        super().__init__()
        ngf, _ = reference_widths(image_size, ngf, None)
        widths = generator_widths(image_size, ngf)
        self.stem = nn.Linear(latent_dim, 16 * widths[0])
        nn.init.xavier_uniform_(self.stem.weight, 1.0)
        self.blocks = nn.ModuleList(
            GBlock(a, b, num_classes) for a, b in zip(widths, widths[1:], strict=False)
        )
        self.head_norm = nn.BatchNorm2d(widths[-1])
        self.head = conv(widths[-1], channels, 3, 1.0)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = self.stem(z).view(z.shape[0], -1, 4, 4)
        for block in self.blocks:
            h = block(h, cond)
        return torch.tanh(self.head(F.relu(self.head_norm(h))))


class Generator(_ResNetG):
    condition = "none"

    def __init__(
        self,
        latent_dim: int = 128,
        image_size: int = 32,
        channels: int = 3,
        ngf: int | None = None,
        spectral_norm: bool = False,
    ):
        super().__init__(latent_dim, image_size, channels, ngf, spectral_norm, 0)


class ConditionalGenerator(_ResNetG):
    """Class-conditional BatchNorm in every block (mimicry's cGAN-PD generator)."""

    condition = "label"

    def __init__(
        self,
        num_classes: int,
        latent_dim: int = 128,
        image_size: int = 32,
        channels: int = 3,
        ngf: int | None = None,
        spectral_norm: bool = False,
    ):
        if num_classes < 1:
            raise ConfigError("a conditional model needs labelled data: this dataset has num_classes=0")
        super().__init__(latent_dim, image_size, channels, ngf, spectral_norm, num_classes)


class _ResNetD(nn.Module):
    def __init__(
        self, image_size: int, channels: int, ndf: int | None, spectral_norm: bool, num_classes: int
    ):
        super().__init__()
        _, ndf = reference_widths(image_size, None, ndf)
        layers, cin = [], channels
        for i, (cout, down) in enumerate(discriminator_plan(image_size, ndf)):
            layers.append(DBlock(cin, cout, down, first=i == 0))
            cin = cout
        self.blocks = nn.ModuleList(layers)
        # registered before the head: D's last layer (the "features" tap) stays the head
        self.embed = nn.Embedding(num_classes, cin) if num_classes else None
        if self.embed is not None:
            nn.init.xavier_uniform_(self.embed.weight, 1.0)
        self.head = nn.Linear(cin, 1)
        nn.init.xavier_uniform_(self.head.weight, 1.0)
        if spectral_norm:
            apply_spectral_norm(self)
            if self.embed is not None:
                self.embed = _spectral_norm(self.embed)

    def blocks_from_input(self) -> list[nn.Module]:
        return list(self.blocks)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = x
        for block in self.blocks:
            h = block(h)
        h = F.relu(h).sum(dim=(2, 3))
        out = self.head(h).flatten()
        if self.embed is not None:
            out = out + (self.embed(cond) * h).sum(dim=1)
        return out


class Discriminator(_ResNetD):
    condition = "none"

    def __init__(
        self, image_size: int = 32, channels: int = 3, ndf: int | None = None, spectral_norm: bool = True
    ):
        super().__init__(image_size, channels, ndf, spectral_norm, 0)


class ProjectionDiscriminator(_ResNetD):
    """D(x, y) = linear(h) + <embed(y), h> on D's pooled features h (Miyato & Koyama 2018)."""

    condition = "label"

    def __init__(
        self,
        num_classes: int,
        image_size: int = 32,
        channels: int = 3,
        ndf: int | None = None,
        spectral_norm: bool = True,
    ):
        if num_classes < 1:
            raise ConfigError("a conditional model needs labelled data: this dataset has num_classes=0")
        super().__init__(image_size, channels, ndf, spectral_norm, num_classes)
