"""Pixel ranges, in one place. Inside the framework images are floats in [-1, 1] (G's tanh range); files and
image metrics take uint8 in [0, 255]; image libraries outside (ONNX users, torchvision's save_image) take
floats in [0, 1]."""

import torch


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats to [0, 255] uint8, rounded to nearest: what image metrics and grids get."""
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def as_rgb_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats (1 or 3 channels) to the uint8 RGB the feature networks of FID expect."""
    images = to_uint8(images)
    return images.repeat(1, 3, 1, 1) if images.shape[1] == 1 else images


def from_uint8(images: torch.Tensor) -> torch.Tensor:
    """[0, 255] uint8 (the folder cache, metric inputs) to [-1, 1] floats."""
    return images.float() / 127.5 - 1


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats to [0, 1] (clamped): exported generators, files written with save_image."""
    return (images.float().clamp(-1, 1) + 1) / 2


def from_unit(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] floats to [-1, 1]."""
    return images * 2 - 1


def as_saved_pixels(images: torch.Tensor) -> torch.Tensor:
    """G's output as uint8 [N, H, W, C], rounded as torchvision's save_image rounds (floor(x * 255 + 0.5),
    not `to_uint8`'s), so the studio's pixels equal the files gan.generate writes."""
    x = to_unit(images.detach().cpu())
    return x.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
