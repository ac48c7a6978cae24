"""ADA's p and LeCam's anchors are equal on every DDP rank: the reduction by hand on two gloo processes,
then a real two-process DDP run through train.py. ~10 s + ~30 s on 2 shared cores (over 10 s: they start
two and three Python processes; the DDP run like tests/test_ddp.py)."""

import subprocess
import sys

import pytest
import torch
import torch.multiprocessing as mp

from tests.conftest import ROOT
from tests.gloo_ranks import one_rank

pytestmark = pytest.mark.slow  # subprocess or long training runs: not in the fast tier


def test_reduction_across_two_gloo_ranks_by_hand(tmp_path):
    # tests/gloo_ranks.py: real logits rank 0 [1, 1, 1, 1], rank 1 [-1, -1, -1, 5]; fakes [-1] * 4, [1] * 4
    mp.spawn(one_rank, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    # signs: rank 0 +4 of 4, rank 1 -2 of 4 -> r_t = 2 / 8 = 0.25 < 0.6 on both (rank 0 alone: 1.0, up)
    for state in ranks:
        assert state["rt"].item() == 0.25
        assert state["p"].item() == pytest.approx(0.5 - 8 / 500_000)
        # means: real (1 + 0.5) / 2, fake (-1 + 1) / 2; decay 0 before start_iteration
        assert state["anchors"].tolist() == [0.75, 0.0]


def test_ddp_two_processes_keep_ada_and_lecam_equal(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "train.py",
            "debug=smoke",
            "data=synthetic",
            "trainer=ddp",
            "trainer.accelerator=cpu",
            "trainer.devices=2",
            "trainer.limit_train_batches=3",
            "model.generator.ngf=8",
            "model.discriminator.ndf=8",
            "trick=[ada,lecam]",
            "trick.ada.interval=1",
            "trick.ada.initial_p=0.5",
            "trick.lecam.start_iteration=1",
            "+callbacks.probe._target_=tests.probes.SaveTrickState",
            f"+callbacks.probe.path={tmp_path / 'ranks'}",
            f"hydra.run.dir={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / "ranks" / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert rank0["world_size"].item() == rank1["world_size"].item() == 2
    for key in ("ada.p", "ada.rt", "ada.signs", "lecam.anchors"):  # (lecam.last: each rank's own batch)
        assert torch.equal(rank0[key], rank1[key]), key
    assert rank0["ada.p"].item() != 0.5 and rank0["lecam.last"].item() > 0  # both did something
    assert rank0["lecam.updates"].item() == 3
