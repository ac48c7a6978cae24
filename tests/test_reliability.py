"""Nothing lost, nothing silent: resume refuses a checkpoint of another model, data or batch size in one line;
one live run per run directory; a checkpoint that cannot be written keeps the previous one and training goes
on; grids and plots that cannot be written warn; W&B resumes the same run; the newcomer's log is clean."""

import errno
import json
import os
import subprocess
import sys
from collections import Counter

import pytest
import torch

from gan.errors import ConfigError
from gan.io import atomic_write
from gan.run.rundir import LOCK
from gan.run.train import train
from tests.conftest import ROOT, smoke, unavailable


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    train(smoke(output_dir=out))
    return out


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["model=mlp"],
            r"checkpoint was trained with model.generator=dcgan.Generator, model.discriminator=dcgan",
        ),
        (["data.image_size=16"], r"with data.image_size=32; this run has data.image_size=16"),
        (["trick=[ema]"], r"with trick=none; this run has trick=ema"),
        (["data.batch_size=8"], r"data.batch_size=16; this run has 8, .* Pass data.batch_size=16"),
    ],
)
def test_resume_refuses_another_model_data_or_batch_size(finished, overrides, message):
    ckpt = finished / "checkpoints" / "last.ckpt"
    with pytest.raises(ConfigError, match=message):
        train(smoke(*overrides, f"ckpt_path={ckpt}", output_dir=finished.parent / "other"))


def test_resume_refuses_files_that_are_not_gan_checkpoints(tmp_path):
    (tmp_path / "notes.ckpt").write_text("not a checkpoint")
    torch.save({"state_dict": {}}, tmp_path / "foreign.ckpt")
    for name, message in (
        ("notes.ckpt", "not a readable checkpoint"),
        ("foreign.ckpt", "not a gan checkpoint"),
    ):
        with pytest.raises(ConfigError, match=message):
            train(smoke(f"ckpt_path={tmp_path / name}", output_dir=tmp_path / "run"))


@pytest.mark.slow
def test_a_live_run_holds_its_directory_and_a_dead_ones_lock_is_taken_over(tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / LOCK).write_text(json.dumps({"pid": live.pid, "host": os.uname().nodename}))
        with pytest.raises(ConfigError, match=f"in use by another run \\(PID {live.pid} on"):
            train(smoke(output_dir=tmp_path))
        assert not (tmp_path / "checkpoints").exists()  # nothing of the live run's was touched
    finally:
        live.kill()
        live.wait()
    train(smoke(output_dir=tmp_path))  # its PID is dead now: the stale lock is taken over
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file() and not (tmp_path / LOCK).exists()


