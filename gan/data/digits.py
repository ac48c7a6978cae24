"""scikit-learn's real 8x8 handwritten digits, upscaled: the offline default dataset.

python train.py data=digits data.image_size=32
"""

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from gan.data.base import GANDataModule
from gan.pixels import from_unit


class DigitsDataModule(GANDataModule):
    """The 1,797 real handwritten digits bundled with scikit-learn, upscaled from 8x8, labels 0-9."""

    class_names = tuple(str(d) for d in range(10))
    native_channels = 1
    domain_fid = True  # no held-out split: the domain FID compares with the training images

    def build_dataset(self) -> TensorDataset:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16.0
        images = F.interpolate(images, size=self.image_size, mode="bilinear", align_corners=False)
        images = from_unit(images.clamp(0, 1)).repeat(1, self.channels, 1, 1)
        return TensorDataset(images.contiguous(), torch.tensor(digits.target, dtype=torch.long))
