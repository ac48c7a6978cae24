"""A dataset over a uint8 image array: the folder cache (memory-mapped) and what batches it on a device."""

import numpy as np
import torch
from torch.utils.data import Dataset

from gan.pixels import from_uint8


class UInt8Images(Dataset):
    """(image in [-1, 1], label) from an NxCxHxW uint8 array (possibly memory-mapped)."""

    def __init__(self, images: np.ndarray, labels: list[int]):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        image = torch.from_numpy(np.array(self.images[i], dtype=np.float32))
        return from_uint8(image), self.labels[i]
