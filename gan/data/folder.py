"""Datamodules over folders of image files: any folder, Zappos shoes, CelebA faces, DeepFashion, blouses.

Every image is decoded, converted and resized once, then kept as a uint8 array in `data.cache_dir`
(keyed by the files' names, sizes and mtimes and the preprocessing), so later epochs and runs never decode
a JPEG again.

    python train.py data=image_folder data.root=/path/to/images data.image_size=64
    python train.py data=sneakers data.root=/data/ut-zap50k-images-square
"""

import hashlib
import logging
from pathlib import Path

from torch.utils.data import Dataset, Subset

from gan.data.base import GANDataModule, ZeroOne
from gan.data.images import list_images, load_or_build_cache, preprocess
from gan.data.uint8 import UInt8Images
from gan.errors import ConfigError

log = logging.getLogger(__name__)


class ImageFolderDataModule(GANDataModule):
    """Any folder tree of images, searched recursively; `labels_from_subfolders` makes each top-level
    subfolder a class."""

    what = "image files (.jpg, .png, ...), in any subfolders"
    #: no labels: offline, FID falls back to a self-supervised encoder's features (gan/metrics/selfsup.py)
    selfsup_fid = True

    def __init__(
        self,
        root: str,
        image_size: int = 64,
        preprocess: str = "resize_crop",
        crop: int | None = None,
        labels_from_subfolders: bool = False,
        cache_dir: str | None = None,
        strict: bool = False,
        held_out: float = 0.0,
        **common,
    ):
        self.root = Path(root).expanduser()
        self.labels_from_subfolders = labels_from_subfolders
        if labels_from_subfolders:
            self.class_names = tuple(self._subfolders())
        super().__init__(image_size, **common)
        self.preprocess, self.crop, self.strict = preprocess, crop, strict
        if not 0 <= held_out < 1:
            raise ConfigError(f"data.held_out={held_out}: a fraction of the images, from 0 up to (not) 1")
        self.held_out = held_out  # a fraction of the files that training never sees (val/copying)
        self._held_out_set: Dataset | None = None
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.cache_hit: bool | None = None
        self.bad_files: dict[str, str] = {}
        self.unlisted: dict[str, str] = {}  # folders that could not be listed, reported with bad files

    def _subfolders(self) -> list[str]:
        self.check_root()
        return sorted(p.name for p in self.root.iterdir() if p.is_dir())

    def check_root(self) -> None:
        if not self.root.is_dir():
            raise ConfigError(f"data.root={self.root} does not exist; expected a folder of {self.what}")

    def files(self) -> list[Path]:
        self.check_root()
        files = list_images(self.root, self.unlisted)
        if not files:
            raise ConfigError(f"data.root={self.root} has no images; expected {self.what}")
        return files

    def label_of(self, path: Path) -> int:
        if not self.labels_from_subfolders:
            return 0
        return self.class_names.index(path.relative_to(self.root).parts[0])

    def build_dataset(self) -> Dataset:
        files = self.files()
        recipe = {
            "preprocess": self.preprocess,
            "size": self.image_size,
            "crop": self.crop,
            "c": self.channels,
        }

        def transform(image):
            return preprocess(image, self.preprocess, self.image_size, self.crop)

        images, kept, self.bad_files, self.cache_hit = load_or_build_cache(
            files, self.root, recipe, self.channels, transform, self.cache_dir, self.num_workers or 2
        )
        self.bad_files = {**self.unlisted, **self.bad_files}
        self.report_bad_files()
        labels = [self.label_of(files[i]) for i in kept]
        self._files = [files[i] for i in kept]  # private: FID's data key skips it (a list of every file)
        dataset = UInt8Images(images, labels)
        held = [k for k, i in enumerate(kept) if self.is_held_out(files[i])]
        if held:
            chosen = set(held)
            self._held_out_set = Subset(dataset, held)
            dataset = Subset(dataset, [k for k in range(len(kept)) if k not in chosen])
        log.info(
            "%s: %d images from %s, trained at %d px (%s)%s",
            type(self).__name__,
            len(kept),
            self.root,
            self.image_size,
            "cache hit" if self.cache_hit else "decoded",
            f"; {len(held)} held out of training (data.held_out={self.held_out}, by a hash of each file name)"
            if held
            else "",
        )
        return dataset

    def setup(self, stage: str | None = None) -> None:
        try:
            super().setup(stage)
        except ConfigError as err:
            if self._held_out_set is None:
                raise
            raise ConfigError(
                f"{err}, after holding out {len(self._held_out_set)} for data.held_out={self.held_out}: "
                "lower data.held_out or data.batch_size"
            ) from None

    def is_held_out(self, path: Path) -> bool:
        """A fixed share of the files, chosen by a hash of their path under `root`: the same files in every
        run and seed, and adding files to the folder never moves one across the split."""
        if self.held_out <= 0:
            return False
        digest = hashlib.sha1(str(path.relative_to(self.root)).encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self.held_out

    def held_out_dataset(self) -> Dataset | None:
        """The `data.held_out` share of the files, never trained on; None when data.held_out=0."""
        if self.held_out <= 0:
            return None
        if self.train_set is None and self._held_out_set is None:
            self.build_dataset()
        return self.prepare(self._held_out_set) if self._held_out_set is not None else None

    def files_of(self, dataset: Dataset) -> list[str] | None:
        """Each image's file under `root`, for this datamodule's training or held-out set (the studio names
        a design's nearest training images); None for a dataset not cut from the folder's images."""
        indices = list(range(len(dataset)))
        while isinstance(dataset, Subset | ZeroOne):
            if isinstance(dataset, Subset):
                indices = [dataset.indices[i] for i in indices]
            dataset = dataset.dataset
        if not isinstance(dataset, UInt8Images) or getattr(self, "_files", None) is None:
            return None
        return [str(self._files[i].relative_to(self.root)) for i in indices]

    def report_bad_files(self) -> None:
        if not self.bad_files:
            return
        listing = "\n".join(f"  {name}: {why}" for name, why in sorted(self.bad_files.items()))
        message = f"{len(self.bad_files)} unreadable image file(s) under {self.root}:\n{listing}"
        if self.strict:
            raise ConfigError(message + "\n(data.strict=true; set it false to skip them)")
        log.warning("%s\nSkipped them; set data.strict=true to fail instead.", message)


def _norm(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


ZAPPOS_CATEGORIES = {"Boots", "Sandals", "Shoes", "Slippers"}


class ZapposDataModule(ImageFolderDataModule):
    """UT Zappos50K shoes picked by subcategory (`<Category>/<Subcategory>/<Brand>/<id>.jpg`).

    `root` may be the unpacked `ut-zap50k-images[-square]` folder or its parent. A folder with no
    subcategory folders (a flat folder of already-picked images, S1's `images/00000.jpg`) is used whole.
    """

    url = "http://vision.cs.utexas.edu/projects/finegrained/utzap50k/ut-zap50k-images-square.zip"

    def __init__(self, root: str, subcategories: list[str], preprocess: str = "pad_white", **folder):
        super().__init__(root, preprocess=preprocess, **folder)
        self.subcategories = list(subcategories)
        self.what = (
            f"UT Zappos50K images: unzip {self.url} there (the ut-zap50k-images-square folder or its "
            f"parent), or point data.root at a flat folder of shoe images"
        )

    def files(self) -> list[Path]:
        self.check_root()
        wanted = {_norm(s) for s in self.subcategories}
        dirs = [p for p in self.root.rglob("*") if p.is_dir()]
        picked = [d for d in dirs if _norm(d.name) in wanted]
        if picked:
            files = sorted({f for d in picked for f in list_images(d)})
            if files:
                return files
        subcats = sorted({d.name for d in dirs if d.parent.name in ZAPPOS_CATEGORIES})
        if subcats:
            found = subcats[:40]
            raise ConfigError(
                f"data.root={self.root}: no subcategory folder named {self.subcategories}; "
                f"folders found: {found}. Set data.subcategories."
            )
        return super().files()
