"""Every place this project relies on a library's private internals, in one module, each with a test in
tests/test_patches.py that fails loudly (naming the internal) when an upgrade changes it. These are why the
dependency ranges in pyproject.toml stop where CI has tested them.

- Hydra: `hydra._internal.utils.run_and_report` prints a config error at length; `route_hydra_errors`
  replaces it so a mistyped option is one line (gan/cli.py).
- Lightning's CSV `ExperimentWriter`: `_check_log_dir_exists` (called from its constructor) refuses or
  deletes an existing metrics.csv; `ResumableCSVWriter` reads it instead, so a resumed run keeps its rows.
- Lightning's `TensorBoardLogger._kwargs["purge_step"]`: read when the writer is created; `set_purge_step`
  hides the events a killed run wrote after its checkpoint.
- torch's fused optimizers: `_step_supports_amp_scaling` and the `found_inf` attribute AMP's grad scaler
  sets; `skip_step_on_device` hands the divergence guard's verdict over the same way (gan/guard.py), so a bad
  step is skipped without a host sync.
"""

import csv
from collections.abc import Callable

import torch
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from gan.io import non_essential


def route_hydra_errors(wrapper: Callable[[Callable], Callable]) -> None:
    """Hydra's error report becomes `wrapper(hydra's own run_and_report)` (once: a second call is a no-op)."""
    import hydra._internal.utils as hydra_utils

    report = hydra_utils.run_and_report
    if getattr(report, "gan_routed", False):
        return
    routed = wrapper(report)
    routed.gan_routed = True
    hydra_utils.run_and_report = routed


class ResumableCSVWriter(ExperimentWriter):
    """Appends to the run's metrics.csv: at the first save, rows past `keep_through` (logged after the
    checkpoint a resumed run starts from) are dropped, every earlier row is kept; a fresh run (0) starts
    the file anew. A re-run that logs nothing leaves the file as it was."""

    keep_through = 0

    def _check_log_dir_exists(self) -> None:
        self._history: list[dict] | None = None
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                self._history = list(csv.DictReader(file))

    def save(self) -> None:
        if self._history is not None and self.metrics:
            kept = [row for row in self._history if int(float(row["step"])) <= self.keep_through]
            self.metrics = kept + self.metrics
            self.metrics_keys = []
            self._fs.rm_file(self.metrics_file_path)
            self._history = None
        with non_essential(f"metrics rows to {self.metrics_file_path}"):
            super().save()


def set_purge_step(logger, step: int) -> None:
    """TensorBoard drops events at `step` and later when its writer is created (at fit start)."""
    logger._kwargs["purge_step"] = step


def supports_found_inf(optimizer: torch.optim.Optimizer) -> bool:
    return bool(getattr(optimizer, "_step_supports_amp_scaling", False)) and bool(
        optimizer.defaults.get("fused")
    )


def skip_step_on_device(optimizer: torch.optim.Optimizer, bad: torch.Tensor, step_fn: Callable):
    """`step_fn()` with the fused kernel told to skip the whole update where `bad` is 1 (weights, moments and
    the step count), as AMP's grad scaler tells it; the caller checks `supports_found_inf` first."""
    optimizer.found_inf = bad
    try:
        return step_fn()
    finally:
        del optimizer.found_inf
