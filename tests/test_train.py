"""train.py end to end: smoke runs write checkpoints and sample grids where hydra.run.dir says."""

import subprocess
import sys

import pytest
import torch

from gan.run.train import train
from tests.conftest import ROOT, smoke


def test_smoke_run_writes_checkpoint_samples_and_gif(tmp_path):
    train(smoke(output_dir=tmp_path))
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    grids = sorted((tmp_path / "samples").glob("iter_*.png"))
    assert grids and (tmp_path / "samples" / "progress.gif").is_file()
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["gan"] == {"iteration": 2, "d_steps": 2, "g_steps": 2, "skipped_steps": 0}
    assert ckpt["config"]["model"]["generator"]["_target_"] == "gan.models.dcgan.Generator"


@pytest.mark.slow
def test_train_py_command_line_puts_outputs_in_run_dir(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "train.py",
            "debug=smoke",
            "data=synthetic",
            "logger=csv",
            f"hydra.run.dir={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"Run directory: {tmp_path}" in run.stdout
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "csv" / "metrics.csv").is_file()
    assert (tmp_path / "train.log").is_file() and (tmp_path / ".hydra" / "config.yaml").is_file()


def test_config_error_is_one_line_with_exit_code_2(tmp_path, train_cli):
    args = ["debug=smoke", "data=synthetic", "trick=feature_matching", "trick.feature_matching.layer=nope"]
    code, _, err = train_cli(*args, f"hydra.run.dir={tmp_path}")
    assert code == 2 and "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "layer='nope' does not exist" in errors[0]


@pytest.mark.slow
def test_last_checkpoint_is_the_end_of_training_between_periodic_saves(tmp_path):
    cfg = smoke("trainer.limit_train_batches=1.0", "trainer.max_steps=6", output_dir=tmp_path)
    cfg.callbacks.model_checkpoint.every_n_iterations = 2  # a periodic save at iteration 2, the end at 3
    train(cfg)
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["gan"]["iteration"] == 3 and ckpt["global_step"] == 6


def test_keep_at_keeps_a_copy_at_each_named_iteration(tmp_path):
    cfg = smoke("trainer.limit_train_batches=1.0", "max_iterations=4", output_dir=tmp_path)
    cfg.callbacks.model_checkpoint.keep_at = [1, 3]
    train(cfg)
    kept = sorted(p.name for p in (tmp_path / "checkpoints").glob("iteration_*.ckpt"))
    assert kept == ["iteration_1.ckpt", "iteration_3.ckpt"]
    for n in (1, 3):
        ckpt = torch.load(
            tmp_path / "checkpoints" / f"iteration_{n}.ckpt", map_location="cpu", weights_only=True
        )
        assert ckpt["gan"]["iteration"] == n
