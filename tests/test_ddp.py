"""DDP through Lightning, two CPU processes (gloo): both BatchNorm pitfalls and partial graphs handled."""

import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # subprocess or long training runs: not in the fast tier


def test_ddp_two_processes_on_cpu(tmp_path):
    # trainer.sync_batchnorm=true needs GPUs (torch's SyncBatchNorm has no CPU path): untested here.
    done = subprocess.run(
        [
            sys.executable,
            "train.py",
            "debug=smoke",
            "data=synthetic",
            "trainer=ddp",
            "trainer.accelerator=cpu",
            "trainer.devices=2",
            f"hydra.run.dir={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (done.stdout + done.stderr).count("Run directory:") == 1  # rank 0 only
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["gan"]["iteration"] == 2 and ckpt["gan"]["g_steps"] == 2
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())
