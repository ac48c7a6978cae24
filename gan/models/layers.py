"""Small shared building blocks: activations by name, norms, spectral norm wrapping, DCGAN init."""

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from gan.errors import ConfigError

ACTIVATIONS = {"relu": lambda: nn.ReLU(True), "leaky_relu": lambda: nn.LeakyReLU(0.2, True)}


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ConfigError(f"activation={name!r} is unknown; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def norm2d(kind: str, channels: int, momentum: float = 0.1, eps: float = 1e-5) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels, momentum=momentum, eps=eps)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"norm={kind!r} is unknown; choose one of ['batch', 'instance', 'none']")


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Wrap every conv and linear layer of `module` with spectral normalisation (Miyato et al.)."""
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            setattr(module, name, _spectral_norm(child))
        else:
            apply_spectral_norm(child)
    return module


@torch.no_grad()
def dcgan_init(module: nn.Module) -> None:
    """Radford et al.: conv weights N(0, 0.02), BatchNorm scale N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
