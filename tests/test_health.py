"""Health detectors on scripted loss and sample sequences, and config validation before work starts."""

import csv
from types import SimpleNamespace

import pytest
import torch

from gan.callbacks.health import Health, collapsed, d_wins, diversity, losses_frozen, near_copies, slope
from gan.errors import ConfigError
from gan.run.train import train
from gan.run.validate import validate
from tests.conftest import smoke


def rows(*values, every=25):
    """Values at the log points of a run: iterations 1, 25, 50, ..."""
    return [(max(1, i * every), v) for i, v in enumerate(values)]


def test_d_wins_needs_reals_near_1_and_fakes_near_0_over_the_span():
    assert d_wins(rows(0.999, 0.999, 0.999, 0.999), rows(1e-4, 1e-4, 1e-4, 1e-4), span=100)
    assert not d_wins(rows(0.999, 0.999, 0.999), rows(1e-4, 1e-4, 1e-4), span=100)  # half a span: too early
    # the early dip of a healthy DCGAN on the digits (iterations 20-70, measured 2026-12-01) is no alarm
    assert not d_wins(rows(0.96, 0.97, 0.97, 0.99, 0.97), rows(0.08, 0.035, 0.022, 0.019, 0.024), span=100)
    assert not d_wins(rows(0.6, 0.6, 0.6, 0.6), rows(1e-4, 1e-4, 1e-4, 1e-4), span=100)  # D unsure of reals
    # only the last 100 iterations count: a bad start long ago does not hide a win now
    assert d_wins(
        rows(0.5, 0.5, 0.5, 0.5, 0.999, 0.999, 0.999, 0.999), rows(*[0.3] * 4, *[1e-4] * 4), span=100
    )
    assert slope([1, 2, 3]) == pytest.approx(1.0)


@pytest.mark.slow
def test_a_run_where_d_wins_outright_is_flagged_early_and_once(tmp_path, caplog):
    """G barely learns (lr 1e-9) while D learns fast: D separates reals from fakes within a few dozen
    iterations, and the alarm must come within ~100 iterations of that, once."""
    cfg = smoke(
        "data.dataset_size=256",
        "data.batch_size=16",
        "data.image_size=16",
        "model.generator.ngf=8",
        "model.discriminator.ndf=8",
        "optim.generator.lr=1e-9",
        "optim.discriminator.lr=2e-3",
        "trainer.limit_train_batches=null",
        "trainer.max_epochs=20",
        "max_iterations=150",
        "trainer.log_every_n_steps=25",
        "callbacks.samples=null",
        "logger=csv",
        output_dir=tmp_path,
    )
    with caplog.at_level("WARNING"):
        train(cfg)
    alarms = [r.getMessage() for r in caplog.records if "D wins outright" in r.getMessage()]
    assert len(alarms) == 1, alarms
    with open(tmp_path / "csv" / "metrics.csv", newline="") as file:
        logged = [r for r in csv.DictReader(file) if r["train/d_fake"]]
    started = next(int(r["step"]) for r in logged if float(r["train/d_fake"]) < 0.005)
    flagged = int(alarms[0].split("iteration ")[1].split(":")[0])
    assert started < flagged <= started + 100, (started, flagged)


def test_frozen_losses():
    assert losses_frozen(rows(*[0.69] * 10), rows(*[0.7] * 10), span=100)
    assert not losses_frozen(rows(*[0.69] * 9, 0.8), rows(*[0.7] * 10), span=100)


def test_diversity_falls_when_samples_collapse():
    varied = torch.rand(16, 3, 8, 8) * 2 - 1
    one = varied[:1].repeat(16, 1, 1, 1) + 0.01 * torch.randn(16, 3, 8, 8)
    history = [diversity(varied), diversity(varied), diversity(one)]
    assert history[-1] < 0.1 * history[0]
    assert collapsed(history) and not collapsed(history[:2])


def test_samples_that_are_one_image_are_flagged_at_the_first_check(caplog):
    """A run collapsed before its first check has no best diversity to fall from (issue 40: 64 identical
    checkerboards logged precision 0.97 and no alarm)."""
    checkerboard = (torch.arange(32)[:, None] + torch.arange(32)) % 2 * 2.0 - 1
    collapsed_batch = checkerboard.expand(64, 3, 32, 32) + 0.005 * torch.randn(64, 3, 32, 32)
    healthy = torch.rand(64, 3, 32, 32) * 0.2 - 0.1  # blurry early samples: alike, not copies
    assert near_copies(collapsed_batch, 0.03) == 64 and near_copies(healthy, 0.03) == 0
    for batch in (healthy, collapsed_batch):  # each a first check
        health = Health()
        health.trainer = SimpleNamespace(loggers=[], callbacks=[], callback_metrics={})
        module = SimpleNamespace(sample_fixed=lambda batch=batch: batch, iteration=50)
        with caplog.at_level("WARNING"):
            health.check_diversity(health.trainer, module)
    (alarm,) = [r.getMessage() for r in caplog.records]
    assert "64 of the 64 fixed samples are near-identical" in alarm and "iteration 50" in alarm


def test_health_callback_logs_diversity_in_a_run(tmp_path):
    cfg = smoke("logger=csv", "callbacks.health.first_check=1", output_dir=tmp_path)
    train(cfg)
    metrics = (tmp_path / "csv" / "metrics.csv").read_text()
    assert "health/diversity" in metrics


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.generator.lr=-0.1", "optim.generator.lr=-0.1: must be a number > 0"),
        ("data.batch_size=0", "data.batch_size=0: must be a whole number >= 1"),
        ("data.channels=2", "data.channels=2: allowed values are 1 or 3"),
        ("model.prior=cauchy", "model.prior='cauchy': allowed values are"),
        ("nan_policy=ignore", "nan_policy='ignore': allowed values are"),
    ],
)
def test_impossible_values_fail_naming_the_key(override, message, tmp_path):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        cfg = smoke(override, output_dir=tmp_path)
        validate(cfg)
        train(cfg)


def test_model_that_cannot_make_the_data_size_says_how_to_fix(tmp_path):
    with pytest.raises(ConfigError, match="data.image_size=256"):
        train(smoke("model=dcgan256", "data.image_size=64", output_dir=tmp_path))
    with pytest.raises(ConfigError, match="cannot make 48x48"):
        train(smoke("data.image_size=48", output_dir=tmp_path))
