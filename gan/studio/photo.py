"""Start from a photo: an upload checked and prepared as the training images were, and the search for the
nearest design running beside the server (gan/studio/projection.py), which the page polls for progress.

Bounds: a photo of at most MAX_PHOTO_BYTES, MAX_PHOTO_PIXELS and MAX_DECODED_BYTES (read from its header,
before decoding), in one of FORMATS, no more oblong than 2:1 (the folder
datasets call such files oblong), at least MIN_SIDE pixels a side; one search at a time (a new photo stops
the last search), each at most MAX_SEARCH_STEPS steps and `Settings.seconds` of wall time.
"""

import base64
import binascii
import io
import itertools
import math
import struct
import threading
import time
import traceback
import warnings

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from gan.data.images import preprocess, to_mode

MAX_PHOTO_BYTES = 10_000_000
MAX_PHOTO_PIXELS = 40_000_000
MAX_DECODED_BYTES = 120_000_000  # 40 MP of RGB: what decoding may allocate, read from the header first
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
MAX_ASPECT, MIN_SIDE, MAX_SEARCH_STEPS = 2.0, 16, 200


class PhotoError(ValueError):
    """An upload the studio cannot use; the message is a sentence for the page."""


def decode_upload(data) -> Image.Image:
    """The uploaded file (a `data:` URL or bare base64), opened and checked, not yet converted. Its size is
    read from the header and checked before a pixel is decoded, so a small file claiming a huge image (a
    decompression bomb) or carrying megabytes of compressed text is a sentence, not a stall."""
    if not isinstance(data, str) or not data:
        raise PhotoError("drop a photo (JPEG, PNG or WebP) on the page to start from it")
    _, _, payload = data.rpartition(",") if data.startswith("data:") else ("", "", data)
    if len(payload) > MAX_PHOTO_BYTES * 4 // 3 + 4:
        raise PhotoError(f"the photo is over {MAX_PHOTO_BYTES // 1_000_000} MB; use a smaller file")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise PhotoError("the upload is not a file the page encoded (base64); drop the photo again") from None
    image = open_header(raw)
    check_size(image)
    try:
        image.load()
    except Image.DecompressionBombError:
        raise PhotoError(f"the photo is larger than {MAX_PHOTO_PIXELS // 10**6} MP inside") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as err:
        raise PhotoError(f"the image could not be decoded (damaged or cut short: {err})") from None
    return image


def open_header(raw: bytes) -> Image.Image:
    """The image's header only (Pillow decodes nothing until `load`), in the formats a browser shows."""
    try:
        with warnings.catch_warnings():  # over 89 MP Pillow warns; check_size refuses it in a sentence
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(raw), formats=FORMATS)
    except Image.DecompressionBombError:
        claimed, most = 2 * Image.MAX_IMAGE_PIXELS // 10**6, MAX_PHOTO_PIXELS // 10**6
        raise PhotoError(f"the photo claims over {claimed} MP; at most {most} MP") from None
    except ValueError as err:  # Pillow refuses a text chunk that inflates past ImageFile's limits
        raise PhotoError(
            f"the image carries more text than an image needs ({err}); save it again without"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, EOFError, IndexError, struct.error):
        raise PhotoError(
            "this file is not an image the studio can read (JPEG, PNG, WebP, GIF, BMP, TIFF)"
        ) from None


def check_size(image: Image.Image) -> None:
    w, h = image.size
    if w * h > MAX_PHOTO_PIXELS:
        raise PhotoError(
            f"the photo is {w}x{h} ({w * h / 1e6:.0f} MP); at most {MAX_PHOTO_PIXELS // 10**6} MP"
        )
    decoded = (
        w * h * len(image.getbands()) * (4 if image.mode in ("I", "F") else 2 if "16" in image.mode else 1)
    )
    if decoded > MAX_DECODED_BYTES:
        raise PhotoError(
            f"the photo would take {decoded / 1e6:.0f} MB decoded ({image.mode}); at most "
            f"{MAX_DECODED_BYTES // 10**6} MB"
        )
    if min(w, h) < MIN_SIDE:
        raise PhotoError(f"the photo is {w}x{h}; it needs at least {MIN_SIDE} pixels a side")
    if max(w, h) > MAX_ASPECT * min(w, h):
        raise PhotoError(
            f"the photo is {w}x{h}, {max(w, h) / min(w, h):.1f}:1; the designs are square, so crop it to at "
            f"most {MAX_ASPECT:.0f}:1 (better: roughly square, the object centred) first"
        )


def prepare(image: Image.Image, channels: int, size: int, kind: str, crop) -> torch.Tensor:
    """[C, size, size] in [-1, 1], through the training data's own conversion and preprocessing."""
    try:
        array = np.asarray(preprocess(to_mode(image, channels), kind, size, crop), dtype=np.uint8)
    except (OSError, ValueError) as err:
        raise PhotoError(f"the image's colours ({image.mode}) could not be converted: {err}") from None
    array = array[:, :, None] if array.ndim == 2 else array
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 127.5 - 1


class Search:
    """One photo's search, run in its own thread; `status()` is what the page polls."""

    numbers = itertools.count(1)

    def __init__(self, run, steps: int):
        self.number, self.steps, self.run = next(self.numbers), steps, run
        self.state, self.step, self.loss, self.preview = "running", 0, None, None
        self.phase = "searching"  # then "comparing": the model's own designs searched, once a launch
        self.result, self.error, self.started, self.seconds = None, None, time.perf_counter(), None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._work, name=f"photo-search-{self.number}", daemon=True)

    def start(self) -> "Search":
        self.thread.start()
        return self

    def told(self, step: int, steps: int, loss: float, preview) -> None:
        self.step, self.loss, self.preview = step, loss if math.isfinite(loss) else None, preview

    def _work(self) -> None:
        try:
            self.result = self.run(self)
            self.state = "cancelled" if self.stop.is_set() else "done"
        except Exception as err:  # a bug: say so on the page, keep serving
            traceback.print_exc()
            self.state, self.error = "failed", f"the search failed: {err!r}"
        self.seconds = time.perf_counter() - self.started

    def status(self) -> dict:
        elapsed = self.seconds if self.seconds is not None else time.perf_counter() - self.started
        return {
            "search": self.number,
            "state": self.state,
            "phase": self.phase,
            "step": self.step,
            "steps": self.steps,
            "loss": self.loss,
            "seconds": round(elapsed, 2),
            "preview": self.preview,
            "error": self.error,
            **(self.result or {}),
        }
