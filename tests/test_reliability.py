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
from gan.run import train
from gan.rundir import LOCK
from tests.conftest import ROOT, smoke


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


def test_disk_full_keeps_the_last_checkpoint_and_training_goes_on(finished, tmp_path, monkeypatch, caplog):
    import fsspec
    import matplotlib.figure
    import torchvision.utils

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    good = (finished / "checkpoints" / "last.ckpt").read_bytes()
    (run / "checkpoints" / "last.ckpt").write_bytes(good)
    full = OSError(errno.ENOSPC, "No space left on device")

    def no_space(*args, **kwargs):
        raise full

    fs = fsspec.filesystem("file")  # the cached instance Lightning's atomic save writes through
    read = fs.open

    def open_for_reading_only(path, mode="rb", *args, **kwargs):
        return no_space() if "w" in mode else read(path, mode, *args, **kwargs)

    monkeypatch.setattr(fs, "open", open_for_reading_only)
    monkeypatch.setattr(torchvision.utils, "save_image", no_space)
    monkeypatch.setattr("gan.callbacks.samples.save_image", no_space)
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", no_space)
    with caplog.at_level("WARNING"):
        train(smoke("ckpt_path=auto", "trainer.max_epochs=2", output_dir=run))
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(w.startswith("could not write checkpoint") and "intact and loadable" in w for w in warnings)
    assert any(w.startswith("could not write sample grid") for w in warnings)
    assert any(w.startswith("could not write the loss plot") for w in warnings)
    assert (run / "checkpoints" / "last.ckpt").read_bytes() == good
    assert sorted(os.listdir(run / "checkpoints")) == ["last.ckpt"]  # no temp file left behind
    assert json.loads((run / "summary.json").read_text())["iteration"] == 4  # the run went on to its end


def test_wandb_resumes_the_same_run_id(tmp_path):
    for extra in ([], ["ckpt_path=auto", "trainer.max_epochs=2"]):
        train(smoke("logger=wandb", *extra, output_dir=tmp_path))
    runs = sorted((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and len({r.name.rsplit("-", 1)[1] for r in runs}) == 1


def test_newcomer_log_has_every_line_once_and_no_noise(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "train.py",
            "debug=smoke",
            "data=synthetic",
            "logger=wandb",
            f"hydra.run.dir={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "WANDB_MODE": "offline"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [
        line.split("] - ", 1)[-1].removeprefix("INFO: ") for line in (done.stdout + done.stderr).splitlines()
    ]
    repeated = [line for line, n in Counter(lines).items() if n > 1 and line.strip() and "wandb:" not in line]
    assert repeated == []
    for noise in (
        "Tip:",
        "LeafSpec",
        "TPU available",
        "anonymous setting",
        "100% of the batches",
        "optimized_metric",
    ):
        assert noise not in done.stdout + done.stderr
