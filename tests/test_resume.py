"""A run killed with SIGKILL and resumed ends bit-identical to an uninterrupted run, and so do its logs:
CSV rows, TensorBoard events and sample grids, with FID, health and grids firing before and after the
checkpoint; SIGTERM/SIGINT save first; a NaN or exploding loss never reaches the weights."""

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from multiprocessing import resource_sharer

import pytest
import torch

from gan.build import build_module
from gan.module import DivergenceError
from tests.conftest import ROOT, SHARED, fit, require, smoke
from tests.test_renamed import as_before_issue_39

pytestmark = pytest.mark.slow  # subprocess or long training runs: not in the fast tier

# 4 batches per epoch, 3 epochs = 12 iterations; stateful tricks and scheduler; a checkpoint every iteration
RUN = [
    "data=synthetic",
    "data.dataset_size=64",
    "data.batch_size=16",
    "data.image_size=16",
    "data.channels=1",
    "model.generator.ngf=8",
    "model.discriminator.ndf=8",
    "model.discriminator.dropout=0.2",
    "trick=[instance_noise,d_pause,ema]",
    "trick.instance_noise.anneal_iterations=10",
    "optim=adam_decay",
    "trainer.max_epochs=3",
    "trainer.accelerator=cpu",
    "trainer.log_every_n_steps=1",
    "logger=[csv,tensorboard]",
    "callbacks.model_checkpoint.every_n_iterations=1",
    "callbacks.fid.feature.name=small_conv",
    "callbacks.fid.num_images=64",
    "callbacks.fid.batch_size=32",
    "callbacks.fid.every_n_iterations=2",
    "callbacks.health.first_check=2",
    "callbacks.health.every_n_iterations=2",
    "callbacks.samples.every_n_iterations=2",
    "callbacks.progress_bar=null",
    "seed=3",
]


