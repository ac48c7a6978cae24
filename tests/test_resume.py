"""A run killed with SIGKILL and resumed ends bit-identical to an uninterrupted run; SIGTERM/SIGINT save
first; a NaN or exploding loss never reaches the weights; checkpoints are written atomically."""

import csv
import functools
import os
import signal
import subprocess
import sys

import pytest
import torch

from gan.build import build_module
from gan.module import DivergenceError
from tests.conftest import ROOT, fit, smoke

# 4 batches per epoch, 3 epochs = 12 iterations; stateful tricks and scheduler; a checkpoint every iteration
RUN = [
    "data=synthetic",
    "data.num_samples=64",
    "data.batch_size=16",
    "data.image_size=16",
    "data.channels=1",
    "model.generator.ngf=8",
    "model.discriminator.ndf=8",
    "model.discriminator.dropout=0.2",
    "trick=[instance_noise,d_freeze,ema]",
    "trick.instance_noise.anneal_steps=10",
    "optim=adam_decay",
    "trainer.max_epochs=3",
    "trainer.accelerator=cpu",
    "trainer.log_every_n_steps=1",
    "logger=csv",
    "callbacks.model_checkpoint.every_n_train_steps=1",
    "callbacks.fid=null",
    "callbacks.progress_bar=null",
    "seed=3",
]


