"""Writes that must not cost a run: a checkpoint that cannot be written leaves the previous one in place
and training goes on; grids, GIFs, plots and CSV rows that cannot be written warn once and are skipped."""

import logging
from contextlib import contextmanager

from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

log = logging.getLogger(__name__)


@contextmanager
def non_essential(what: str):
    """Around a write training does not need: an OSError (disk full, permissions) becomes one warning."""
    try:
        yield
    except OSError as err:
        log.warning("could not write %s (%s); training goes on without it", what, err.strerror or err)


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer (already atomic: a temp file moved into place). A failed write, e.g.
    a full disk, says so in one line instead of ending the run; the previous file is untouched and the
    next save tries again. Caught here, on the one rank that writes, so DDP's barrier after it still meets."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        try:
            super().save_checkpoint(checkpoint, path, storage_options)
        except OSError as err:
            log.warning(
                "could not write checkpoint %s (%s); the previous one there is intact and loadable",
                path,
                err.strerror or err,
            )
