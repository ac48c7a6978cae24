"""Health detectors on scripted loss and sample sequences, and config validation before work starts."""

import pytest
import torch

from gan.callbacks.health import collapsed, d_overpowering, diversity, losses_frozen, slope
from gan.errors import ConfigError
from gan.run import train
from gan.validate import validate
from tests.conftest import smoke


def test_d_overpowering_needs_tiny_d_fake_and_rising_g_loss():
    rising = [1.0 + 0.2 * i for i in range(10)]
    assert d_overpowering([0.01] * 10, rising, window=10)
    assert not d_overpowering([0.3] * 10, rising, window=10)  # D not winning
    assert not d_overpowering([0.01] * 10, rising[::-1], window=10)  # G recovering
    assert not d_overpowering([0.01] * 5, rising[:5], window=10)  # not enough history
    assert slope([1, 2, 3]) == pytest.approx(1.0)


def test_frozen_losses():
    assert losses_frozen([0.69] * 10, [0.7] * 10, window=10)
    assert not losses_frozen([0.69] * 9 + [0.8], [0.7] * 10, window=10)


def test_diversity_falls_when_samples_collapse():
    varied = torch.rand(16, 3, 8, 8) * 2 - 1
    one = varied[:1].repeat(16, 1, 1, 1) + 0.01 * torch.randn(16, 3, 8, 8)
    history = [diversity(varied), diversity(varied), diversity(one)]
    assert history[-1] < 0.1 * history[0]
    assert collapsed(history) and not collapsed(history[:2])


def test_health_callback_logs_diversity_in_a_run(tmp_path):
    cfg = smoke("logger=csv", "callbacks.health.every_n_iterations=1", output_dir=tmp_path)
    train(cfg)
    metrics = (tmp_path / "csv" / "metrics.csv").read_text()
    assert "health/diversity" in metrics


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.generator.lr=-0.1", "optim.generator.lr=-0.1: must be a number > 0"),
        ("data.batch_size=0", "data.batch_size=0: must be a number > 0"),
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
