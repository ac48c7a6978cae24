"""Each private internal gan/patches.py relies on still exists and still behaves as assumed: an upgrade of
Hydra, Lightning or torch that changes one fails here, naming it."""

import csv
import sys

import hydra
import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger

from gan import patches


def test_hydra_run_and_report_is_where_hydra_main_reports_errors(monkeypatch, tmp_path):
    import hydra._internal.utils as hydra_utils

    seen = []

    def wrapper(report):
        def routed(func):
            try:
                return func()
            except Exception as err:
                seen.append(err)
                raise SystemExit(2) from None

        return routed

    monkeypatch.setattr(hydra_utils, "run_and_report", hydra_utils.run_and_report)  # undone after the test
    patches.route_hydra_errors(wrapper)
    patches.route_hydra_errors(wrapper)  # a second call does not wrap twice

    @hydra.main(version_base="1.3", config_path=None)
    def app(cfg):
        return None

    monkeypatch.setattr(sys, "argv", ["app", "no_such_key=1", f"hydra.run.dir={tmp_path}"])
    with pytest.raises(SystemExit) as exit_info:
        app()
    assert exit_info.value.code == 2
    assert len(seen) == 1 and "Could not override 'no_such_key'" in str(seen[0])


def test_csv_writer_reads_the_history_lightning_would_refuse(tmp_path):
    with open(tmp_path / "metrics.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=["step", "loss"])
        writer.writeheader()
        writer.writerows({"step": s, "loss": s / 10} for s in range(1, 6))
    patches.ResumableCSVWriter.keep_through = 3
    try:
        writer = patches.ResumableCSVWriter(
            log_dir=str(tmp_path)
        )  # Lightning calls _check_log_dir_exists here
        writer.log_metrics({"loss": 0.6}, step=6)
        writer.save()
    finally:
        patches.ResumableCSVWriter.keep_through = 0
    with open(tmp_path / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [int(float(r["step"])) for r in rows] == [1, 2, 3, 6]
    assert float(rows[-1]["loss"]) == pytest.approx(0.6)


def test_tensorboard_reads_purge_step_from_kwargs(tmp_path, monkeypatch):
    from torch.utils.tensorboard import SummaryWriter

    created = []
    init = SummaryWriter.__init__

    def spy(self, *args, **kwargs):
        created.append(kwargs)
        init(self, *args, **kwargs)

    monkeypatch.setattr(SummaryWriter, "__init__", spy)
    logger = TensorBoardLogger(str(tmp_path), name="", version=0)
    patches.set_purge_step(logger, 7)
    logger.experiment.flush()
    assert [kwargs.get("purge_step") for kwargs in created] == [7]  # the writer is created with it


@pytest.mark.parametrize("bad", [0.0, 1.0])
def test_fused_adam_skips_the_whole_update_on_found_inf(bad):
    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.Adam([weight], lr=0.1, fused=True)
    assert patches.supports_found_inf(optimizer)
    assert not patches.supports_found_inf(torch.optim.Adam([weight], lr=0.1))  # fused=False: no device skip
    weight.grad = torch.ones(3)
    patches.skip_step_on_device(optimizer, torch.tensor(bad), optimizer.step)
    assert not hasattr(optimizer, "found_inf")
    moved = not torch.equal(weight.detach(), torch.ones(3))
    assert moved == (bad == 0.0)
    step = optimizer.state[weight].get("step")
    assert (step is not None and float(step) == 1.0) == (bad == 0.0)  # a skipped step is not counted
