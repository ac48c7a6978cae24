"""train.py end to end: smoke runs write checkpoints and sample grids where hydra.run.dir says."""

import subprocess
import sys

import torch

from gan.run import train
from tests.conftest import ROOT, smoke


def test_smoke_run_writes_checkpoint_samples_and_gif(tmp_path):
    train(smoke(output_dir=tmp_path))
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    grids = sorted((tmp_path / "samples").glob("iter_*.png"))
    assert grids and (tmp_path / "samples" / "progress.gif").is_file()
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["gan"] == {"iteration": 2, "d_steps": 2, "g_steps": 2, "skipped_steps": 0}
    assert ckpt["config"]["model"]["generator"]["_target_"] == "gan.models.dcgan.Generator"


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
