"""FID behaviour with a small local feature network, the real-stats cache, the offline message, the
loss plot and GIF, and the generate CLI."""

import json
import subprocess
import sys

import pytest
import torch
from torchmetrics.image.fid import FrechetInceptionDistance

from gan.callbacks.fid import FID
from gan.data.digits import DigitsDataModule
from gan.errors import ConfigError
from gan.generate import generate, parse
from gan.metrics import features
from gan.metrics.features import build
from gan.pixels import as_rgb_uint8
from gan.run.train import train
from tests.conftest import ROOT, make_cfg, smoke


def digits(n: int = 1000, offset: int = 0) -> torch.Tensor:
    dm = DigitsDataModule(image_size=32)
    return dm.build_dataset().tensors[0][offset : offset + n]


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    metric = FrechetInceptionDistance(feature=build("small_conv"))
    metric.update(as_rgb_uint8(real), real=True)
    metric.update(as_rgb_uint8(fake), real=False)
    return float(metric.compute())


def test_fid_real_vs_real_small_noise_large_and_grows_with_distortion():
    real_a, real_b = digits(800, 0), digits(800, 800)
    same = fid(real_a, real_b)
    noise = fid(real_a, torch.rand_like(real_b) * 2 - 1)
    distorted = [fid(real_a, (real_b + s * torch.randn_like(real_b)).clamp(-1, 1)) for s in (0.1, 0.3, 0.6)]
    assert same < 0.05 * noise
    assert same < distorted[0] < distorted[1] < distorted[2] < noise


@pytest.mark.slow
def test_fid_callback_logs_and_caches_real_stats(tmp_path):
    cfg = make_cfg("debug=smoke", "data=digits", "optimized_metric=val/fid", output_dir=tmp_path)
    fid_node = make_cfg("data=digits", output_dir=tmp_path).callbacks.fid
    fid_node.update({"num_images": 256, "every_n_iterations": 1, "cache_dir": str(tmp_path / "fidcache")})
    fid_node.feature.name = "small_conv"
    fid_node.kid = True
    fid_node.inception_score = {"_target_": "gan.metrics.features.build", "name": "small_conv"}
    cfg.callbacks.fid = fid_node
    value = train(cfg)
    assert value is not None and value > 0
    metrics = json.loads((tmp_path / "summary.json").read_text())["metrics"]
    assert (
        metrics["val/fid"] == value and metrics["val/fid_256"] == value and metrics["val/best_fid"] <= value
    )
    assert metrics["val/is"] >= 1.0 and "val/kid" in metrics  # IS of any distribution is >= 1
    assert len(list((tmp_path / "fidcache").glob("fid_real_*.pt"))) == 1
    dm = DigitsDataModule(image_size=32)
    dm.setup()

    def loads_from_cache(num_images: int) -> bool:
        callback = FID(build("small_conv"), num_images=num_images, cache_dir=str(tmp_path / "fidcache"))
        callback.fid = FrechetInceptionDistance(feature=callback.feature, reset_real_features=False)
        return callback.load_real(dm, "cpu")

    assert loads_from_cache(256) is True
    assert loads_from_cache(128) is False  # another sample count is another cache entry


def test_offline_fid_is_off_with_one_hint(tmp_path, caplog, monkeypatch, capfd):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no cached Inception weights
    monkeypatch.setattr(features, "_missing", {})  # an earlier test of this process may have tried
    assert build("inception", weights_path=None) is None
    assert features.why_no_inception().startswith("download failed: ")
    assert build("inception", weights_path=None) is None
    assert not caplog.records  # the FID callback says it, in its one line
    assert "Downloading" not in capfd.readouterr().err  # torch's own line would stay in the log
    assert not list((tmp_path / "torch").rglob("*.pth"))  # nothing half-written left behind
    assert build("inception", weights_path=str(tmp_path / "missing.pth")) is None
    assert features.why_no_inception() == f"FID_WEIGHTS={tmp_path / 'missing.pth'} is not a file"
    with pytest.raises(ConfigError, match="allowed values"):
        build("resnet")


