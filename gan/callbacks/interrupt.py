"""Ctrl-C (SIGINT) and SIGTERM (preemption) finish the current iteration, save `last.ckpt`, and stop.

The checkpoint is taken at a batch boundary, so resuming from it continues exactly where the run stopped.
`train.py` then exits with 128 + the signal number, as a killed process would.
"""

import logging
import signal
from pathlib import Path

import lightning as L

log = logging.getLogger(__name__)


class StoppedBySignal(Exception):
    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name} after saving a checkpoint")
        self.signum = signum


class SaveOnSignal(L.Callback):
    def __init__(self, dirpath: str, signals: tuple[str, ...] = ("SIGINT", "SIGTERM")):
        self.path = Path(dirpath) / "last.ckpt"
        self.signals = [getattr(signal, name) for name in signals]
        self.received: int | None = None
        self._previous: dict = {}

    def on_train_start(self, trainer, module) -> None:
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.received is not None:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.received = signum
        log.warning(
            "Received %s: saving a checkpoint after this iteration, then stopping "
            "(press Ctrl-C again to stop without saving).",
            signal.Signals(signum).name,
        )

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if self.received is None:
            return
        trainer.save_checkpoint(self.path, weights_only=False)  # the full state; says so, no log line
        for logger in trainer.loggers:  # the metrics up to this checkpoint reach the disk too
            logger.save()
        log.warning(
            "Saved %s at iteration %d; resume with ckpt_path=%s", self.path, module.iteration, self.path
        )
        # An exception, not trainer.should_stop: a clean stop would let ModelCheckpoint.on_train_end overwrite
        # last.ckpt with an end-of-training state, which Lightning resumes as a finished epoch.
        raise StoppedBySignal(self.received)

    def teardown(self, trainer, module, stage: str) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
