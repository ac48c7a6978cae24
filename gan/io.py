"""Writes that a full disk cannot turn into a lost run.

`atomic_write` writes a file beside its target, flushes and fsyncs it, then renames it into place: the old
file stays whole until the new one is, and a failed write leaves no temporary file. Checkpoints
(`SafeCheckpointIO`) and `summary.json` go through it; grids, GIFs, plots and CSV rows that cannot be
written warn once (`non_essential`) and training goes on.
"""

import io
import logging
import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

log = logging.getLogger(__name__)
UMASK = os.umask(0o022)
os.umask(UMASK)  # only read: umask can be read by setting it


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """`write(file)` into a temporary file in `path`'s directory, then rename it to `path` (atomic on POSIX).
    On any failure, even KeyboardInterrupt, the temporary file is removed and `path` is as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~UMASK)  # mkstemp makes 0600: the file gets the permissions open() would give
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda file: file.write(text.encode()))


@contextmanager
def non_essential(what: str):
    """Around a write training does not need: an OSError (disk full, permissions) becomes one warning."""
    try:
        yield
    except OSError as err:
        log.warning("could not write %s (%s); training goes on without it", what, err.strerror or err)


class SafeCheckpointIO(TorchCheckpointIO):
    """Checkpoints written with `atomic_write` (Lightning's local writer serialises to memory, then writes
    straight into the target, so a full disk truncates the last good checkpoint). A failed write says in
    one line what is still there, and training goes on; the next save tries again. Caught here, on the one
    rank that writes, so DDP's barrier after it still meets. Remote paths (s3://...) keep Lightning's
    writer."""

    def __init__(self):
        super().__init__()
        self.failed: set[str] = set()  # paths whose latest write failed (gan.run.ending says so at the end)

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        if "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        buffer = io.BytesIO()  # serialised first: torch's zip writer turns a failed write into RuntimeError
        torch.save(checkpoint, buffer)
        try:
            atomic_write(path, lambda file: file.write(buffer.getbuffer()))
            self.failed.discard(str(path))
        except OSError as err:
            self.failed.add(str(path))
            kept = "the previous one there is untouched" if os.path.isfile(path) else "none is there yet"
            log.warning("could not write checkpoint %s (%s); %s", path, err.strerror or err, kept)
