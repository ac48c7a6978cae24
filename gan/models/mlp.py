"""Fully connected GAN (S4, after Goodfellow et al.), ported from the seed's Keras code.

G: Dense 256, 512, 1024 (each LeakyReLU 0.2 + BatchNorm, Keras momentum 0.8 = PyTorch 0.2, eps 1e-3),
Dense -> image, tanh. D: Dense 512, 256 with LeakyReLU 0.2, Dense 1 (a logit; the seed's sigmoid lives in
the loss). `cgan` (S4 conditional GAN) multiplies the inputs by label embeddings.
"""

import math

import torch
from torch import nn

from gan.errors import ConfigError


def mlp_generator_body(in_dim: int, out_dim: int, hidden: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [
            nn.Linear(in_dim, width),
            nn.LeakyReLU(0.2, True),
            nn.BatchNorm1d(width, momentum=0.2, eps=1e-3),
        ]
        in_dim = width
    return nn.Sequential(*layers, nn.Linear(in_dim, out_dim), nn.Tanh())


class Generator(nn.Module):
    condition = "none"

    def __init__(
        self,
        latent_dim: int = 100,
        image_size: int = 28,
        channels: int = 1,
        hidden: tuple[int, ...] = (256, 512, 1024),
    ):
        super().__init__()
        self.shape = (channels, image_size, image_size)
        self.net = mlp_generator_body(latent_dim, math.prod(self.shape), list(hidden))

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z).view(-1, *self.shape)


class Discriminator(nn.Module):
    condition = "none"

    def __init__(
        self,
        image_size: int = 28,
        channels: int = 1,
        hidden: tuple[int, ...] = (512, 256),
        dropout: float = 0.0,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        in_dim = channels * image_size * image_size
        for width in hidden:
            layers += [nn.Linear(in_dim, width), nn.LeakyReLU(0.2, True)]
            layers += [nn.Dropout(dropout)] if dropout else []
            in_dim = width
        self.net = nn.Sequential(*layers, nn.Linear(in_dim, 1))

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x.flatten(1)).flatten()


class ConditionalGenerator(Generator):
    """S4 CGAN: G's input is noise * Embedding(label, latent_dim)."""

    condition = "label"

    def __init__(
        self,
        num_classes: int,
        latent_dim: int = 100,
        image_size: int = 28,
        channels: int = 1,
        hidden: tuple[int, ...] = (256, 512, 1024),
    ):
        if num_classes < 1:
            raise ConfigError("model=cgan needs labelled data: this dataset has num_classes=0")
        super().__init__(latent_dim, image_size, channels, hidden)
        self.embed = nn.Embedding(num_classes, latent_dim)

    def forward(self, z, cond=None):
        return super().forward(z * self.embed(cond))


class ConditionalDiscriminator(nn.Module):
    """S4 CGAN: D's input is flat image * Embedding(label, H*W*C); Dense 512 x3, Dropout 0.4 on the last
    two."""

    condition = "label"

    def __init__(
        self,
        num_classes: int,
        image_size: int = 28,
        channels: int = 1,
        width: int = 512,
        dropout: float = 0.4,
    ):
        super().__init__()
        in_dim = channels * image_size * image_size
        self.embed = nn.Embedding(num_classes, in_dim)
        self.net = nn.Sequential(
            nn.Linear(in_dim, width),
            nn.LeakyReLU(0.2, True),
            nn.Linear(width, width),
            nn.LeakyReLU(0.2, True),
            nn.Dropout(dropout),
            nn.Linear(width, width),
            nn.LeakyReLU(0.2, True),
            nn.Dropout(dropout),
            nn.Linear(width, 1),
        )

    def forward(self, x, cond=None):
        return self.net(x.flatten(1) * self.embed(cond)).flatten()
