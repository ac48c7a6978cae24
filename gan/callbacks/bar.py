"""The progress bar of a terminal: iterations of the whole run (iteration / total, or / -- on a time-limited
run), elapsed and time left (the sooner of the iterations and max_time), it/s and the losses. Lightning's
rich bar counts an epoch's batches and titles a time-limited run "Epoch 3/-2". Off when the output is not a
terminal: there ProgressLines (gan/callbacks/progress.py) prints lines, and the bar would print its last
frame into the log."""

import sys
from datetime import timedelta

from lightning.pytorch.callbacks import RichProgressBar
from rich.progress import ProgressColumn
from rich.text import Text

from gan.callbacks.progress import LOSSES, planned_iterations
from gan.run.clock import time_budget


class TimeColumn(ProgressColumn):
    """elapsed • left, where left is the sooner of the task's estimate and the trainer's max_time."""

    max_refresh = 0.5  # as Lightning's: no jitter

    def __init__(self, bar: "IterationBar", style):
        self.bar, self.style = bar, style
        super().__init__()

    def render(self, task) -> Text:
        elapsed = task.finished_time if task.finished else task.elapsed
        left = [max(0.0, t) for t in (task.time_remaining, self.bar.time_left()) if t is not None]
        shown = (
            "-:--:--" if t is None else str(timedelta(seconds=int(t)))
            for t in (elapsed, min(left, default=None))
        )
        return Text(" • ".join(shown), style=self.style)


class IterationBar(RichProgressBar):
    def __init__(self, refresh_rate: int = 10, terminal: bool | None = None, **kwargs):
        """terminal: None, on when stdout is a terminal; True or False forces it (tests)."""
        super().__init__(refresh_rate=refresh_rate, **kwargs)
        self.terminal = terminal

    @property
    def is_enabled(self) -> bool:
        terminal = sys.stdout.isatty() if self.terminal is None else self.terminal
        return super().is_enabled and terminal

    def time_left(self) -> float | None:
        timer = time_budget(self.trainer)
        return timer.time_remaining() if timer is not None else None

    def get_metrics(self, trainer, module) -> dict:
        """d_loss, g_loss and the last val/fid, short (Lightning's adds the logger's version, v_num)."""
        metrics = trainer.callback_metrics
        keys = (*LOSSES, ("val/fid", "val/fid"))
        return {name: f"{float(metrics[key]):.4g}" for key, name in keys if key in metrics}

    def configure_columns(self, trainer) -> list:
        columns = super().configure_columns(trainer)
        return [TimeColumn(self, self.theme.time) if type(c).__name__ == "CustomTimeColumn" else c
                for c in columns]  # fmt: skip

    def on_train_epoch_start(self, trainer, module) -> None:
        """One task for the whole run, created once, starting at the resumed iteration (an epoch does not
        reset it)."""
        if self.is_disabled or self.progress is None or self.train_progress_bar_id is not None:
            return
        total = planned_iterations(trainer)
        self.train_progress_bar_id = self.progress.add_task(
            "Iteration", total=float("inf") if total is None else total, completed=module.iteration
        )
        self.refresh()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if self.is_disabled:
            return
        self.on_train_epoch_start(trainer, module)
        self._update(self.train_progress_bar_id, module.iteration)
        self._update_metrics(trainer, module)

    def on_train_end(self, trainer, module) -> None:
        """The bar's last frame stays on screen and what the end prints goes below it, not onto its line."""
        if not self.is_disabled:
            self._update(self.train_progress_bar_id, module.iteration)
        self._stop_progress()
