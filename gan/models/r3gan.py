"""R3GAN's network (Huang et al. 2024, "The GAN is dead; long live the GAN!"; github.com/brownvc/R3GAN,
R3GAN/Networks.py), trained as in the paper with the relativistic pairing loss and R1 + R2:

    python train.py model=r3gan loss=rpgan 'trick=[r1,r2]' trick.r1.gamma=0.05 trick.r2.gamma=0.05
    python train.py model=cr3gan ...        # class-conditional (embedded label in G, projection in D)

One stage per resolution, 4x4 up to `data.image_size` (32-256). A stage is `blocks_per_stage` residual
blocks, each 1x1 conv (expanding `expansion` times) - biased LeakyReLU(0.2) - grouped 3x3 conv
(`group_channels` input channels per group) - biased LeakyReLU - 1x1 conv back, added to its input. No
normalization anywhere. Fix-up style initialization: every conv N(0, gain^2 / fan_in) with the leaky ReLU's
gain scaled by L^(-1/4) (L = all residual blocks of the network), the last conv of each block zero, so
every block starts as the identity. Resampling is R3GAN's: a fixed [1, 3, 3, 1] (bilinear) low-pass filter,
2x transposed for G and strided for D, and a 1x1 conv where the width changes. G starts from a learned 4x4
basis scaled per channel by a linear map of z and ends in a 1x1 conv to RGB with no tanh (images are clamped
to [-1, 1] where they are saved or scored); D starts with a 1x1 conv and ends in a 4x4 depthwise conv and a
linear layer.

Widths follow the paper's FFHQ presets: `width` (768) at every resolution up to 32x32, halving per doubling
above (384 at 64, 192 at 128, 96 at 256), `width / group_channels` groups (96 at 768). At 32 px the default
is the paper's CIFAR-10 configuration (its `train.py --preset=CIFAR10`): 4 stages of 768 channels, 2 blocks
each, 96 groups, expansion 2, a 64-d latent: G 20,732,160 and D 20,683,776 parameters unconditional;
conditional as in the paper's CIFAR-10 run (10 classes, G embedding 64, D embedding 768): G 20,781,952 and
D 21,280,512: the official code's networks for that preset, which tests/test_r3gan.py counts by hand.
Also checked once against the official code (not in CI): with the same weights, D's logits are identical and
G's images agree to 1e-6 relative at 32, 64 (conditional) and 128 px. Not ported: the reference runs its
coarse stages in bfloat16; here every stage runs in the trainer's precision. `blocks_from_input()`: D's
stages from the input on (trick=freeze_d), the input 1x1 conv counted with the first.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from gan.errors import ConfigError
from gan.models.resnet import check_size

#: gain of LeakyReLU(0.2): sqrt(2 / (1 + 0.2^2))
ACTIVATION_GAIN = math.sqrt(2 / (1 + 0.2**2))


@torch.no_grad()
def msr_init(layer: nn.Module, gain: float = 1.0) -> nn.Module:
    """R3GAN's MSRInitializer: weights N(0, (gain / sqrt(fan_in))^2), biases 0."""
    weight = layer.weight
    fan_in = weight.shape[1] * weight[0][0].numel()
    weight.normal_(0, gain / math.sqrt(fan_in))
    if getattr(layer, "bias", None) is not None:
        layer.bias.zero_()
    return layer


