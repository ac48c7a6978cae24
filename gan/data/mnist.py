"""MNIST and Fashion-MNIST from their IDX files (S4).

Looks in `data.root` (also its `raw/` and torchvision's `<Name>/raw/`), then, for Fashion-MNIST, in the
Debian package's `/usr/share/datasets/fashion-mnist/` (`apt-get install dataset-fashion-mnist`); when none
has the files it asks torchvision to download them into `data.root`.

    python train.py data=fashion_mnist data.classes=[5,7,9]     # sandals, sneakers, ankle boots
"""

import copy
import gzip
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from gan.data.base import GANDataModule
from gan.errors import ConfigError
from gan.pixels import from_unit

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


def fit_to_size(images: torch.Tensor, size: int, resize: str) -> torch.Tensor:
    """[N, C, 28, 28] in [0, 1] to `size`: `pad` centres the digit on black (the classic 32 px DCGAN input,
    content pixel-exact), `stretch` interpolates."""
    if resize not in ("pad", "stretch"):
        raise ConfigError(f"data.resize={resize!r}: allowed values are pad, stretch")
    n = images.shape[-1]
    if size == n:
        return images
    if resize == "pad" and size > n:
        before = (size - n) // 2
        return F.pad(images, [before, size - n - before, before, size - n - before], value=0.0)
    return F.interpolate(images, size=size, mode="bilinear", antialias=True)


class MNISTDataModule(GANDataModule):
    torchvision_name = "MNIST"
    domain_fid = True
    class_names = tuple(str(d) for d in range(10))
    native_channels = 1
    system_dirs: tuple[str, ...] = ()

    def __init__(
        self,
        root: str,
        image_size: int = 28,
        split: str = "train",
        download: bool = True,
        resize: str = "pad",
        **common,
    ):
        super().__init__(image_size, **common)
        if split not in FILES:
            raise ConfigError(f"data.split={split!r}: allowed values are {sorted(FILES)}")
        self.root, self.split, self.download = Path(root), split, download
        self.resize = resize
        fit_to_size(torch.zeros(1, 1, 28, 28), 28, resize)  # a bad value fails here, before any work

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

    def held_out_dataset(self):
        """The official test split (10k images), selected classes, same preprocessing."""
        test = copy.copy(self)
        test.split, test.download = "test", False
        return self.prepare(test.build_dataset())

    def _download(self) -> None:
        import torchvision

        try:
            getattr(torchvision.datasets, self.torchvision_name)(str(self.root), train=True, download=True)
        except Exception as err:  # offline: fall through to the clear error
            print(f"{self.torchvision_name}: download failed ({type(err).__name__}: {err})")

    def build_dataset(self) -> TensorDataset:
        images_path, labels_path = self.locate()
        images = torch.from_numpy(read_idx(images_path).copy()).float()[:, None] / 255.0
        images = fit_to_size(images, self.image_size, self.resize)
        images = from_unit(images).repeat(1, self.channels, 1, 1)
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
