"""MNIST and Fashion-MNIST from their IDX files (S4).

Looks in `data.root` (also its `raw/` and torchvision's `<Name>/raw/`), then, for Fashion-MNIST, in the
Debian package's `/usr/share/datasets/fashion-mnist/` (`apt-get install dataset-fashion-mnist`); when none
has the files it asks torchvision to download them into `data.root`.

    python train.py data=fashion_mnist data.classes=[5,7,9]     # sandals, sneakers, ankle boots
"""

import gzip
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from gan.data.base import GANDataModule
from gan.errors import ConfigError

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
DEBIAN_FASHION = "/usr/share/datasets/fashion-mnist"


def read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def find_idx(dirs: list[Path], stem: str) -> Path | None:
    for d in dirs:
        for name in (stem, stem + ".gz"):
            if (d / name).is_file():
                return d / name
    return None


class MNISTDataModule(GANDataModule):
    torchvision_name = "MNIST"
    class_names = tuple(str(d) for d in range(10))
    system_dirs: tuple[str, ...] = ()

    def __init__(
        self,
        root: str,
        image_size: int = 28,
        channels: int = 1,
        num_classes: int = 10,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = False,
        classes: list[int | str] | None = None,
        normalize: bool = True,
        split: str = "train",
        download: bool = True,
    ):
        super().__init__(
            image_size, channels, num_classes, batch_size, num_workers, pin_memory, classes, normalize
        )
        if split not in FILES:
            raise ConfigError(f"data.split={split!r}: allowed values are {sorted(FILES)}")
        self.root, self.split, self.download = Path(root), split, download

    def search_dirs(self) -> list[Path]:
        tv = self.root / self.torchvision_name / "raw"
        return [self.root, self.root / "raw", tv, *map(Path, self.system_dirs)]

    def locate(self) -> tuple[Path, Path]:
        stems = FILES[self.split]
        found = [find_idx(self.search_dirs(), s) for s in stems]
        if None in found and self.download:
            self._download()
            found = [find_idx(self.search_dirs(), s) for s in stems]
        if None in found:
            where = ", ".join(str(d) for d in self.search_dirs())
            missing = " and ".join(s + "[.gz]" for s in stems)
            raise ConfigError(
                f"{self.torchvision_name}: missing {missing}; looked in {where}. "
                f"Put the IDX files in data.root={self.root} (or let torchvision download them when online)."
            )
        return found[0], found[1]

    def _download(self) -> None:
        import torchvision

        try:
            getattr(torchvision.datasets, self.torchvision_name)(str(self.root), train=True, download=True)
        except Exception as err:  # offline: fall through to the clear error
            print(f"{self.torchvision_name}: download failed ({type(err).__name__}: {err})")

    def build_dataset(self) -> TensorDataset:
        images_path, labels_path = self.locate()
        images = torch.from_numpy(read_idx(images_path).copy()).float()[:, None] / 255.0
        if images.shape[-1] != self.image_size:
            images = F.interpolate(images, size=self.image_size, mode="bilinear", antialias=True)
        images = (images * 2 - 1).repeat(1, self.channels, 1, 1)
        labels = torch.from_numpy(read_idx(labels_path).astype(np.int64))
        return TensorDataset(images.contiguous(), labels)


class FashionMNISTDataModule(MNISTDataModule):
    torchvision_name = "FashionMNIST"
    class_names = (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )
    system_dirs = (DEBIAN_FASHION,)
