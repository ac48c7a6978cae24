"""`data.on_device=true`: an in-memory dataset (digits, MNIST, Fashion-MNIST, synthetic, the uint8 folder
cache) is copied to the training device once and batched there by index: no workers, no host-to-device copy
per batch, so a small model never waits on the loader. Same sampler, so the same order (and exact resume)
as the DataLoader path; uint8 images stay uint8 on the device and are scaled per batch.
"""

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from gan.data.uint8 import UInt8Images
from gan.pixels import from_uint8


def materialize(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """(images, labels, is_uint8) of a whole dataset as tensors; uint8 caches are kept as uint8."""
    base, index = dataset, None
    if isinstance(dataset, Subset) and isinstance(dataset.dataset, TensorDataset | UInt8Images):
        base, index = dataset.dataset, torch.as_tensor(dataset.indices)
    if isinstance(base, TensorDataset):
        images, labels = base.tensors[:2]
        uint8 = False
    elif isinstance(base, UInt8Images):  # a read-only memmap of the cache: copy the images training uses
        pixels, labels = np.asarray(base.images), torch.as_tensor(base.labels)
        if index is None:
            return torch.from_numpy(pixels.copy()), labels.long(), True
        return torch.from_numpy(pixels[index.numpy()]), labels[index].long(), True
    else:  # any other dataset (ZeroOne, ...): one pass through it
        images, labels = (
            torch.cat(parts) for parts in zip(*DataLoader(dataset, batch_size=1024), strict=True)
        )
        uint8 = False
    if index is not None:
        images, labels = images[index], labels[index]
    return images, labels.long(), uint8


class DeviceBatches:
    """An iterable of (images, labels) batches cut on `device` in `sampler`'s order, drop_last like ours."""

    def __init__(self, dataset: Dataset, sampler, batch_size: int, device: torch.device):
        images, labels, self.uint8 = materialize(dataset)
        self.images, self.labels = images.to(device), labels.to(device)
        self.sampler, self.batch_size = sampler, batch_size  # `.sampler`: Lightning calls set_epoch on it

    def __len__(self) -> int:
        return len(self.sampler) // self.batch_size

    def __iter__(self):
        order = torch.tensor(list(self.sampler), device=self.images.device)
        for k in range(len(order) // self.batch_size):
            index = order[k * self.batch_size : (k + 1) * self.batch_size]
            images = self.images[index]
            yield (from_uint8(images) if self.uint8 else images), self.labels[index]