def run_with(run_dir, *extra, check=True, base=RUN, timeout=300):
    done = subprocess.run(
        [sys.executable, "train.py", *base, f"hydra.run.dir={run_dir}", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
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


def tensorboard_events(run_dir) -> dict:
    """Every scalar and image as TensorBoard shows it: events a resumed run purged are gone."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    scalars = {t: [(e.step, e.value) for e in events.Scalars(t)] for t in events.Tags()["scalars"]}
    images = {
        t: [(e.step, e.encoded_image_string) for e in events.Images(t)] for t in events.Tags()["images"]
    }
    return {**scalars, **images}


def grids(run_dir) -> dict:
    return {p.name: p.read_bytes() for p in sorted((run_dir / "samples").glob("iter_*.png"))}


def assert_same_logs(run_dir, reference) -> None:
    rows = metrics_rows(run_dir)
    assert rows == metrics_rows(reference)
    assert tensorboard_events(run_dir) == tensorboard_events(reference)
    assert grids(run_dir) == grids(reference)


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
    # the logs survive the resume: the same rows, events and grids as the uninterrupted run, none twice
    assert_same_logs(tmp_path, uninterrupted["run_dir"])
    rows = metrics_rows(tmp_path)
    steps = [(row["step"], tuple(k for k, v in row.items() if v)) for row in rows]
    assert len(steps) == len(set(steps))
    fid_at = [int(row["step"]) for row in rows if row["val/fid"]]
    assert fid_at == [2, 4, 6, 8, 10, 12]  # on the iteration clock, before and after the checkpoint
    assert [int(r["step"]) for r in rows if r["health/diversity"]] == fid_at
    assert [int(r["step"]) for r in rows if r["train/d_loss"]] == list(range(1, 13))


@pytest.mark.parametrize(
    "first, longer",
    [("trainer.max_epochs=2", "trainer.max_epochs=3"), ("max_iterations=8", "max_iterations=12")],
    ids=["epochs", "iterations"],
)
def test_extending_a_finished_run_trains_exactly_the_extra_length(first, longer, uninterrupted, tmp_path):
    """Lightning read a run that ended on an epoch boundary as "the epoch ends now": the extra epoch was spent
    on that end, training nothing. Saved only at the end of the run (as by default), not mid-epoch."""
    run(tmp_path, first, "callbacks.model_checkpoint.every_n_iterations=500")
    assert load(tmp_path)["gan"]["iteration"] == 8
    run(tmp_path, longer, "ckpt_path=auto")
    assert_same_state(uninterrupted, load(tmp_path))
    assert_same_logs(tmp_path, uninterrupted["run_dir"])


def test_a_checkpoint_from_before_issue_39_resumes_exactly_under_the_old_name(uninterrupted, tmp_path):
    """A checkpoint with trick.d_freeze (DFreeze's `frozen` buffer) and perf.precision, resumed with
    trick=d_freeze on the command line, goes on as if both were today's (gan/renamed.py)."""
    run(tmp_path, "max_iterations=8", "callbacks.model_checkpoint.every_n_iterations=500")
    torch.save(as_before_issue_39(load(tmp_path)), tmp_path / "checkpoints" / "last.ckpt")
    old_names = [arg.replace("d_pause", "d_freeze") for arg in RUN]
    assert "trick=[instance_noise,d_freeze,ema]" in old_names
    resumed = run_with(tmp_path, "max_iterations=12", "ckpt_path=auto", base=old_names)
    assert "note: trick=d_freeze is now trick=d_pause" in resumed.stderr
    assert_same_state(uninterrupted, load(tmp_path))
    assert_same_logs(tmp_path, uninterrupted["run_dir"])


def test_extending_a_time_limited_run_trains_only_the_extra_time(tmp_path):
    def trained_seconds():
        return load(tmp_path)["callbacks"]["Timer"]["time_elapsed"]["train"]

    run(tmp_path, "trainer.max_epochs=-1", "trainer.max_time=00:00:00:03")
    first, iterations = trained_seconds(), load(tmp_path)["gan"]["iteration"]
    run(tmp_path, "trainer.max_epochs=-1", "trainer.max_time=00:00:00:06", "ckpt_path=auto")
    # the limit counts the whole run's training; a checkpoint leaves out the final FID's set-aside (~0.1 s)
    assert 2.5 <= first < 4.5 and 5.5 <= trained_seconds() < 7.5, (first, trained_seconds())
    assert load(tmp_path)["gan"]["iteration"] > iterations


def test_rerunning_a_finished_run_keeps_its_logs(uninterrupted, tmp_path):
    run(tmp_path)
    before = metrics_rows(tmp_path)
    run(tmp_path, "ckpt_path=auto")
    assert_same_logs(tmp_path, uninterrupted["run_dir"])
    assert metrics_rows(tmp_path) == before and len([r for r in before if r["train/d_loss"]]) == 12


def test_ckpt_path_auto_resumes_the_run_dir(uninterrupted, tmp_path):
    run(tmp_path, "+callbacks.kill._target_=tests.helpers.KillAt", "+callbacks.kill.iteration=7", check=False)
    run(tmp_path, "ckpt_path=auto")
    assert_same_state(uninterrupted, load(tmp_path))


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_signal_saves_a_checkpoint_then_stops_and_resumes_exactly(sig, uninterrupted, tmp_path):
    stopped = run(
        tmp_path,
        "callbacks.model_checkpoint.every_n_iterations=500",
        "+callbacks.signal._target_=tests.helpers.SignalAt",
        "+callbacks.signal.iteration=5",
        f"+callbacks.signal.sig={sig}",
        check=False,
    )
    assert stopped.returncode == 128 + getattr(signal, sig), stopped.stderr[-2000:]
    assert load(tmp_path)["gan"]["iteration"] == 6  # the iteration in flight finished, then the save
    run(tmp_path, f"ckpt_path={tmp_path}/checkpoints/last.ckpt")
    assert_same_state(uninterrupted, load(tmp_path))


def test_a_second_ctrl_c_stops_at_once_in_one_line(tmp_path):
    stopped = run(
        tmp_path,
        "callbacks.model_checkpoint.every_n_iterations=3",
        "+callbacks.signal._target_=tests.helpers.SignalAt",
        "+callbacks.signal.iteration=5",
        "+callbacks.signal.sig=SIGINT",
        "+callbacks.signal.times=2",
        "+callbacks.signal.gap=1.5",  # within a second it would be the same signal forwarded twice
        check=False,
    )
    assert stopped.returncode == 128 + signal.SIGINT and "Traceback" not in stopped.stderr, stopped.stderr
    said = [line for line in stopped.stdout.splitlines() if "SIGINT" in line]
    assert said[0].endswith("(Ctrl-C again stops at once, without saving).")
    assert said[1] == (
        "Second SIGINT: stopped at iteration 5; nothing saved since; "
        f"{tmp_path}/checkpoints/last.ckpt is the last periodic checkpoint."
    )
    assert len(said) == 2 and load(tmp_path)["gan"]["iteration"] == 3
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "stopped by a second SIGINT" and summary["iteration"] == 5


@pytest.mark.parametrize(
    "sig, wrapper", [("SIGTERM", []), ("SIGINT", ["uv", "run", "--frozen", "--no-sync", "python"])]
)
def test_a_signal_to_the_whole_group_saves_with_loader_workers(sig, wrapper, tmp_path):
    """SLURM and `timeout` signal the process group: the loader workers and `uv run` get the signal too. On
    a folder (workers decoding, as users run it): the workers died of it first, a traceback, no checkpoint."""
    faces = require(SHARED / "celeba-1k", "shared CelebA faces")
    folder = [f"data.root={faces}", "data.image_size=16", "data.batch_size=16", "data.num_workers=2"]
    base = [
        "data=image_folder",
        *folder,
        *[o for o in RUN if not o.startswith(("data", "trainer.max_epochs"))],
    ]
    stopped = subprocess.run(
        [*(wrapper or [sys.executable]), "train.py", *base, f"hydra.run.dir={tmp_path}", "max_iterations=200",
         "callbacks.model_checkpoint.every_n_iterations=500", f"+callbacks.signal.sig={sig}",
         "+callbacks.signal._target_=tests.helpers.GroupSignalAt", "+callbacks.signal.iteration=20"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, start_new_session=True,
    )  # fmt: skip
    assert stopped.returncode == 128 + getattr(signal, sig), stopped.stderr[-3000:]
    assert "Traceback" not in stopped.stderr and "Second" not in stopped.stdout, stopped.stderr[-3000:]
    assert load(tmp_path)["gan"]["iteration"] > 20


def test_a_killed_loader_worker_ends_the_run_in_one_line_saying_how_to_resume(tmp_path):
    faces = require(SHARED / "celeba-1k", "shared CelebA faces")
    done = subprocess.run(
        [sys.executable, "train.py", "data=image_folder", f"data.root={faces}", "data.image_size=16",
         "data.num_workers=2", "model.generator.ngf=8", "model.discriminator.ndf=8", "max_iterations=100",
         "callbacks.fid=null", "logger=csv", "callbacks.progress_bar=null", f"hydra.run.dir={tmp_path}",
         "callbacks.model_checkpoint.every_n_iterations=10", "+callbacks.kill.iteration=15",
         "+callbacks.kill._target_=tests.helpers.KillWorkerAt"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    lines = (done.stdout + done.stderr).replace(str(tmp_path), "<run>").splitlines()
    said = [line for line in lines if "worker" in line]
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert len(said) == 1, said
    died = r"A data loader worker died \((killed by signal: Killed|exited unexpectedly); out of memory"
    assert re.search(died, said[0]), said[0]
    assert "last.ckpt holds iteration 10: resume with ckpt_path=<run>/checkpoints/last.ckpt" in said[0]
    status = json.loads((tmp_path / "summary.json").read_text())["status"]
    assert status == "failed: a data loader worker died"


@pytest.mark.slow  # a process of its own: its exit is the test
def test_a_run_leaving_with_its_loader_alive_exits_at_once(tmp_path):
    """Workers ignore SIGTERM (deaf_worker), all that multiprocessing's exit handler sends before it waits for
    them: a process leaving with a live loader iterator (an error, a dead worker) waited forever (the killed-
    worker test hung so once in a whole-suite run, after its one line)."""
    script = f"""
import sys
from tests.conftest import make_cfg
from gan.build import build_datamodule
datamodule = build_datamodule(make_cfg("data=synthetic", "data.num_workers=2", output_dir="{tmp_path}"))
datamodule.setup()
batches = iter(datamodule.train_dataloader())
next(batches)
sys.exit(3)  # the iterator, and its two workers, still alive
"""
    python = [sys.executable, "-c", script]
    done = subprocess.run(python, cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 3 and done.stderr == "", done.stderr[-2000:]


def test_a_worker_stays_silent_when_the_main_process_drops_a_handoff(monkeypatch):
    """The other half of the killed worker: the main process stops while a surviving worker's resource sharer
    waits for it mid-handshake; the worker must not print that as a traceback (it did, once in several runs).
    A real dropped connection against the real sharer thread, before and after the worker's hook."""
    from gan.data.base import quiet_handoffs

    heard = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, error, tb: heard.append(kind))

    def drop_a_handoff() -> None:
        handoff = resource_sharer.DupFd(1)  # as a worker sharing a batch's tensor: starts its sharer thread
        with socket.socket(socket.AF_UNIX) as peer:  # the main process connects, then leaves mid-handshake
            peer.connect(resource_sharer._resource_sharer._address)
            time.sleep(0.05)
        os.close(handoff.detach())  # a whole handoff after it: the sharer thread is past the dropped one

    drop_a_handoff()
    assert heard and issubclass(heard[0], (ConnectionError, EOFError)), heard  # unhooked, the thread says it
    heard.clear()
    quiet_handoffs()
    drop_a_handoff()
    assert heard == []
    sys.excepthook(ValueError, ValueError("any other error"), None)
    assert heard == [ValueError]


def test_bad_ckpt_path_fails_naming_it(tmp_path):
    from gan.errors import ConfigError
    from gan.run.train import train

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
