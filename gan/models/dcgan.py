"""DCGAN (Radford et al. 2016): strided convs, BatchNorm, ReLU/Tanh in G, LeakyReLU(0.2) in D, no biases.

Depth follows the image size: G starts at 4x4 (7x7 for 28-pixel data) and doubles to the target size;
D mirrors it. `cdcgan` (ConditionalGenerator/ConditionalDiscriminator) concatenates a label embedding as
channels. D options: `minibatch_std`, `minibatch_discrimination=<n_kernels>` (gan/models/minibatch.py).
"""

import math

import torch
from torch import nn

from gan.errors import ConfigError
from gan.models.layers import activation as make_activation
from gan.models.layers import apply_spectral_norm, dcgan_init, norm2d
from gan.models.minibatch import MinibatchDiscrimination, MinibatchStd


def dcgan_plan(image_size: int) -> tuple[int, int]:
    """(start size, number of 2x upsamplings) for an image size, e.g. 64 -> (4, 4), 28 -> (7, 2)."""
    start = 7 if image_size % 7 == 0 else 4
    n = math.log2(image_size / start) if image_size >= start else -1
    if n < 1 or n != int(n):
        raise ConfigError(
            f"model dcgan cannot make {image_size}x{image_size} images: data.image_size must be 4 or 7 "
            f"times a power of two, at least 8 (8, 14, 16, 28, 32, 64, 128, 256)"
        )
    return start, int(n)


class Generator(nn.Module):
    condition = "none"

    def __init__(
        self,
        latent_dim: int = 100,
        image_size: int = 64,
        channels: int = 3,
        ngf: int = 64,
        activation: str = "relu",
        norm: str = "batch",
    ):
        super().__init__()
        start, n_up = dcgan_plan(image_size)
        ch = ngf * 2 ** (n_up - 1)
        layers = [nn.ConvTranspose2d(latent_dim, ch, start, 1, 0, bias=False), norm2d(norm, ch)]
        layers.append(make_activation(activation))
        for _ in range(n_up - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), norm2d(norm, ch // 2)]
            layers.append(make_activation(activation))
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    condition = "none"

    def __init__(
        self,
        image_size: int = 64,
        channels: int = 3,
        ndf: int = 64,
        dropout: float = 0.0,
        norm: str = "batch",
        spectral_norm: bool = False,
        minibatch_std: bool = False,
        minibatch_discrimination: int = 0,
    ):
        super().__init__()
        start, _ = dcgan_plan(image_size)
        layers = [nn.Conv2d(channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        layers += [nn.Dropout(dropout)] if dropout else []
        ch, size = ndf, image_size // 2
        while size > start:
            layers += [
                nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False),
                norm2d(norm, ch * 2),
                nn.LeakyReLU(0.2, True),
            ]
            layers += [nn.Dropout(dropout)] if dropout else []
            ch, size = ch * 2, size // 2
        if minibatch_std:
            layers.append(MinibatchStd())
            ch += 1
        if minibatch_discrimination:
            features = ch * start * start
            layers.append(MinibatchDiscrimination(features, minibatch_discrimination))
            layers.append(nn.Linear(features + minibatch_discrimination, 1))
        else:
            layers.append(nn.Conv2d(ch, 1, start, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)
        dcgan_init(self)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).flatten()


class ConditionalGenerator(Generator):
    """DCGAN generator fed [z ; Embedding(label)]."""

    condition = "label"

    def __init__(
        self,
        num_classes: int,
        latent_dim: int = 100,
        embed_dim: int = 50,
        image_size: int = 64,
        channels: int = 3,
        ngf: int = 64,
        activation: str = "relu",
        norm: str = "batch",
    ):
        if num_classes < 1:
            raise ConfigError("a conditional model needs labelled data: this dataset has num_classes=0")
        super().__init__(latent_dim + embed_dim, image_size, channels, ngf, activation, norm)
        self.embed = nn.Embedding(num_classes, embed_dim)

    def forward(self, z, cond=None):
        return super().forward(torch.cat([z, self.embed(cond)], dim=1))


class ConditionalDiscriminator(Discriminator):
    """DCGAN discriminator fed the image with one extra channel: an embedding of the label as an H x W map."""

    condition = "label"

    def __init__(
        self,
        num_classes: int,
        image_size: int = 64,
        channels: int = 3,
        ndf: int = 64,
        dropout: float = 0.0,
        norm: str = "batch",
        spectral_norm: bool = False,
        minibatch_std: bool = False,
        minibatch_discrimination: int = 0,
    ):
        super().__init__(
            image_size,
            channels + 1,
            ndf,
            dropout,
            norm,
            spectral_norm,
            minibatch_std,
            minibatch_discrimination,
        )
        self.image_size = image_size
        self.embed = nn.Embedding(num_classes, image_size * image_size)

    def forward(self, x, cond=None):
        label_map = self.embed(cond).view(-1, 1, self.image_size, self.image_size)
        return super().forward(torch.cat([x, label_map], dim=1))
