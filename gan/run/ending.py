"""The block a finished run prints last: how long it trained, how good it got in which feature space, where
its files are, and the next commands with those paths."""

import shlex
from pathlib import Path

from gan.callbacks.budget import IterationBudget
from gan.callbacks.checkpoint import Checkpoint
from gan.callbacks.fid import FID
from gan.callbacks.samples import SampleGrid
from gan.cli import PYTHON, TRAIN
from gan.run.clock import duration, time_budget


def first(callbacks, kind):
    return next((c for c in callbacks if isinstance(c, kind)), None)


def train_on(run_dir: str) -> str | None:
    """The command that goes on training this run (the same overrides, this run dir, ckpt_path=auto)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    kept = [o for o in HydraConfig.get().overrides.task if not o.startswith(("hydra.run.dir=", "ckpt_path="))]
    words = [TRAIN, *map(shlex.quote, kept), f"hydra.run.dir={shlex.quote(run_dir)}"]
    return " ".join(words) + " ckpt_path=auto"


def end_block(trainer, module, total_seconds: float, segments: int, run_dir: str | None = None) -> list[str]:
    iteration = getattr(module, "iteration", 0)
    spent = duration(total_seconds) + (f" over {segments} segments" if segments > 1 else "")
    if timer := out_of_time(trainer):
        spent += f", when trainer.max_time ({duration(timer._duration)}) was reached"
    lines = [f"Trained {iteration:,} iterations in {spent}."]
    fid = first(trainer.callbacks, FID)
    if fid is not None and fid.history:
        best_at, best = min(fid.history, key=lambda h: h[1])
        space = getattr(fid.feature, "name", type(fid.feature).__name__)
        last = fid.history[-1][1]
        metrics = trainer.callback_metrics
        quality = (
            f"; precision {float(metrics['val/precision']):.2f}, recall {float(metrics['val/recall']):.2f}"
            if "val/recall" in metrics
            else ""
        )
        if len(fid.history) > 1:
            best_line = (
                f"Best val/fid {best:.4g} at iteration {best_at:,} (features: {space}); last {last:.4g}"
            )
            lines.append(best_line + quality + ".")
        else:
            lines.append(f"val/fid {last:.4g} at iteration {best_at:,} (features: {space}){quality}.")
    checkpoint = first(trainer.callbacks, Checkpoint)
    saved = [p for p in (checkpoint.best_path, checkpoint.last_path) if p.is_file()] if checkpoint else []
    if saved:
        lines.append("Checkpoints: " + ", ".join(str(p) for p in saved))
    grids = first(trainer.callbacks, SampleGrid)
    if grids is not None:
        last_grid = grids.dirpath / f"iter_{iteration:07d}.png"
        shown = [p for p in (last_grid, grids.dirpath / "progress.gif") if p.is_file()]
        if shown:
            lines.append("Samples: " + ", ".join(str(p) for p in shown))
    if saved:
        ckpt = saved[0]
        lines.append(f"Next: {PYTHON} -m gan.generate ckpt_path={ckpt} num_images=64")
        lines.append(f"      {PYTHON} -m gan.studio ckpt_path={ckpt}")
        if run_dir and (more := train_on(run_dir)):
            lines.append(f"      {more}  # train on: raise {what_ended(trainer, module)}")
    if run_dir:
        kept = [n for n in ("summary.json", "loss_curves.png", "train.log") if (Path(run_dir) / n).is_file()]
        if kept:
            lines.append(f"Logs: {', '.join(kept)} in {run_dir}")
    return lines


def out_of_time(trainer):
    """The run's Timer when `trainer.max_time` ran out, else None."""
    timer = time_budget(trainer)
    return timer if timer is not None and timer.time_remaining() <= 0 else None


def what_ended(trainer, module) -> str:
    """The length key that stopped this run: the one to raise to train on."""
    budget = first(trainer.callbacks, IterationBudget)
    if budget is not None and getattr(module, "iteration", 0) >= budget.max_iterations:
        return "max_iterations"
    if out_of_time(trainer):
        return "trainer.max_time"
    if trainer.limit_train_batches not in (1.0, float("inf")):  # a part of each epoch (debug=smoke)
        return "trainer.max_epochs or trainer.limit_train_batches"
    return "trainer.max_epochs"


def no_checkpoint(trainer) -> str | None:
    """A run with checkpointing on whose end is not on disk (a full disk): the line to say last."""
    checkpoint = first(trainer.callbacks, Checkpoint)
    if checkpoint is None:
        return None
    path = Path(checkpoint.last_path)
    failed = str(path) in getattr(trainer.strategy.checkpoint_io, "failed", ())
    if not path.is_file():
        return f"No checkpoint was saved ({path} is missing: see the warnings above)."
    if failed:
        return f"The end of this run was not saved: {path} could not be written and holds an older state."
    return None


def worker_died(err: BaseException, trainer, module) -> str | None:
    """A data loader worker killed (the out-of-memory killer, or from outside): what happened and how to go
    on, in one line, instead of PyTorch's ~60-line traceback; None for any other error."""
    text = str(err).strip()
    if not (isinstance(err, RuntimeError) and text.startswith("DataLoader worker")):
        return None
    # PyTorch says "... is killed by signal: Killed." or, when its timeout check sees the exit first,
    # "... exited unexpectedly"
    why = text.split(" is ", 1)[-1].rstrip(". ") if " is killed" in text else "exited unexpectedly"
    checkpoint = first(trainer.callbacks, Checkpoint)
    kept = Path(checkpoint.last_path) if checkpoint else None
    if kept is None or not kept.is_file():
        return (
            f"A data loader worker died ({why}) at iteration {module.iteration:,}; no checkpoint saved yet."
        )
    return (
        f"A data loader worker died ({why}; out of memory, or killed from outside) at iteration "
        f"{module.iteration:,}; {kept} holds iteration {checkpoint.saved_at:,}: resume with ckpt_path={kept} "
        "(data.num_workers=0 needs less memory)."
    )
