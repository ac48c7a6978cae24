"""S4's Keras DCGAN: upsample + conv generator, strided conv discriminator with dropout.

G: Dense 128*s*s (ReLU) -> Upsample -> Conv 128 k3 + BN + ReLU -> Upsample -> Conv 64 k3 + BN + ReLU ->
Conv channels k3, tanh, with s = image_size / 4 (7 for 28x28). D: Conv 32/64/128 stride 2 and 256 stride 1,
k3, LeakyReLU 0.2, Dropout 0.25, BatchNorm (momentum 0.8 Keras = 0.2) on all but the first, the seed's
zero-pad (bottom/right) after the second conv, Dense 1.
"""

import math

import torch
from torch import nn

from gan.errors import ConfigError


def _bn(ch: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(ch, momentum=0.2, eps=1e-3)


class Generator(nn.Module):
    condition = "none"

    def __init__(self, latent_dim: int = 100, image_size: int = 28, channels: int = 1):
        super().__init__()
        if image_size % 4:
            raise ConfigError(f"model=dcgan_upsample needs data.image_size divisible by 4, got {image_size}")
        self.start = image_size // 4
        self.fc = nn.Sequential(nn.Linear(latent_dim, 128 * self.start**2), nn.ReLU(True))
        self.net = nn.Sequential(
            nn.Upsample(scale_factor=2),
            nn.Conv2d(128, 128, 3, padding=1),
            _bn(128),
            nn.ReLU(True),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(128, 64, 3, padding=1),
            _bn(64),
            nn.ReLU(True),
            nn.Conv2d(64, channels, 3, padding=1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(self.fc(z).view(-1, 128, self.start, self.start))


class Discriminator(nn.Module):
    condition = "none"

    def __init__(self, image_size: int = 28, channels: int = 1, dropout: float = 0.25):
        super().__init__()

        def block(cin, cout, stride, bn=True, pad=False):
            layers = [nn.Conv2d(cin, cout, 3, stride, 1)]
            layers += [nn.ZeroPad2d((0, 1, 0, 1))] if pad else []
            layers += [_bn(cout)] if bn else []
            return [*layers, nn.LeakyReLU(0.2, True), nn.Dropout(dropout)]

        self.net = nn.Sequential(
            *block(channels, 32, 2, bn=False),
            *block(32, 64, 2, pad=True),
            *block(64, 128, 2),
            *block(128, 256, 1),
        )
        s = math.ceil((math.ceil(math.ceil(image_size / 2) / 2) + 1) / 2)
        self.fc = nn.Linear(256 * s * s, 1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.fc(self.net(x).flatten(1)).flatten()
