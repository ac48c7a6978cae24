"""The offline domain FID: a cached classifier, an ordering real < blurred < noise, precision/recall that
see mode dropping, padding that keeps 28x28 content exact, the offline fallback in training, and the
quality benchmark end to end (no numbers asserted)."""

import subprocess
import sys
import time

import pytest
import torch
import torch.nn.functional as F
from torchmetrics.image.fid import FrechetInceptionDistance

import gan.metrics.classifier as classifier_module
from gan.build import build_datamodule
from gan.data.mnist import fit_to_size
from gan.metrics.classifier import domain_classifier
from gan.metrics.precision_recall import precision_recall
from gan.pixels import as_rgb_uint8
from gan.run.train import train
from tests.conftest import ROOT, make_cfg


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits")
    datamodule = build_datamodule(make_cfg("data=digits", output_dir=out))
    datamodule.setup()
    return datamodule, domain_classifier(datamodule, out / "cache", epochs=2), out


@pytest.mark.slow
def test_classifier_is_cached_and_accurate(digits, monkeypatch):
    datamodule, features, out = digits
    assert features.accuracy > 0.9 and features.num_features == 128
    monkeypatch.setattr(classifier_module, "fit_classifier", lambda *a, **k: pytest.fail("not cached"))
    again = domain_classifier(datamodule, out / "cache", epochs=2)
    assert again.accuracy == features.accuracy and again.name == features.name


def fid(features, real: torch.Tensor, fake: torch.Tensor) -> float:
    metric = FrechetInceptionDistance(feature=features)
    metric.update(as_rgb_uint8(real), real=True)
    metric.update(as_rgb_uint8(fake), real=False)
    return float(metric.compute())


def test_fid_orders_real_blurred_noise(digits):
    datamodule, features, _ = digits
    images = torch.stack([datamodule.train_set[i][0] for i in range(1600)])
    first, second = images[:800], images[800:]
    blurred = F.avg_pool2d(second, 5, stride=1, padding=2)
    noise = torch.rand_like(second) * 2 - 1
    real_vs_real, real_vs_blur = fid(features, first, second), fid(features, first, blurred)
    assert real_vs_real < real_vs_blur < fid(features, first, noise)


def test_precision_recall_sees_mode_dropping():
    torch.manual_seed(0)
    real = torch.randn(600, 8)
    assert precision_recall(real, real) == (1.0, 1.0)
    p, r = precision_recall(real[:300], real[300:])
    assert p > 0.8 and r > 0.8
    repeated = real[:1].repeat(300, 1)  # one image, 300 times: good quality, no coverage
    p, r = precision_recall(real, repeated)
    assert p == 1.0 and r < 0.02


def test_padding_keeps_28x28_content_pixel_exact():
    images = torch.rand(2, 1, 28, 28)
    padded = fit_to_size(images, 32, "pad")
    assert padded.shape == (2, 1, 32, 32) and torch.equal(padded[..., 2:30, 2:30], images)
    assert padded[..., :2, :].abs().sum() == 0  # black border, -1 after normalisation
    assert fit_to_size(images, 32, "stretch").shape == (2, 1, 32, 32)


@pytest.mark.slow
def test_fashion_mnist_default_is_padded_32(fashion_mnist, tmp_path):
    datamodule = build_datamodule(make_cfg("data=fashion_mnist", output_dir=tmp_path))
    datamodule.setup()
    image, _ = datamodule.train_set[0]
    assert image.shape == (1, 32, 32) and torch.all(image[:, :2] == -1) and torch.all(image[:, :, -2:] == -1)
    held_out = datamodule.held_out_dataset()
    assert len(held_out) == 10_000 and held_out[0][0].shape == (1, 32, 32)


@pytest.mark.slow
def test_training_offline_logs_domain_fid_precision_recall(tmp_path):
    cfg = make_cfg(
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=3",
        "logger=csv",
        "callbacks.fid.num_images=300",
        "callbacks.fid.classifier_epochs=1",
        "callbacks.fid.feature.weights_path=/nonexistent/inception.pth",
        output_dir=tmp_path,
    )
    train(cfg)
    summary = (tmp_path / "summary.json").read_text()
    for key in ("val/fid", "val/precision", "val/recall"):
        assert f'"{key}"' in summary


@pytest.mark.slow
def test_quality_benchmark_runs_tiny_with_seeds_and_extra_runs(fashion_mnist):
    command = [sys.executable, "benchmarks/quality.py", "--iterations", "3", "--samples", "100", "--tiny",
               "--runs", "plain", "--extra", "cl=perf.channels_last=true", "--seeds", "0,1"]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "3 iterations per run" in done.stdout
    for row in ("| plain | 0 | 3 |", "| cl | 1 | 3 |", "mean domain FID over seeds", "Floor (training"):
        assert row in done.stdout


@pytest.mark.slow
def test_the_plain_loop_stops_at_its_budget_in_seconds():
    from benchmarks.quality import plain_loop

    reals = torch.rand(64, 1, 32, 32) * 2 - 1
    start = time.perf_counter()
    _, iterations = plain_loop(reals, budget=0.5)
    assert iterations >= 1 and 0.5 <= time.perf_counter() - start < 5
    assert plain_loop(reals, budget=60, limit=2)[1] == 2  # an iteration limit wins over the budget


def test_quality_benchmark_refuses_an_unknown_run(monkeypatch, capsys):
    from benchmarks import quality

    monkeypatch.setattr(sys, "argv", ["quality.py", "--runs", "plain,fastt"])
    with pytest.raises(SystemExit) as exit_info:
        quality.main()
    assert exit_info.value.code == 2 and "unknown run ['fastt']" in capsys.readouterr().err
