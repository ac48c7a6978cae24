"""The end of a run (gan/run/ending.py): a block that names what the run reached and where its files are, the
whole run's wall time over its segments, and a run that saved no checkpoint says so last and fails."""

import json
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf

from gan.run.train import train
from tests.conftest import smoke

FID = {
    "_target_": "gan.callbacks.fid.FID",
    "feature": {"_target_": "gan.metrics.features.build", "name": "small_conv"},
    "every_n_iterations": 2,
    "num_images": 64,
    "batch_size": 32,
}


def test_a_finished_run_ends_with_its_best_fid_files_and_next_commands(tmp_path, capsys):
    cfg = smoke("trainer.limit_train_batches=1.0", "max_iterations=3", output_dir=tmp_path)
    cfg.callbacks.fid = OmegaConf.create(FID)
    train(cfg)
    out = capsys.readouterr().out.splitlines()
    block = out[out.index(next(line for line in out if line.startswith("Trained 3 iterations in"))) :]
    best = json.loads((tmp_path / "summary.json").read_text())["metrics"]["val/best_fid"]
    assert (
        block[1].startswith(f"Best val/fid {best:.4g} at iteration ")
        and "(features: small_conv-64-0)" in block[1]
    )
    ckpts = tmp_path / "checkpoints"
    assert block[2] == f"Checkpoints: {ckpts / 'best.ckpt'}, {ckpts / 'last.ckpt'}"
    assert (
        block[3]
        == f"Samples: {tmp_path / 'samples' / 'iter_0000003.png'}, {tmp_path / 'samples' / 'progress.gif'}"
    )
    assert block[4] == f"Next: uv run python -m gan.generate ckpt_path={ckpts / 'best.ckpt'} num_images=64"
    assert block[5] == f"      uv run python -m gan.studio ckpt_path={ckpts / 'best.ckpt'}"
    assert block[6].endswith(f"hydra.run.dir={tmp_path} ckpt_path=auto  # train on: raise max_iterations")
    assert block[-1] == f"Logs: summary.json, loss_curves.png in {tmp_path}"  # train.log: Hydra's, not here


def test_summary_counts_the_wall_time_of_every_segment(tmp_path, capsys):
    train(
        smoke(
            "trainer.limit_train_batches=1.0",
            "trainer.max_epochs=null",
            "max_iterations=2",
            output_dir=tmp_path,
        )
    )
    first = json.loads((tmp_path / "summary.json").read_text())
    train(
        smoke(
            "trainer.limit_train_batches=1.0",
            "trainer.max_epochs=null",
            "max_iterations=4",
            "ckpt_path=auto",
            output_dir=tmp_path,
        )
    )
    second = json.loads((tmp_path / "summary.json").read_text())
    assert second["iteration"] == 4 and second["segments"] == 2
    assert second["total_wall_seconds"] == pytest.approx(
        first["wall_seconds"] + second["wall_seconds"], rel=1e-6
    )
    assert "over 2 segments." in capsys.readouterr().out


def test_a_resume_after_a_kill_counts_the_lost_segments_time_from_the_checkpoint(tmp_path, capsys):
    run = ("trainer.limit_train_batches=1.0", "trainer.max_epochs=null")
    train(smoke(*run, "max_iterations=2", output_dir=tmp_path))
    held = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    clock = held["callbacks"]["Summary"]
    assert clock["segments"] == 1 and clock["total_wall_seconds"] > 0
    (tmp_path / "summary.json").unlink()  # a kill -9 writes none
    train(smoke(*run, "max_iterations=4", "ckpt_path=auto", output_dir=tmp_path))
    second = json.loads((tmp_path / "summary.json").read_text())
    assert second["segments"] == 2
    assert second["total_wall_seconds"] == pytest.approx(clock["total_wall_seconds"] + second["wall_seconds"])
    assert "over 2 segments." in capsys.readouterr().out


def test_a_smoke_run_says_which_keys_bound_its_length(tmp_path, capsys):
    train(smoke(output_dir=tmp_path))  # one epoch of 2 batches: max_iterations would not train on
    out = capsys.readouterr().out
    assert "ckpt_path=auto  # train on: raise trainer.max_epochs or trainer.limit_train_batches\n" in out


def test_a_run_that_saved_no_checkpoint_says_so_last_and_fails(tmp_path, monkeypatch, caplog):
    from gan.callbacks.checkpoint import Checkpoint

    monkeypatch.setattr(Checkpoint, "write_last", lambda self, trainer, module: None)  # every save lost
    with pytest.raises(SystemExit) as stopped:
        train(smoke(output_dir=tmp_path))
    assert stopped.value.code == 1
    assert caplog.records[-1].getMessage().startswith("No checkpoint was saved (")
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "finished, no checkpoint saved"


