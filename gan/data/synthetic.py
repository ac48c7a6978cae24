"""Random images and labels, for smoke tests of any model at any size.

python train.py data=synthetic data.image_size=64 data.channels=3 data.num_classes=10
"""

import torch
from torch.utils.data import TensorDataset

from gan.data.base import GANDataModule
from gan.pixels import from_unit


class SyntheticDataModule(GANDataModule):
    """`dataset_size` uniform-noise images in [-1, 1] with random labels, seeded."""

    def __init__(
        self,
        image_size: int = 32,
        channels: int = 3,
        num_classes: int = 10,
        dataset_size: int = 256,
        seed: int = 0,
        **common,
    ):
        self.class_names = tuple(f"class_{i}" for i in range(num_classes))
        super().__init__(image_size, channels, **common)
        self.dataset_size, self.seed = dataset_size, seed

    def build_dataset(self) -> TensorDataset:
        gen = torch.Generator().manual_seed(self.seed)
        shape = (self.dataset_size, self.channels, self.image_size, self.image_size)
        images = from_unit(torch.rand(shape, generator=gen))
        labels = torch.randint(0, max(self.num_classes, 1), (self.dataset_size,), generator=gen)
        return TensorDataset(images, labels)
