"""Shared test helpers: compose the real configs, find the real data, build tiny runs."""

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
SHARED = ROOT.parent / "shared" / "data"
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

if os.environ.get("PYTEST_XDIST_WORKER"):  # `pytest -n N`: one thread per worker (and its subprocesses)
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def make_cfg(*overrides: str, output_dir: Path | str = "/tmp/gan-test") -> DictConfig:
    """The composed config as `train.py` would see it, with outputs under `output_dir`."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[o for o in overrides if o], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.paths.root_dir = str(ROOT)
        cfg.paths.cache_dir = str(Path(output_dir) / "cache")
        del cfg.hydra
    return cfg


@pytest.fixture
def train_cli(monkeypatch, capsys):
    """`python train.py *args` run in this process: returns (exit code, stdout, stderr). For the command
    line's error paths, which need no process of their own; Hydra's and the root logger's state are put
    back."""
    import logging
    import sys

    import hydra._internal.utils as hydra_utils

    from gan.__main__ import run

    monkeypatch.setattr(hydra_utils, "run_and_report", hydra_utils.run_and_report)  # install() replaces it
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level

    def call(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["train.py", *args])
        code = 0
        try:
            run()
        except SystemExit as stop:
            code = stop.code
        finally:
            GlobalHydra.instance().clear()
        said = capsys.readouterr()
        return code, said.out, said.err

    yield call
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def fit(module, cfg: DictConfig, iterations: int = 1):
    """Train `module` for a few iterations on `cfg`'s data with a bare Trainer; returns the Trainer."""
    import lightning as L

    from gan.build import build_datamodule

    trainer = L.Trainer(
        max_epochs=1,
        limit_train_batches=iterations,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    trainer.fit(module, datamodule=build_datamodule(cfg))
    return trainer


def smoke(*overrides: str, output_dir: Path) -> DictConfig:
    return make_cfg("debug=smoke", "data=synthetic", *overrides, output_dir=output_dir)


def unavailable(message: str) -> None:
    """The one skip site: a test whose real path cannot run here fails in CI (GAN_REQUIRE_DATA=1, as
    .ci/run sets), so no real path goes untested there; elsewhere it skips, saying why."""
    if os.environ.get("GAN_REQUIRE_DATA") == "1":
        pytest.fail(message + " (GAN_REQUIRE_DATA=1)")
    pytest.skip(message)


def require(path: Path, what: str) -> Path:
    """Real data: the path, or unavailable()."""
    if not path.exists():
        unavailable(f"{what} not found at {path}")
    return path


@pytest.fixture
def shoes() -> Path:
    return require(SHARED / "shoes256", "shared Zappos shoes")


@pytest.fixture
def faces() -> Path:
    return require(SHARED / "celeba-1k", "shared CelebA faces")


@pytest.fixture
def fashion_mnist() -> Path:
    return require(FASHION_MNIST / "train-images-idx3-ubyte.gz", "Debian dataset-fashion-mnist")


@pytest.fixture(scope="session")
def studio_ckpt(tmp_path_factory) -> Path:
    """The studio tests' one checkpoint: a conditional DCGAN (3 classes, EMA, 32 px) after 2 iterations."""
    from gan.run.train import train

    out = tmp_path_factory.mktemp("studio-cdcgan")
    train(smoke("model=cdcgan", "data.num_classes=3", "trick=ema", output_dir=out))
    return out / "checkpoints" / "last.ckpt"


def small_folder(out: Path, source: Path, count: int) -> Path:
    """The first `count` images of a shared folder, copied into a tmp folder (a small, fast dataset)."""
    import shutil

    folder = out / source.name
    folder.mkdir(parents=True)
    for path in sorted(source.glob("*.jpg"))[:count]:
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture(scope="session")
def folder_ckpt(tmp_path_factory) -> Path:
    """A DCGAN on 160 shared shoes at 32 px (~20% held out), 2 iterations, whose FID used a self-supervised
    encoder of 20 steps: the checkpoint, its data and its cached encoder, as a designer's run leaves them."""
    from gan.run.train import train

    shoes = require(SHARED / "shoes256", "shared Zappos shoes")
    out = tmp_path_factory.mktemp("folder-run")
    cfg = make_cfg(
        "data=image_folder",
        f"data.root={small_folder(out, shoes, 160)}",
        "data.image_size=32",
        "data.held_out=0.2",
        "data.num_workers=0",
        "data.batch_size=32",
        "logger=none",
        "trainer=cpu",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "callbacks.progress_bar=null",
        "callbacks.fid.feature.name=selfsup",
        "callbacks.fid.selfsup.steps=20",
        "+callbacks.fid.selfsup.batch_size=64",
        "callbacks.fid.num_images=64",
        output_dir=out,
    )
    train(cfg)
    return out / "checkpoints" / "last.ckpt"
