"""Progress as lines, for logs that are not a terminal (nohup, SLURM, CI), where the progress bar prints
nothing: every `every_seconds`, one line with the iteration (of the total when the run names one), speed,
time left, the losses, the last val/fid and the iteration last.ckpt holds. In a terminal the bar does this,
so nothing is printed there unless `terminal=true`."""

import sys
import time

import lightning as L

from gan.callbacks.budget import IterationBudget
from gan.callbacks.checkpoint import Checkpoint
from gan.run.clock import duration, say, time_budget


def planned_iterations(trainer) -> int | None:
    """The iteration the run stops at, when it names one (max_iterations, or a number of epochs)."""
    budget = next((c for c in trainer.callbacks if isinstance(c, IterationBudget)), None)
    if budget is not None:
        return budget.max_iterations
    batches = trainer.num_training_batches
    if trainer.max_epochs and trainer.max_epochs > 0 and batches not in (None, float("inf")):
        return int(trainer.max_epochs * batches)
    return None


LOSSES = (("train/d_loss", "d_loss"), ("train/g_loss", "g_loss"))


class ProgressLines(L.Callback):
    def __init__(self, every_seconds: float = 30, terminal: bool = False):
        self.every_seconds, self.terminal = every_seconds, terminal

    @property
    def active(self) -> bool:
        return self.terminal or not sys.stdout.isatty()

    def on_train_start(self, trainer, module) -> None:
        self.start = self.last = time.perf_counter()
        self.first = module.iteration

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        now = time.perf_counter()
        if now - self.last < self.every_seconds or not self.active or not trainer.is_global_zero:
            return
        self.last = now
        say(self.line(trainer, module))

    def line(self, trainer, module) -> str:
        iteration, now = module.iteration, time.perf_counter()
        rate = (iteration - self.first) / max(now - self.start, 1e-9)
        total = planned_iterations(trainer)
        parts = [f"iteration {iteration:,}" + (f"/{total:,}" if total else ""), f"{rate:.1f} it/s"]
        left = (total - iteration) / rate if total and rate > 0 else None
        if (timer := time_budget(trainer)) is not None:
            left = min(left, timer.time_remaining()) if left is not None else timer.time_remaining()
        if left is not None:
            parts.append(f"{duration(max(left, 0))} left")
        metrics = trainer.callback_metrics
        losses = [f"{name} {float(metrics[key]):.3f}" for key, name in LOSSES if key in metrics]
        logged = getattr(module, "logged_at", iteration)
        if losses:  # from the last training row (every trainer.log_every_n_steps)
            parts.append(", ".join(losses) + (f" (at {logged:,})" if logged != iteration else ""))
        if "val/fid" in metrics:
            parts.append(f"val/fid {float(metrics['val/fid']):.4g}")
        saved = next((c.saved_at for c in trainer.callbacks if isinstance(c, Checkpoint)), -1)
        if saved > 0:
            parts.append(f"last.ckpt at {saved:,}")
        return ", ".join(parts)
