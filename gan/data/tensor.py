"""In-memory datasets: scikit-learn's real 8x8 digits (the offline default) and synthetic noise.

python train.py data=digits data.image_size=32
python train.py data=synthetic data.image_size=64 data.channels=3 data.num_classes=10
"""

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from gan.data.base import GANDataModule
from gan.pixels import from_unit


class DigitsDataModule(GANDataModule):
    """The 1,797 real handwritten digits bundled with scikit-learn, upscaled from 8x8, labels 0-9."""

    class_names = tuple(str(d) for d in range(10))
    domain_fid = True  # no held-out split: the domain FID compares with the training images

    def build_dataset(self) -> TensorDataset:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16.0
        images = F.interpolate(images, size=self.image_size, mode="bilinear", align_corners=False)
        images = from_unit(images.clamp(0, 1)).repeat(1, self.channels, 1, 1)
        return TensorDataset(images.contiguous(), torch.tensor(digits.target, dtype=torch.long))


class SyntheticDataModule(GANDataModule):
    """Random images and labels, for smoke tests of any model at any size."""

    def __init__(
        self,
        image_size: int = 32,
        channels: int = 3,
        num_classes: int = 10,
        num_samples: int = 256,
        batch_size: int = 16,
        num_workers: int = 0,
        pin_memory: bool = False,
        classes: list[int | str] | None = None,
        normalize: bool = True,
        on_device: bool = False,
        seed: int = 0,
    ):
        self.class_names = tuple(f"class_{i}" for i in range(num_classes))
        super().__init__(
            image_size,
            channels,
            num_classes,
            batch_size,
            num_workers,
            pin_memory,
            classes,
            normalize,
            on_device,
        )
        self.num_samples, self.seed = num_samples, seed

    def build_dataset(self) -> TensorDataset:
        gen = torch.Generator().manual_seed(self.seed)
        shape = (self.num_samples, self.channels, self.image_size, self.image_size)
        images = from_unit(torch.rand(shape, generator=gen))
        labels = torch.randint(0, max(self.num_classes, 1), (self.num_samples,), generator=gen)
        return TensorDataset(images, labels)
