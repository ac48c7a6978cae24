"""Ctrl-C (SIGINT) and SIGTERM (preemption) finish the current iteration, save `last.ckpt`, and stop.

The checkpoint is taken at a batch boundary, so resuming from it continues exactly where the run stopped;
`train.py` then exits with 128 + the signal number, as a killed process would. A second signal before that
(more than a second later: a wrapper such as `uv run` forwards the group's signal, so it arrives twice at
once) stops at once, without saving, in one line (exit 128 + its number); `summary.json` records either
ending.
A subclass of Lightning's Checkpoint, so it runs after every other callback of the iteration: what they
log at that iteration is in the checkpoint's logs.
"""

import logging
import os
import signal
import time
from pathlib import Path

from lightning.pytorch.callbacks import Checkpoint

from gan.paths import LAST

log = logging.getLogger(__name__)
ECHO_SECONDS = 1.0  # a second copy of the signal this soon is the same signal, not a second Ctrl-C


class StoppedBySignal(Exception):
    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name} after saving a checkpoint")
        self.signum = signum


class SaveOnSignal(Checkpoint):
    def __init__(self, dirpath: str, signals: tuple[str, ...] = ("SIGINT", "SIGTERM")):
        self.path = Path(dirpath) / LAST
        self.signals = [getattr(signal, name) for name in signals]
        self.received: int | None = None
        self.received_at = 0.0
        self.saved_at: int | None = None
        self.summary = None  # gan.run.summary.Summary, set by gan.run: the second signal writes it
        self._previous: dict = {}

    def on_train_start(self, trainer, module) -> None:
        self.trainer, self.module = trainer, module
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        if self.received == signum and time.monotonic() - self.received_at < ECHO_SECONDS:
            return  # the same signal twice at once: sent to the group and forwarded by a wrapper (`uv run`)
        if self.received is not None:
            self.stop_now(signum, name)
        self.received, self.received_at = signum, time.monotonic()
        again = "Ctrl-C" if signum == signal.SIGINT else name
        log.warning(
            "Received %s: saving %s when this iteration ends, then stopping (%s again stops at once, "
            "without saving).",
            name,
            self.path,
            again,
        )

    def stop_now(self, signum: int, name: str) -> None:
        """The second signal: no more work, one line, the summary, exit."""
        if self.saved_at is not None:
            said = f"{self.path} was saved at iteration {self.saved_at}"
        elif self.path.is_file():
            said = f"nothing saved since; {self.path} is the last periodic checkpoint"
        else:
            said = "nothing saved: there is no checkpoint yet"
        print(f"Second {name}: stopped at iteration {self.module.iteration}; {said}.", flush=True)
        if self.summary is not None:
            self.summary.write(f"stopped by a second {name}", self.trainer, self.module)
        os._exit(128 + signum)  # at once: no teardown that could take long or print a traceback

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if self.received is None:
            return
        trainer.save_checkpoint(self.path, weights_only=False)  # the full state; says so, no log line
        for logger in trainer.loggers:  # the metrics up to this checkpoint reach the disk too
            logger.save()
        self.saved_at = module.iteration
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
