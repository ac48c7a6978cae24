"""Checkpoints on the iteration clock: `last.ckpt` to resume from, `best.ckpt` to keep.

- `checkpoints/last.ckpt`: every `every_n_iterations` and at the end of training, also when a time or
  iteration budget stops the run between two saves (Lightning's ModelCheckpoint would keep the older state).
- `checkpoints/iteration_<N>.ckpt`: a copy kept at each iteration of `keep_at` (a run's earlier lengths,
  to compare or sample from later).
- `checkpoints/best.ckpt`: whenever `best_metric` (the run's `optimized_metric`, `val/fid` by default)
  reaches a new best; only when that metric is logged (FID on).

Both are full, resumable checkpoints, written atomically (gan/io.py). Lightning's ModelCheckpoint
is the base for what loggers expect of a checkpoint callback (W&B's `log_model` reads `best_model_path`);
its step-counted triggers are replaced: Lightning counts optimizer steps, two or more per iteration.
"""

from pathlib import Path

import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from gan.cadence import due
from gan.paths import BEST, LAST, kept_name


class Checkpoint(ModelCheckpoint):
    def __init__(
        self,
        dirpath: str,
        every_n_iterations: int = 500,
        best_metric: str | None = "val/fid",
        best_mode: str = "min",
        keep_at: list[int] | None = None,
    ):
        super().__init__(dirpath=dirpath, save_top_k=0, every_n_train_steps=0, enable_version_counter=False)
        if best_mode not in ("min", "max"):
            raise ValueError(f"best_mode={best_mode!r}: allowed values are min, max")
        self.every_n_iterations, self.best_metric, self.best_mode = every_n_iterations, best_metric, best_mode
        self.last_path, self.best_path = Path(dirpath) / LAST, Path(dirpath) / BEST
        self.saved_at = -1  # iteration last.ckpt holds
        self.keep_at = set(keep_at or ())

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.write_best(trainer, module)
        if due(module.iteration, self.every_n_iterations):
            self.write_last(trainer, module)
        if module.iteration in self.keep_at:
            self._save_checkpoint(trainer, str(self.last_path.with_name(kept_name(module.iteration))))

    def on_train_end(self, trainer, module) -> None:
        self.write_best(trainer, module)
        if self.saved_at != module.iteration:
            self.write_last(trainer, module)

    def on_train_epoch_end(self, trainer, module) -> None:
        pass  # no epoch-counted saves: the iteration clock decides

    def on_validation_end(self, trainer, module) -> None:
        pass

    def write_last(self, trainer, module) -> None:
        self.last_model_path, self.saved_at = str(self.last_path), module.iteration  # part of the state saved
        self._save_checkpoint(trainer, str(self.last_path))

    def write_best(self, trainer, module) -> None:
        value = trainer.callback_metrics.get(self.best_metric) if self.best_metric else None
        if value is None or not torch.isfinite(value):
            return
        best = self.best_model_score
        if best is not None and not (value < best if self.best_mode == "min" else value > best):
            return  # not a new best (a metric not measured this iteration keeps its old value)
        self.best_model_score, self.best_model_path = value.detach().clone(), str(self.best_path)
        self._save_checkpoint(trainer, str(self.best_path))

    def state_dict(self) -> dict:
        return {**super().state_dict(), "saved_at": self.saved_at}

    def load_state_dict(self, state: dict) -> None:
        # not ModelCheckpoint's: it warns when the run directory moved, and best.ckpt moved with it
        self.best_model_score = state.get("best_model_score")
        self.best_model_path = str(self.best_path) if self.best_model_score is not None else ""
        self.saved_at = state.get("saved_at", -1)
