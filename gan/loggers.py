"""Loggers on one clock: every scalar, image and plot is logged against the iteration (batches trained,
1-based: the values of the 100th batch, and the FID measured after it, are at iteration 100).

`log_metrics` is the one way metrics reach the loggers (the module's training rows, FID, health), so CSV,
TensorBoard and W&B share that x-axis. On resume, `resume_at(iteration)` makes each logger keep what was
logged up to the checkpoint and nothing after it: the CSV drops later rows, TensorBoard purges later
events, W&B continues the run directory's run id. Lightning's CSVLogger would delete the history instead.
W&B runs offline unless WANDB_MODE or WANDB_API_KEY (from `.env`) says otherwise.
"""

import importlib.util
import logging
import os
import uuid
from pathlib import Path

import torch
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only

from gan.errors import require_extra
from gan.patches import ResumableCSVWriter, set_purge_step

log = logging.getLogger(__name__)


def log_metrics(trainer, metrics: dict, iteration: int) -> dict[str, float]:
    """Send `metrics` (floats or 0-d tensors) to every logger at `iteration`, into `trainer.callback_metrics`
    (progress bar, sweepers, summary.json) and to every callback with an `observe(metrics, iteration)`."""
    tensors = [v.detach().float().reshape(()) for v in metrics.values() if isinstance(v, torch.Tensor)]
    read = iter(torch.stack(tensors).tolist() if tensors else [])  # one host sync for the whole row
    values = {k: next(read) if isinstance(v, torch.Tensor) else float(v) for k, v in metrics.items()}
    trainer.callback_metrics.update({k: torch.tensor(v) for k, v in values.items()})
    for logger in trainer.loggers:
        logger.log_metrics(values, step=iteration)
    for callback in trainer.callbacks:
        if hasattr(callback, "observe"):
            callback.observe(values, iteration)
    return values


def log_image(trainer, key: str, image: torch.Tensor, iteration: int) -> None:
    """A [C, H, W] image in [0, 1] to the loggers that show images, at `iteration`."""
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            logger.log_image(key, [image], step=iteration)
        elif isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(key, image, iteration)


class ResumableCSVLogger(CSVLogger):
    """Lightning's CSVLogger that keeps history (see ResumableCSVWriter) and flushes at every checkpoint,
    so the rows on disk always reach the checkpoint a resumed run starts from."""

    @rank_zero_only
    def resume_at(self, iteration: int) -> None:
        self.experiment.keep_through = iteration

    def after_save_checkpoint(self, checkpoint_callback) -> None:
        self.save()

    @property
    def experiment(self) -> ResumableCSVWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = ResumableCSVWriter(log_dir=self.log_dir)
        return self._experiment


class ResumableTensorBoardLogger(TensorBoardLogger):
    """TensorBoard that hides the events a killed run wrote after its checkpoint (`purge_step`) and flushes
    its events file at every checkpoint."""

    def __init__(self, *args, **kwargs):
        if importlib.util.find_spec("tensorboardX") is None:
            require_extra("tensorboard", "tensorboard", what="logger=tensorboard")
        super().__init__(*args, **kwargs)

    def resume_at(self, iteration: int) -> None:
        set_purge_step(self, iteration + 1)

    def after_save_checkpoint(self, checkpoint_callback) -> None:
        if self._experiment is not None:
            self._experiment.flush()


class IterationWandbLogger(WandbLogger):
    """W&B with the iteration as its step and as every chart's x-axis (`iteration`, by define_metric)."""

    @property
    def experiment(self):
        fresh = self._experiment is None
        run = super().experiment
        if fresh and rank_zero_only.rank == 0 and getattr(run, "define_metric", None):
            run.define_metric("iteration")
            run.define_metric("*", step_metric="iteration", step_sync=True)
            offline = f"offline; upload with `wandb sync {Path(run.dir).parent}`"
            log.info("W&B: %s", run.url if getattr(run.settings, "mode", "") == "online" else offline)
        return run

    @rank_zero_only
    def log_metrics(self, metrics, step: int | None = None) -> None:
        if step is None:
            return self.experiment.log(dict(metrics))
        self.experiment.log({**metrics, "iteration": step}, step=step)

    def resume_at(self, iteration: int) -> None:
        """Same run id (made once per run directory); W&B keeps what it has and drops steps logged again."""


def wandb_mode() -> str:
    return os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_API_KEY") else "offline")


def run_id(save_dir: str) -> str:
    """The run directory's W&B id, made once: a resumed run (same directory, `ckpt_path=auto`) goes on
    logging into the same W&B run, offline (`wandb sync`) or online."""
    path = Path(save_dir) / "wandb" / "run_id"
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new_id := uuid.uuid4().hex[:12])
    return new_id


def wandb_logger(
    save_dir: str,
    project: str = "gan",
    entity: str | None = None,
    name: str | None = None,
    group: str | None = None,
    tags: list[str] | None = None,
    log_model: bool = False,
) -> WandbLogger:
    import wandb

    logger = IterationWandbLogger(
        save_dir=save_dir,
        id=run_id(save_dir),
        resume="allow",
        project=os.environ.get("WANDB_PROJECT") or project,
        entity=os.environ.get("WANDB_ENTITY") or entity,
        name=name,
        group=group,
        tags=tags,
        log_model=log_model,
        mode=wandb_mode(),
        # its banner and its ~30-line history at the end pushed the run's own closing lines out of view:
        # silent, with one line of ours saying where the run is
        settings=wandb.Settings(silent=True),
    )
    # Lightning passes anonymous=None, which wandb 0.31 warns about on every run ("has no effect")
    logger._wandb_init.pop("anonymous", None)
    return logger


def finish_wandb() -> None:
    """Close the W&B run so the next job of a multirun starts its own."""
    import sys

    if "wandb" in sys.modules:
        import wandb

        if wandb.run is not None:
            wandb.finish()
