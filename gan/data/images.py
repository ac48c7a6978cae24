"""Reading image files: mode conversion, the seeds' preprocessing, and the decoded-uint8 disk cache.

Any mode becomes the dataset's channels: RGBA, LA and transparent palettes are composited on white (the
catalog background), CMYK and palettes convert to RGB, RGB to L for 1-channel data. Files that fail to
decode are reported, never fatal mid-epoch: everything is decoded once, when the dataset is indexed.
"""

import hashlib
import json
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

log = logging.getLogger(__name__)
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
WHITE = (255, 255, 255)


def list_images(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file())


def to_mode(image: Image.Image, channels: int) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, WHITE + (255,))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB" if channels == 3 else "L")


def pad_square(image: Image.Image, fill=WHITE) -> Image.Image:
    """Pad the short side so the image is square, with the catalog's white background."""
    w, h = image.size
    side = max(w, h)
    fill = fill if image.mode == "RGB" else 255
    canvas = Image.new(image.mode, (side, side), fill)
    canvas.paste(image, ((side - w) // 2, (side - h) // 2))
    return canvas


def center_crop_resize(image: Image.Image, crop: tuple[int, int], size: int) -> Image.Image:
    w, h = image.size
    cw, ch = min(crop[0], w), min(crop[1], h)
    left, top = (w - cw) // 2, (h - ch) // 2
    image = image.crop((left, top, left + cw, top + ch))
    return image.resize((size, size), Image.Resampling.BICUBIC)


def preprocess(image: Image.Image, kind: str, size: int, crop: int | None = None) -> Image.Image:
    """The seeds' preprocessing by name.

    pad_white: pad to square with white, resize (S0 sneakers at 64, S1 heels/blouses at 256).
    celeba: center crop `crop` (160 on the canonical 178x218; scaled on smaller images), resize (S3).
    resize_crop: resize the short side, center crop (DeepFashion, any folder).
    """
    if kind == "pad_white":
        return pad_square(image).resize((size, size), Image.Resampling.BICUBIC)
    if kind == "celeba":
        scale = min(image.size[0] / 178, image.size[1] / 218, 1.0)
        side = round((crop or 160) * scale)
        return center_crop_resize(image, (side, side), size)
    if kind == "resize_crop":
        return ImageOps.fit(image, (size, size), Image.Resampling.BICUBIC)
    raise ValueError(f"unknown preprocess {kind!r}; choose pad_white, celeba or resize_crop")


def decode(path: Path, channels: int, transform: Callable[[Image.Image], Image.Image]) -> np.ndarray | str:
    """HxWxC uint8 array, or the reason the file cannot be used."""
    try:
        with Image.open(path) as image:
            image.load()
            array = np.asarray(transform(to_mode(image, channels)), dtype=np.uint8)
    except Exception as err:  # PIL raises many types for broken files
        return f"{type(err).__name__}: {err}"
    return array[:, :, None] if array.ndim == 2 else array


def cache_key(files: list[Path], root: Path, recipe: dict) -> str:
    h = hashlib.sha1(json.dumps(recipe, sort_keys=True).encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(root)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def decode_all(files: list[Path], channels: int, transform, workers: int) -> tuple[list, dict[str, str]]:
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(lambda f: decode(f, channels, transform), files))
    good = [(i, r) for i, r in enumerate(results) if not isinstance(r, str)]
    bad = {str(files[i]): r for i, r in enumerate(results) if isinstance(r, str)}
    return good, bad


def load_or_build_cache(
    files: list[Path],
    root: Path,
    recipe: dict,
    channels: int,
    transform,
    cache_dir: Path | None,
    workers: int,
) -> tuple[np.ndarray, list[int], dict[str, str], bool]:
    """(NxCxHxW uint8 images, kept file indices, bad files, whether the cache was hit)."""
    key = cache_key(files, root, recipe)
    if cache_dir is not None:
        array_path, meta_path = cache_dir / f"{key}.npy", cache_dir / f"{key}.json"
        if array_path.is_file() and meta_path.is_file():
            meta = json.loads(meta_path.read_text())
            return np.load(array_path, mmap_mode="r"), meta["kept"], meta["bad"], True
    good, bad = decode_all(files, channels, transform, workers)
    array = (
        np.stack([r for _, r in good]).transpose(0, 3, 1, 2)
        if good
        else np.zeros((0, channels, 1, 1), np.uint8)
    )
    kept = [i for i, _ in good]
    if cache_dir is not None and good:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache_dir / f"{key}.{os.getpid()}.tmp.npy"
        np.save(tmp, np.ascontiguousarray(array))
        os.replace(tmp, cache_dir / f"{key}.npy")
        (cache_dir / f"{key}.json").write_text(json.dumps({"kept": kept, "bad": bad, "recipe": recipe}))
    return array, kept, bad, False