@pytest.fixture
def small_disk(tmp_path):
    """A real 3 MB tmpfs (as root): writes that do not fit fail part-way, as on a full disk."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        unavailable(f"cannot mount a tmpfs here (CI runs as root): {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_atomic_write_cut_short_leaves_the_old_file_and_no_temporary_one(small_disk):
    path = small_disk / "last.ckpt"
    atomic_write(path, lambda file: file.write(b"old"))
    with pytest.raises(OSError) as err:
        atomic_write(path, lambda file: file.write(b"x" * 8_000_000))  # more than the disk holds
    assert err.value.errno == errno.ENOSPC
    assert path.read_bytes() == b"old" and os.listdir(small_disk) == ["last.ckpt"]


def train_on(run_dir, *overrides):
    return subprocess.run(
        [
            sys.executable,
            "train.py",
            "debug=smoke",
            "data=synthetic",
            "data.channels=1",
            *overrides,
            f"hydra.run.dir={run_dir}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_full_disk_keeps_the_last_checkpoint_loadable_and_the_run_ends_cleanly(small_disk):
    run_dir = small_disk / "run"
    big = ["data.image_size=32"]  # a ~20 MB checkpoint: written part-way, then the disk is full
    first = train_on(run_dir, *big)  # nothing there yet: said last, exit 1
    assert first.returncode == 1, first.stderr[-2000:]
    last_line, ckpt = first.stdout.strip().splitlines()[-1], run_dir / "checkpoints" / "last.ckpt"
    assert last_line.endswith(f"No checkpoint was saved ({ckpt} is missing: see the warnings above).")
    said = [line for line in first.stdout.splitlines() if "could not write checkpoint" in line]
    assert len(said) == 1 and said[0].endswith("none is there yet"), first.stdout[-2000:]
    assert not (run_dir / "checkpoints" / "last.ckpt").exists()
    small = ["data.image_size=16", "model.generator.ngf=8", "model.discriminator.ndf=8"]
    assert train_on(run_dir, *small).returncode == 0
    good = (run_dir / "checkpoints" / "last.ckpt").read_bytes()
    second = train_on(run_dir, *big)
    assert second.returncode == 1 and "Traceback" not in second.stderr, second.stderr[-2000:]
    assert "The end of this run was not saved: " in second.stdout.strip().splitlines()[-1]
    warnings = [line for line in (second.stdout + second.stderr).splitlines() if "WARNING" in line]
    assert len(warnings) == 1 and "the previous one there is untouched" in warnings[0], warnings
    assert (run_dir / "checkpoints" / "last.ckpt").read_bytes() == good
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["config"]["data"]["image_size"] == 16
    assert os.listdir(run_dir / "checkpoints") == ["last.ckpt"]  # no temporary file left behind
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "finished, no checkpoint saved"


@pytest.mark.slow
def test_unwritable_grids_and_plots_warn_and_training_goes_on(finished, tmp_path, monkeypatch, caplog):
    import matplotlib.figure

    full = OSError(errno.ENOSPC, "No space left on device")

    def no_space(*args, **kwargs):
        raise full

    monkeypatch.setattr("gan.callbacks.samples.save_image", no_space)
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", no_space)
    with caplog.at_level("WARNING"):
        train(smoke(output_dir=tmp_path))
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(w.startswith("could not write sample grid") for w in warnings)
    assert any(w.startswith("could not write the loss plot") for w in warnings)
    assert json.loads((tmp_path / "summary.json").read_text())["iteration"] == 2  # the run went on


@pytest.mark.slow
def test_wandb_charts_everything_against_the_iteration_and_resumes_the_same_run(tmp_path, monkeypatch):
    import wandb.sdk.wandb_run as wandb_run

    logged, defined = [], []
    log, define = wandb_run.Run.log, wandb_run.Run.define_metric

    def spy_log(self, data, step=None, **kwargs):
        logged.append((dict(data), step))
        return log(self, data, step=step, **kwargs)

    def spy_define(self, name, **kwargs):
        defined.append((name, kwargs.get("step_metric")))
        return define(self, name, **kwargs)

    monkeypatch.setattr(wandb_run.Run, "log", spy_log)
    monkeypatch.setattr(wandb_run.Run, "define_metric", spy_define)
    run = ["logger=wandb", "trainer.limit_train_batches=3", "callbacks.samples.every_n_iterations=2"]
    for extra in ([], ["ckpt_path=auto", "trainer.max_epochs=2"]):
        train(smoke(*run, *extra, output_dir=tmp_path))
    assert ("*", "iteration") in defined
    assert all(data["iteration"] == step for data, step in logged)
    keys = {}
    for data, step in logged:
        keys.setdefault(step, set()).update(data)
    assert sorted(keys) == [1, 2, 3, 4, 5, 6] and {"train/d_loss", "samples"} <= keys[1]
    assert [step for data, step in logged if "samples" in data] == [1, 2, 3, 4, 6]  # on the same axis
    runs = sorted((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and len({r.name.rsplit("-", 1)[1] for r in runs}) == 1


@pytest.mark.slow
def test_newcomer_log_has_every_line_once_and_no_noise_past_checkpoints_fid_and_a_resume(tmp_path):
    """A run that crosses every cadence (checkpoints, FID, health, grids) to its end, then its resume."""
    every = [
        "data=synthetic",
        "data.dataset_size=96",
        "data.image_size=16",
        "logger=[csv,wandb]",
        "trainer.accelerator=cpu",
        "trainer.log_every_n_steps=2",
        "callbacks.model_checkpoint.every_n_iterations=2",
        "callbacks.fid.feature.name=small_conv",
        "callbacks.fid.num_images=64",
        "callbacks.fid.every_n_iterations=3",
        "callbacks.fid.kid=true",
        "callbacks.health.first_check=2",
        "callbacks.health.every_n_iterations=3",
        "callbacks.samples.every_n_iterations=3",
        f"hydra.run.dir={tmp_path}",
    ]
    logs = []
    for extra in (["trainer.max_epochs=1"], ["trainer.max_epochs=2", "ckpt_path=auto"]):
        done = subprocess.run(
            [sys.executable, "train.py", *every, *extra],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "WANDB_MODE": "offline"},
        )
        assert done.returncode == 0, done.stderr[-2000:]
        logs.append(done.stdout + done.stderr)
    for log in logs:
        lines = [line.split("] - ", 1)[-1].removeprefix("INFO: ") for line in log.splitlines()]
        repeated = [line for line, n in Counter(lines).items() if n > 1 and line.strip()]
        assert repeated == []
        assert "wandb:" not in log and log.count("W&B: offline; upload with `wandb sync ") == 1, log
        for noise in (
            "Tip:",
            "LeafSpec",
            "TPU available",
            "GPU available: False",
            "anonymous setting",
            "100% of the batches",
            "optimized_metric",
            "pre-optimization state",
            "ended before the epoch ended",
            "Warning:",
            "will save all extracted features",
            "dirpath has changed",
            "FLOPs",
            "already configured with model summary",
            "Downloading:",
        ):
            assert noise not in log, log
        assert log.count("Networks: generator Generator") == 1, log
    assert "ckpt_path=auto: resuming from" in logs[1]