@pytest.mark.slow
def test_default_run_leaves_samples_gif_and_loss_plot(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "train.py",
            "model=dcgan",
            "data=digits",
            "trainer.max_epochs=1",
            "trainer.limit_train_batches=4",
            "logger=csv",
            f"hydra.run.dir={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "TORCH_HOME": str(tmp_path / "th")},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    inception = [line for line in (run.stdout + run.stderr).splitlines() if "Inception" in line]
    assert len(inception) == 1 and "FID_WEIGHTS" in inception[0], inception  # one line, what to do in it
    assert "val/fid uses a classifier trained on this dataset" in inception[0]  # the offline fallback
    assert (tmp_path / "samples" / "progress.gif").is_file()
    assert (tmp_path / "loss_curves.png").stat().st_size > 1000
    assert len(list((tmp_path / "samples").glob("iter_*.png"))) >= 2


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    train(smoke("model=cdcgan", "data.num_classes=3", "trick=ema", output_dir=out))
    return out / "checkpoints" / "last.ckpt"


def test_generate_grid_and_individual_images(checkpoint, tmp_path):
    written = generate(
        parse([f"ckpt_path={checkpoint}", "num_images=6", "individual=true", f"out_dir={tmp_path}"])
    )
    assert (tmp_path / "grid.png").is_file() and len(written) == 7
    assert len(list((tmp_path / "images").glob("*.png"))) == 6


def test_generate_interpolation_and_label(checkpoint, tmp_path):
    generate(
        parse(
            [
                f"ckpt_path={checkpoint}",
                "mode=interpolate",
                "steps=5",
                "rows=2",
                "label=1",
                f"out_dir={tmp_path}",
            ]
        )
    )
    assert (tmp_path / "interpolation.png").is_file()
    with pytest.raises(ConfigError, match="trained on classes"):
        generate(parse([f"ckpt_path={checkpoint}", "label=9", f"out_dir={tmp_path}"]))


@pytest.mark.slow
def test_generate_cli_rejects_bad_paths(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "gan.generate", f"ckpt_path={tmp_path / 'missing.ckpt'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (
        run.returncode == 2
        and run.stderr.strip() == f"error: ckpt_path={tmp_path / 'missing.ckpt'}: no such checkpoint file"
    )
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"garbage")
    with pytest.raises(ConfigError, match=f"ckpt_path={bad}: not a readable checkpoint"):
        generate(parse([f"ckpt_path={bad}"]))


@pytest.mark.parametrize(
    "option, message",
    [
        ("num_images=0", "num_images=0: must be an integer >= 1"),
        ("num_images=-3", ">= 1"),
        ("steps=1", ">= 2"),
    ],
)
def test_generate_rejects_bad_counts_in_one_line(option, message, checkpoint, tmp_path):
    with pytest.raises(ConfigError, match=message):
        generate(parse([f"ckpt_path={checkpoint}", option, f"out_dir={tmp_path}"]))


def test_generate_refuses_label_for_unconditional_model_and_unwritable_dir(tmp_path):
    train(smoke(output_dir=tmp_path / "run"))
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    with pytest.raises(ConfigError, match="not conditioned on classes"):
        generate(parse([f"ckpt_path={ckpt}", "label=3", f"out_dir={tmp_path}"]))
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")  # root ignores permission bits; a path under a file fails for everyone
    with pytest.raises(ConfigError, match="out_dir=.*cannot write there"):
        generate(parse([f"ckpt_path={ckpt}", f"out_dir={not_a_dir / 'sub'}"]))


def test_generate_large_counts_in_chunks_with_capped_grid(checkpoint, tmp_path, monkeypatch):
    import gan.generate as generate_module

    monkeypatch.setattr(generate_module, "MAX_GRID", 16)
    written = generate(parse([f"ckpt_path={checkpoint}", "num_images=40", "chunk=7", f"out_dir={tmp_path}"]))
    assert len(written) == 41 and len(list((tmp_path / "images").glob("*.png"))) == 40
    from PIL import Image

    assert Image.open(tmp_path / "grid.png").size == (4 * 34 + 2, 4 * 34 + 2)  # 16 images of 32 px, 2 px pad


def test_inception_score_without_weights_names_the_score_not_fid(tmp_path, caplog):
    assert build("inception_logits", weights_path=str(tmp_path / "missing.pth")) is None
    assert (
        "No Inception Score (val/is) for this run: FID_WEIGHTS=" in caplog.text
        and "FID" not in caplog.text[:30]
    )
