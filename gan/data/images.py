"""Reading image files: mode conversion, the seeds' preprocessing, and the decoded-uint8 disk cache.

Any mode becomes the dataset's channels: RGBA, LA and transparent palettes are composited on white (the
catalog background), CMYK and palettes convert to RGB, RGB to L for 1-channel data. Files that fail to
decode are reported, never fatal mid-epoch: everything is decoded once, when the dataset is indexed.
"""

import hashlib
import json
import logging
import os
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

log = logging.getLogger(__name__)
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
WHITE = (255, 255, 255)


def list_images(root: Path, unreadable: dict[str, str] | None = None) -> list[Path]:
    """Image files under `root`, following symlinked folders (each real folder once, so a link loop ends);
    folders that cannot be listed go into `unreadable` with the reason, like files that cannot be decoded."""
    found, seen = [], set()

    def cannot_list(err: OSError) -> None:
        if unreadable is not None:
            unreadable[str(err.filename)] = f"{type(err).__name__}: cannot list this folder ({err.strerror})"

    for folder, subfolders, names in os.walk(root, followlinks=True, onerror=cannot_list):
        real = os.path.realpath(folder)
        if real in seen:  # a symlink back to a folder already walked
            subfolders[:] = []
            continue
        seen.add(real)
        found += [Path(folder) / n for n in names if Path(n).suffix.lower() in IMAGE_EXTS]
    return sorted(p for p in found if p.is_file())


def to_8bit(image: Image.Image) -> Image.Image:
    """16-bit (and 32-bit integer) grayscale scaled to 8 bits; PIL's convert("L") would clip it to white."""
    array = np.asarray(image)
    top = 65535 if image.mode.startswith("I;16") or array.max() > 255 else 255
    return Image.fromarray((array.astype(np.float64) * (255 / top)).round().clip(0, 255).astype(np.uint8))


def to_mode(image: Image.Image, channels: int) -> Image.Image:
    if image.mode.startswith("I"):
        image = to_8bit(image)
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


# Pillow's own warning for images over MAX_IMAGE_PIXELS: `decode` names such files in our one line instead
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def too_large(width: int, height: int) -> str:
    return (
        f"{width}x{height} ({width * height / 1e6:.0f} MP) is over the {Image.MAX_IMAGE_PIXELS / 1e6:.0f} MP "
        "that is safe to decode; skipped (downscale the file to use it)"
    )


def decode(path: Path, channels: int, transform: Callable[[Image.Image], Image.Image]):
    """(HxWxC uint8 array, the file's (width, height)), or the reason the file cannot be used."""
    try:
        with Image.open(path) as image:
            if image.size[0] * image.size[1] > Image.MAX_IMAGE_PIXELS:
                return too_large(*image.size)
            image.load()
            size = image.size
            array = np.asarray(transform(to_mode(image, channels)), dtype=np.uint8)
    except Image.DecompressionBombError:  # over twice the limit: Pillow refuses before we see the size
        return f"over twice the {Image.MAX_IMAGE_PIXELS / 1e6:.0f} MP safe to decode; skipped (downscale it)"
    except Exception as err:  # PIL raises many types for broken files (and OSError for permissions)
        return f"{type(err).__name__}: {err}"
    return (array[:, :, None] if array.ndim == 2 else array), size


def cache_key(files: list[Path], root: Path, recipe: dict) -> str:
    h = hashlib.sha1(json.dumps(recipe, sort_keys=True).encode())
    for f in files:
        st = f.stat()  # ctime too: a chmod that makes a file readable again changes only that
        h.update(f"{f.relative_to(root)}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}\n".encode())
    return h.hexdigest()[:20]


def decode_all(files: list[Path], channels: int, transform, workers: int) -> tuple[list, dict[str, str]]:
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(lambda f: decode(f, channels, transform), files))
    good = [(i, r) for i, r in enumerate(results) if not isinstance(r, str)]
    bad = {str(files[i]): r for i, r in enumerate(results) if isinstance(r, str)}
    return good, bad


def odd_shapes(files: list[Path], good: list, size: int) -> dict[str, dict]:
    """How many files are far from square (over 2:1) or much smaller than the training size (under half),
    with one example of each."""
    shapes: dict[str, dict] = {}
    for i, (_, (w, h)) in good:
        for kind, odd in (("oblong", max(w, h) > 2 * min(w, h)), ("small", min(w, h) < size / 2)):
            if odd:
                entry = shapes.setdefault(kind, {"count": 0, "example": f"{files[i]} ({w}x{h})"})
                entry["count"] += 1
    return shapes


def load_or_build_cache(
    files: list[Path],
    root: Path,
    recipe: dict,
    channels: int,
    transform,
    cache_dir: Path | None,
    workers: int,
) -> tuple[np.ndarray, list[int], dict[str, str], bool]:
    """(NxCxHxW uint8 images, kept file indices, bad files, whether the cache was hit); odd shapes warned."""
    key = cache_key(files, root, recipe)
    if cache_dir is not None:
        array_path, meta_path = cache_dir / f"{key}.npy", cache_dir / f"{key}.json"
        if array_path.is_file() and meta_path.is_file():
            meta = json.loads(meta_path.read_text())
            warn_shapes(meta.get("shapes", {}), recipe, len(meta["kept"]))
            return np.load(array_path, mmap_mode="r"), meta["kept"], meta["bad"], True
    good, bad = decode_all(files, channels, transform, workers)
    shapes = odd_shapes(files, good, recipe["size"])
    warn_shapes(shapes, recipe, len(good))
    array = (
        np.stack([r for _, (r, _) in good]).transpose(0, 3, 1, 2)
        if good
        else np.zeros((0, channels, 1, 1), np.uint8)
    )
    kept = [i for i, _ in good]
    if cache_dir is not None and good:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache_dir / f"{key}.{os.getpid()}.tmp.npy"
        np.save(tmp, np.ascontiguousarray(array))
        os.replace(tmp, cache_dir / f"{key}.npy")
        meta = {"kept": kept, "bad": bad, "recipe": recipe, "shapes": shapes}
        (cache_dir / f"{key}.json").write_text(json.dumps(meta))
    return array, kept, bad, False


def warn_shapes(shapes: dict[str, dict], recipe: dict, total: int) -> None:
    if "oblong" in shapes:
        fix = (
            "pads them with white"
            if recipe["preprocess"] == "pad_white"
            else "crops their long side away; data.preprocess=pad_white keeps them whole"
        )
        oblong = shapes["oblong"]
        log.warning(
            "%d of %d images are far from square (over 2:1), e.g. %s: preprocess=%s %s",
            oblong["count"],
            total,
            oblong["example"],
            recipe["preprocess"],
            fix,
        )
    if "small" in shapes:
        small = shapes["small"]
        log.warning(
            "%d of %d images are under half of data.image_size=%d on their short side, e.g. %s: they are "
            "upscaled and will look blurry; a smaller data.image_size suits them",
            small["count"],
            total,
            recipe["size"],
            small["example"],
        )
