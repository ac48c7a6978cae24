"""FashionGen (S2): G's input is [encoder(real image) ; noise] into a DCGAN generator; D is a DCGAN D
with dropout.

The encoder is a torchvision ResNet-18 trunk with a linear head to `code_dim`. Its ImageNet weights come from
`encoder_weights`: "imagenet" (torchvision's download, cached in TORCH_HOME), a local file path, or "none".
When neither can be had the encoder starts from random init and says so once.
"""

import logging
import os

import torch
import torchvision
from torch import nn

from gan.models.dcgan import Generator as DCGANGenerator

log = logging.getLogger(__name__)


def resnet18_trunk(weights: str) -> nn.Module:
    net = torchvision.models.resnet18(weights=None)
    if weights == "imagenet":
        try:
            net = torchvision.models.resnet18(weights=torchvision.models.ResNet18_Weights.IMAGENET1K_V1)
        except Exception as err:  # offline, or the download failed
            log.warning(
                "FashionGen encoder: ImageNet weights unavailable (%s); using random init. "
                "Set model.generator.encoder_weights=<path to resnet18 .pth> to use a local copy.",
                err,
            )
    elif weights != "none":
        if not os.path.isfile(weights):
            log.warning("FashionGen encoder: no weights file at %s; using random init.", weights)
        else:
            net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    net.fc = nn.Identity()
    return net


class Generator(nn.Module):
    condition = "image"

    def __init__(
        self,
        latent_dim: int = 100,
        code_dim: int = 128,
        image_size: int = 64,
        channels: int = 3,
        ngf: int = 64,
        encoder_weights: str = "imagenet",
    ):
        super().__init__()
        self.encoder = resnet18_trunk(encoder_weights)
        self.code = nn.Linear(512, code_dim)
        self.decoder = DCGANGenerator(latent_dim + code_dim, image_size, channels, ngf)

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        images = cond if cond.shape[1] == 3 else cond.repeat(1, 3, 1, 1)
        code = self.code(self.encoder(images))
        return self.decoder(torch.cat([code, z], dim=1))