def conv(cin: int, cout: int, kernel: int, groups: int = 1, gain: float = 1.0) -> nn.Conv2d:
    return msr_init(nn.Conv2d(cin, cout, kernel, padding=(kernel - 1) // 2, groups=groups, bias=False), gain)


class BiasedLeakyReLU(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x + self.bias.view(1, -1, 1, 1), 0.2)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, groups: int, expansion: int, kernel: int, total_blocks: int):
        super().__init__()
        hidden = channels * expansion
        gain = ACTIVATION_GAIN * total_blocks ** (-1 / (2 * 3 - 2))  # 3 linear layers per block
        # registered in R3GAN's order (convs, then activations): parameters line up with its checkpoints
        self.conv1 = conv(channels, hidden, 1, gain=gain)
        self.conv2 = conv(hidden, hidden, kernel, groups=groups, gain=gain)
        self.conv3 = conv(hidden, channels, 1, gain=0.0)
        self.act1, self.act2 = BiasedLeakyReLU(hidden), BiasedLeakyReLU(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv3(self.act2(self.conv2(self.act1(self.conv1(x)))))


def lowpass_kernel() -> torch.Tensor:
    """[1, 3, 3, 1] outer itself, normalised to sum 1 (R3GAN's CreateLowpassKernel([1, 2, 1]))."""
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    kernel = taps[:, None] * taps[None, :]
    return kernel / kernel.sum()


class Resample(nn.Module):
    """2x up (transposed, gain 4) or down (strided) with the fixed filter, per channel; a 1x1 conv where the
    width changes (before upsampling in G, after downsampling in D, as R3GAN)."""

    def __init__(self, cin: int, cout: int, up: bool):
        super().__init__()
        self.up = up
        self.register_buffer("kernel", lowpass_kernel()[None, None], persistent=False)
        self.conv = conv(cin, cout, 1) if cin != cout else None

    def _filter(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        if self.up:
            kernel = (4 * self.kernel).to(x.dtype).expand(channels, 1, 4, 4)
            return F.conv_transpose2d(x, kernel, stride=2, padding=1, groups=channels)
        kernel = self.kernel.to(x.dtype).expand(channels, 1, 4, 4)
        return F.conv2d(x, kernel, stride=2, padding=1, groups=channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv is not None and self.up:
            x = self.conv(x)
        x = self._filter(x)
        if self.conv is not None and not self.up:
            x = self.conv(x)
        return x


class GenerativeBasis(nn.Module):
    def __init__(self, in_features: int, channels: int):
        super().__init__()
        self.basis = nn.Parameter(torch.randn(channels, 4, 4))
        self.linear = msr_init(nn.Linear(in_features, channels, bias=False))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.basis[None] * self.linear(z)[:, :, None, None]


class DiscriminativeBasis(nn.Module):
    def __init__(self, channels: int, out_features: int):
        super().__init__()
        self.basis = msr_init(nn.Conv2d(channels, channels, 4, groups=channels, bias=False))  # 4x4 -> 1x1
        self.linear = msr_init(nn.Linear(channels, out_features, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.basis(x).flatten(1))


def stage_widths(image_size: int, width: int) -> list[int]:
    """Widths at 4x4, 8x8, ..., image_size: `width` up to 32x32, halving per doubling above."""
    resolutions = [4 * 2**i for i in range(check_size(image_size, "r3gan") + 1)]
    return [max(1, width * 32 // max(32, r)) for r in resolutions]


def groups_for(channels: int, group_channels: int) -> int:
    groups = max(1, channels // group_channels)
    if channels % groups:
        raise ConfigError(
            f"model r3gan: a stage of {channels} channels cannot be split into groups of {group_channels}; "
            f"choose model.*.width and model.*.group_channels so every stage's width divides evenly"
        )
    return groups


class _Stages(nn.Module):
    """Shared by G and D: the stage widths, groups and block count."""

    def _plan(self, image_size, width, group_channels, blocks_per_stage):
        widths = stage_widths(image_size, width)
        self.total_blocks = blocks_per_stage * len(widths)
        return widths, [groups_for(w, group_channels) for w in widths]

    def _blocks(self, channels, groups, n, expansion, kernel):
        return [ResidualBlock(channels, groups, expansion, kernel, self.total_blocks) for _ in range(n)]


class _R3G(_Stages):
    def __init__(
        self, latent_dim, image_size, channels, width, group_channels, blocks, expansion, kernel, classes
    ):
        super().__init__()
        widths, groups = self._plan(image_size, width, group_channels, blocks)
        self.embed = None
        if classes:  # R3GAN: a linear map of the one-hot label, MSR-initialised (std 1/sqrt(classes))
            self.embed = nn.Embedding(classes, latent_dim)
            nn.init.normal_(self.embed.weight, 0, 1 / math.sqrt(classes))
        stages = []
        for i, (w, g) in enumerate(zip(widths, groups, strict=True)):
            if i == 0:
                entry = GenerativeBasis(2 * latent_dim if classes else latent_dim, w)
            else:
                entry = Resample(widths[i - 1], w, up=True)
            stages.append(nn.Sequential(entry, *self._blocks(w, g, blocks, expansion, kernel)))
        self.stages = nn.ModuleList(stages)
        self.to_image = conv(widths[-1], channels, 1)

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        x = torch.cat([z, self.embed(cond)], dim=1) if self.embed is not None else z
        for stage in self.stages:
            x = stage(x)
        return self.to_image(x)


class Generator(_R3G):
    condition = "none"

    def __init__(
        self,
        latent_dim: int = 64,
        image_size: int = 32,
        channels: int = 3,
        width: int = 768,
        group_channels: int = 8,
        blocks_per_stage: int = 2,
        expansion: int = 2,
        kernel_size: int = 3,
    ):
        args = (width, group_channels, blocks_per_stage, expansion, kernel_size)
        super().__init__(latent_dim, image_size, channels, *args, 0)


class ConditionalGenerator(_R3G):
    condition = "label"

    def __init__(
        self,
        num_classes: int,
        latent_dim: int = 64,
        image_size: int = 32,
        channels: int = 3,
        width: int = 768,
        group_channels: int = 8,
        blocks_per_stage: int = 2,
        expansion: int = 2,
        kernel_size: int = 3,
    ):
        if num_classes < 1:
            raise ConfigError("a conditional model needs labelled data: this dataset has num_classes=0")
        args = (width, group_channels, blocks_per_stage, expansion, kernel_size)
        super().__init__(latent_dim, image_size, channels, *args, num_classes)


class _R3D(_Stages):
    def __init__(self, image_size, channels, width, group_channels, blocks, expansion, kernel, classes):
        super().__init__()
        widths, groups = self._plan(image_size, width, group_channels, blocks)
        widths, groups = widths[::-1], groups[::-1]
        # registered first: D's last layer (the "features" tap) stays the basis' linear map
        self.embed = None
        if classes:  # R3GAN: the projection embedding is MSR-initialised with gain 1/sqrt(dim)
            self.embed = nn.Embedding(classes, widths[-1])
            nn.init.normal_(self.embed.weight, 0, 1 / math.sqrt(widths[-1] * classes))
        self.from_image = conv(channels, widths[0], 1)
        stages = []
        for i, (w, g) in enumerate(zip(widths, groups, strict=True)):
            if i < len(widths) - 1:
                exit_ = Resample(w, widths[i + 1], up=False)
            else:
                exit_ = DiscriminativeBasis(w, widths[-1] if classes else 1)
            stages.append(nn.Sequential(*self._blocks(w, g, blocks, expansion, kernel), exit_))
        self.stages = nn.ModuleList(stages)

    def blocks_from_input(self) -> list[nn.Module]:
        return [nn.ModuleList([self.from_image, self.stages[0]]), *self.stages[1:]]

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        x = self.from_image(x)
        for stage in self.stages:
            x = stage(x)
        if self.embed is not None:
            x = (x * self.embed(cond)).sum(dim=1)
        return x.flatten()


class Discriminator(_R3D):
    condition = "none"

    def __init__(
        self,
        image_size: int = 32,
        channels: int = 3,
        width: int = 768,
        group_channels: int = 8,
        blocks_per_stage: int = 2,
        expansion: int = 2,
        kernel_size: int = 3,
    ):
        args = (width, group_channels, blocks_per_stage, expansion, kernel_size)
        super().__init__(image_size, channels, *args, 0)


class ConditionalDiscriminator(_R3D):
    condition = "label"

    def __init__(
        self,
        num_classes: int,
        image_size: int = 32,
        channels: int = 3,
        width: int = 768,
        group_channels: int = 8,
        blocks_per_stage: int = 2,
        expansion: int = 2,
        kernel_size: int = 3,
    ):
        if num_classes < 1:
            raise ConfigError("a conditional model needs labelled data: this dataset has num_classes=0")
        args = (width, group_channels, blocks_per_stage, expansion, kernel_size)
        super().__init__(image_size, channels, *args, num_classes)