def test_a_log_that_is_not_a_terminal_gets_progress_lines(tmp_path, capsys):
    cfg = smoke("trainer.limit_train_batches=1.0", "max_iterations=3", output_dir=tmp_path)
    cfg.callbacks.model_checkpoint.every_n_iterations = 1
    cfg.callbacks.progress_log = OmegaConf.create(
        {"_target_": "gan.callbacks.progress.ProgressLines", "every_seconds": 0}
    )
    train(cfg)  # pytest's captured stdout is not a terminal
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("iteration ")]
    assert [line.split(",")[0] for line in lines] == ["iteration 1/3", "iteration 2/3", "iteration 3/3"]
    assert all(" it/s, " in line and " left, d_loss " in line and ", g_loss " in line for line in lines)
    assert lines[-1].endswith(", last.ckpt at 2")  # saved every iteration; the line comes before the save


def test_the_terminal_bar_counts_the_whole_runs_iterations_across_epochs(tmp_path):
    """Lightning's bar restarts at every epoch and titles a time-limited run "Epoch 3/-2"."""
    import io

    from rich.console import Console

    from gan.callbacks.bar import IterationBar

    cfg = smoke(
        "trainer.limit_train_batches=2", "trainer.max_epochs=-1", "max_iterations=5", output_dir=tmp_path
    )
    bars = []

    class Spy(IterationBar):
        def on_train_end(self, trainer, module):
            bars.append(dict(self.progress.tasks[0].__dict__, rendered=self.rendered()))

        def rendered(self):
            console = Console(file=io.StringIO(), width=200, force_terminal=False)
            console.print(self.progress)
            return console.file.getvalue()

    cfg.callbacks.progress_bar = OmegaConf.create({"_target_": f"{__name__}.Spy", "terminal": True})
    globals()["Spy"] = Spy
    train(cfg)
    (task,) = bars
    assert (task["description"], task["completed"], task["total"]) == ("Iteration", 5, 5)
    assert "Iteration" in task["rendered"] and "5/5" in task["rendered"] and "Epoch" not in task["rendered"]
    assert "d_loss: " in task["rendered"] and "v_num" not in task["rendered"]
    assert not IterationBar().is_enabled  # pytest's captured stdout is not a terminal


def test_work_before_training_prints_its_progress_and_counts_against_max_time(caplog):
    """The FID encoder trained for minutes in silence before iteration 1, outside max_time (issue 40)."""
    from lightning.pytorch.callbacks import Timer

    from gan.callbacks.fid import FID
    from gan.metrics.features import build
    from gan.run.clock import Ticker

    tick = Ticker("Encoder, steps", 4, every=0)
    with caplog.at_level("INFO"):
        for step in range(5):
            tick(step)
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(",")[1].split(" (")[0] for line in lines] == [
        " steps: 1/4",
        " steps: 2/4",
        " steps: 3/4",
    ]
    assert lines[1].startswith("Encoder, steps: 2/4 (50%), ") and lines[1].endswith(" s left")
    timer, fid = Timer(duration={"seconds": 100}), FID(build("small_conv"))
    fid.setup_seconds, fid.final_seconds = 30.0, lambda datamodule, module: 10.0  # the final FID: set aside
    fid.on_train_start(SimpleNamespace(callbacks=[timer], datamodule=None), SimpleNamespace(device="cpu"))
    assert timer.time_remaining() == pytest.approx(60, abs=1)
    fid.final_estimate = (
        10.0  # as on_train_start left it; a checkpoint records the time spent, not the set-aside
    )
    saved = {"callbacks": {"Timer": timer.state_dict()}}
    fid.on_save_checkpoint(None, None, saved)
    assert saved["callbacks"]["Timer"]["time_elapsed"]["train"] == pytest.approx(30, abs=1)  # not set aside


@pytest.mark.slow  # trains or searches for seconds: the full suite, not the fast tier
def test_a_run_stopped_by_max_time_says_so_in_its_end_block(tmp_path, capsys, caplog):
    cfg = smoke("trainer.limit_train_batches=1.0", "trainer.max_epochs=-1", "trainer.max_time=00:00:00:02",
                output_dir=tmp_path)  # fmt: skip
    train(cfg)
    out = capsys.readouterr().out
    assert ", when trainer.max_time (2 s) was reached." in out
    assert "ckpt_path=auto  # train on: raise trainer.max_time\n" in out
    # Lightning's line, whose elapsed time would include the final FID's set-aside
    assert "Time limit reached" not in out + caplog.text
