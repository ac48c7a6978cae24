"""Logger factories. W&B runs offline unless WANDB_MODE or WANDB_API_KEY (from `.env`) says otherwise.
`ResumableCSVLogger` keeps a run's metrics history across resumes (Lightning's CSVLogger deletes it)."""

import csv
import os
import uuid
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger, WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from gan.callbacks.io import non_essential


class ResumableCSVWriter(ExperimentWriter):
    """Appends to the run's metrics.csv: at the first save, rows at or past the first newly logged step (those
    written after the checkpoint a resumed run starts from) are dropped, every earlier row is kept. A re-run
    that logs nothing leaves the file as it was."""

    def _check_log_dir_exists(self) -> None:
        self._history: list[dict] | None = None
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                self._history = list(csv.DictReader(file))

    def save(self) -> None:
        if self._history is not None and self.metrics:
            first_new = min(int(row["step"]) for row in self.metrics)
            kept = [row for row in self._history if int(float(row["step"])) < first_new]
            self.metrics = kept + self.metrics
            self.metrics_keys = []
            self._fs.rm_file(self.metrics_file_path)
            self._history = None
        with non_essential(f"metrics rows to {self.metrics_file_path}"):
            super().save()


class ResumableCSVLogger(CSVLogger):
    """Lightning's CSVLogger that keeps history (see ResumableCSVWriter) and flushes at every checkpoint,
    so the rows on disk always reach the checkpoint a resumed run starts from."""

    def after_save_checkpoint(self, checkpoint_callback) -> None:
        self.save()

    @property
    def experiment(self) -> ResumableCSVWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = ResumableCSVWriter(log_dir=self.log_dir)
        return self._experiment


def wandb_mode() -> str:
    return os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_API_KEY") else "offline")


def run_id(save_dir: str) -> str:
    """The run directory's W&B id, made once: a resumed run (same directory, `ckpt_path=auto`) goes on
    logging into the same W&B run, offline (`wandb sync` merges) or online."""
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
    logger = WandbLogger(
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