def run_with(run_dir, *extra, check=True, base=RUN):
    done = subprocess.run(
        [sys.executable, "train.py", *base, f"hydra.run.dir={run_dir}", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


run = run_with


def load(run_dir):
    return torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)


def assert_same_state(a: dict, b: dict) -> None:
    assert a["gan"] == b["gan"] and a["global_step"] == b["global_step"]
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key
    for opt_a, opt_b in zip(a["optimizer_states"], b["optimizer_states"], strict=True):
        for pid, state in opt_a["state"].items():
            for name, value in state.items():
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(opt_b["state"][pid][name])), name
    assert a["lr_schedulers"] == b["lr_schedulers"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    run(out)
    return {**load(out), "run_dir": out}


def metrics_rows(run_dir) -> list[dict]:
    with open(run_dir / "csv" / "metrics.csv", newline="") as file:
        return list(csv.DictReader(file))


@pytest.mark.parametrize("kill_at", [6, 9], ids=["mid_epoch", "epoch_boundary"])
def test_sigkill_and_resume_is_bit_identical(kill_at, uninterrupted, tmp_path):
    killed = run(
        tmp_path,
        "+callbacks.kill._target_=tests.helpers.KillAt",
        f"+callbacks.kill.iteration={kill_at}",
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL
    assert load(tmp_path)["gan"]["iteration"] == kill_at  # the last checkpoint before the kill
    run(tmp_path, f"ckpt_path={tmp_path}/checkpoints/last.ckpt")
    assert_same_state(uninterrupted, load(tmp_path))
    assert uninterrupted["gan"]["iteration"] == 12
    # the metrics history survives the resume: the same rows as the uninterrupted run, none twice
    rows = metrics_rows(tmp_path)
    assert rows == metrics_rows(uninterrupted["run_dir"])
    steps = [(row["step"], tuple(k for k, v in row.items() if v)) for row in rows]
    assert len(steps) == len(set(steps))


def test_rerunning_a_finished_run_keeps_its_metrics(uninterrupted, tmp_path):
    run(tmp_path)
    before = metrics_rows(tmp_path)
    run(tmp_path, "ckpt_path=auto")
    assert metrics_rows(tmp_path) == before and len(before) == 12  # one row per iteration, kept


def test_sigkill_and_resume_is_bit_identical_with_relativistic_recipe(tmp_path):
    recipe = ["loss=rpgan", "trick=[r1,r2,ema,diffaugment]", "trick.r1.interval=2", "trick.r2.interval=3"]
    base = [o for o in RUN if not o.startswith("trick")]
    run = functools.partial(run_with, base=base)
    run(tmp_path / "full", *recipe)
    killed = run(
        tmp_path / "killed",
        *recipe,
        "+callbacks.kill._target_=tests.helpers.KillAt",
        "+callbacks.kill.iteration=6",
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL
    run(tmp_path / "killed", *recipe, "ckpt_path=auto")
    assert_same_state(load(tmp_path / "full"), load(tmp_path / "killed"))


def test_ckpt_path_auto_resumes_the_run_dir(uninterrupted, tmp_path):
    run(tmp_path, "+callbacks.kill._target_=tests.helpers.KillAt", "+callbacks.kill.iteration=7", check=False)
    run(tmp_path, "ckpt_path=auto")
    assert_same_state(uninterrupted, load(tmp_path))


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_signal_saves_a_checkpoint_then_stops_and_resumes_exactly(sig, uninterrupted, tmp_path):
    stopped = run(
        tmp_path,
        "callbacks.model_checkpoint.every_n_train_steps=1000",
        "+callbacks.signal._target_=tests.helpers.SignalAt",
        "+callbacks.signal.iteration=5",
        f"+callbacks.signal.sig={sig}",
        check=False,
    )
    assert stopped.returncode == 128 + getattr(signal, sig), stopped.stderr[-2000:]
    assert load(tmp_path)["gan"]["iteration"] == 6  # the iteration in flight finished, then the save
    run(tmp_path, f"ckpt_path={tmp_path}/checkpoints/last.ckpt")
    assert_same_state(uninterrupted, load(tmp_path))


def test_bad_ckpt_path_fails_naming_it(tmp_path):
    from gan.errors import ConfigError
    from gan.run import train

    with pytest.raises(ConfigError, match=f"ckpt_path={tmp_path}/nope.ckpt: no such checkpoint file"):
        train(smoke(f"ckpt_path={tmp_path}/nope.ckpt", output_dir=tmp_path))


def test_nan_stops_before_the_bad_update(tmp_path):
    cfg = smoke(output_dir=tmp_path)
    module = build_module(cfg)
    with torch.no_grad():
        next(module.discriminator.parameters()).fill_(float("nan"))
    g0 = [p.clone() for p in module.generator.parameters()]
    with pytest.raises(DivergenceError, match="NaN/Inf or exceeded 1e\\+06 at iteration 0"):
        fit(module, cfg, iterations=2)
    assert all(torch.equal(a, b) for a, b in zip(g0, module.generator.parameters(), strict=True))


def test_nan_skip_policy_counts_and_continues(tmp_path):
    cfg = smoke("nan_policy=skip", output_dir=tmp_path)
    module = build_module(cfg)
    with torch.no_grad():
        next(module.discriminator.parameters()).fill_(float("inf"))
    d0 = [p.clone() for p in module.discriminator.parameters()]
    trainer = fit(module, cfg, iterations=2)
    assert module.iteration == 2 and trainer.callback_metrics["train/skipped_steps"] == 4  # 2 D + 2 G
    assert all(torch.equal(a, b) for a, b in zip(d0, module.discriminator.parameters(), strict=True))


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    """A write that dies half-way leaves the previous last.ckpt intact."""
    from lightning.fabric.utilities import cloud_io

    path = tmp_path / "last.ckpt"
    cloud_io._atomic_save({"step": 1, "w": torch.ones(3)}, path)
    fs, _ = cloud_io.fsspec.core.url_to_fs(str(path))  # fsspec caches this instance: patch it undoably
    original_open = fs.open

    def open_then_die(*args, **kwargs):
        handle = original_open(*args, **kwargs)
        handle.write(b"partial")
        raise OSError("killed mid-write")

    monkeypatch.setattr(fs, "open", open_then_die)
    with pytest.raises(OSError):
        cloud_io._atomic_save({"step": 2, "w": torch.zeros(3)}, path)
    assert torch.load(path, weights_only=True)["step"] == 1
    assert sorted(os.listdir(tmp_path)) == ["last.ckpt"]
