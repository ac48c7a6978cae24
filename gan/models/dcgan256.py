"""DCGAN256 / GAN256 (S1; Matthew Mann's Keras GAN256, modified by t0nberryking), at 256x256.

G: z (4096-d, uniform) as 1x1 -> ConvTranspose(first_filters, k4) + ReLU -> conv blocks (BN + ReLU +
2x upsample) for each of `filters` with `kernel_sizes` -> conv channels k3 -> tanh (or the original's
sigmoid on [0, 1] data: `output=sigmoid`). Keras BatchNorm momentum 0.7 = PyTorch 0.3, eps 1e-3.
DCGAN256 uses k4 in the first two blocks; GAN256 (`first_filters=512 kernel_sizes=[3,3,3,3,3,3]`) k3.
D: conv k3 blocks 8..256, each LeakyReLU 0.2 + Dropout 0.25 + AvgPool 2 (BatchNorm in all but the first),
Dense 128 + LeakyReLU, Dense 1.
"""

import torch
from torch import nn

from gan.errors import ConfigError


def _bn(ch: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(ch, momentum=0.3, eps=1e-3)


def _same_conv(cin: int, cout: int, k: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding="same")


def _check_size(image_size: int, native: int = 256) -> None:
    if image_size != native:
        raise ConfigError(
            f"model=dcgan256 only makes {native}x{native} images, but data.image_size={image_size}. "
            f"Set data.image_size={native} (or pick model=dcgan for {image_size}x{image_size})."
        )


class Generator(nn.Module):
    condition = "none"

    def __init__(
        self,
        latent_dim: int = 4096,
        image_size: int = 256,
        channels: int = 3,
        first_filters: int = 256,
        filters: tuple[int, ...] = (256, 128, 64, 32, 16, 8),
        kernel_sizes: tuple[int, ...] = (4, 4, 3, 3, 3, 3),
        output: str = "tanh",
    ):
        super().__init__()
        _check_size(image_size, 4 * 2 ** len(filters))
        if len(kernel_sizes) != len(filters):
            raise ConfigError(
                f"model.generator.kernel_sizes needs {len(filters)} entries, got {len(kernel_sizes)}"
            )
        if output not in ("tanh", "sigmoid"):
            raise ConfigError(f"model.generator.output={output!r}: allowed values are tanh, sigmoid")
        layers: list[nn.Module] = [nn.ConvTranspose2d(latent_dim, first_filters, 4), nn.ReLU(True)]
        ch = first_filters
        for width, k in zip(filters, kernel_sizes, strict=True):
            layers += [_same_conv(ch, width, k), _bn(width), nn.ReLU(True), nn.Upsample(scale_factor=2)]
            ch = width
        layers += [_same_conv(ch, channels, 3), nn.Tanh() if output == "tanh" else nn.Sigmoid()]
        self.net = nn.Sequential(*layers)
        self.output = output

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        x = self.net(z[:, :, None, None])
        return x * 2 - 1 if self.output == "sigmoid" else x  # keep the [-1, 1] contract either way


class Discriminator(nn.Module):
    condition = "none"

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        filters: tuple[int, ...] = (8, 16, 32, 64, 128, 256),
        dropout: float = 0.25,
        dense: int = 128,
    ):
        super().__init__()
        _check_size(image_size)
        layers: list[nn.Module] = []
        ch = channels
        for i, width in enumerate(filters):
            layers += [_same_conv(ch, width, 3)] + ([_bn(width)] if i > 0 else [])
            layers += [nn.LeakyReLU(0.2, True), nn.Dropout(dropout), nn.AvgPool2d(2)]
            ch = width
        side = image_size // 2 ** len(filters)
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Sequential(
            nn.Linear(ch * side * side, dense), nn.LeakyReLU(0.2, True), nn.Linear(dense, 1)
        )

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.net(x)).flatten()
