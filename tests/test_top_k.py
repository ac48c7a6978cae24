"""trick=top_k (Sinha et al. 2020) by hand, and the protocol hooks it stands on: `attach` gives a trick the
loss, `begin_epoch` the epoch (also after a resume), `g_samples` selects G's terms."""

import math

import pytest
import torch

from gan.build import build_module
from gan.errors import ConfigError
from gan.losses import NonSaturating, Targets
from gan.run.train import train
from gan.step import g_objective
from gan.tricks.top_k import TopK, top_k_fraction
from tests.conftest import smoke


def test_k_decays_per_epoch_to_its_floor():
    assert top_k_fraction(0, 0.99, 0.5) == 1.0
    assert top_k_fraction(30, 0.99, 0.5) == pytest.approx(0.99**30)  # 0.7397
    assert top_k_fraction(200, 0.99, 0.5) == 0.5  # 0.99^200 = 0.134 is below the floor


def test_g_loss_counts_only_the_k_fakes_d_finds_most_real():
    trick = TopK(gamma=0.99, min_fraction=0.5)
    trick.begin_epoch(30)  # fraction 0.7397: k = int(5.92) = 5 of 8 (truncated, as StudioGAN)
    fakes = torch.tensor([[-3.0], [2.0], [0.5], [-1.0], [4.0], [-2.0], [1.0], [0.0]])
    assert sorted(trick.g_samples(fakes).tolist()) == [1, 2, 4, 6, 7]  # -3, -2 and -1 are dropped

    class FakeSeen:
        targets = Targets.default(fakes)

        def logits(self, which):
            return fakes

    loss = g_objective(NonSaturating(), [trick], FakeSeen())
    kept = torch.tensor([2.0, 0.5, 4.0, 1.0, 0.0])
    by_hand = sum(math.log1p(math.exp(-x)) for x in kept.tolist()) / 5  # softplus(-x), mean over the 5
    assert float(loss) == pytest.approx(by_hand)


def test_relativistic_losses_are_refused_naming_both(tmp_path):
    with pytest.raises(ConfigError, match="trick=top_k selects fakes for G's loss, but loss=rpgan"):
        build_module(smoke("trick=[top_k]", "loss=rpgan", output_dir=tmp_path))


@pytest.mark.slow
def test_a_trick_gets_the_loss_and_each_epoch_also_after_a_resume(tmp_path, monkeypatch):
    module = build_module(smoke("trick=[top_k]", output_dir=tmp_path))
    assert module.tricks["top_k"].gan_loss is module.loss
    epochs = []
    original = TopK.begin_epoch
    monkeypatch.setattr(
        TopK, "begin_epoch", lambda self, epoch: epochs.append(epoch) or original(self, epoch)
    )
    run = ["trick=[top_k]", "trainer.limit_train_batches=1"]
    train(smoke(*run, "trainer.max_epochs=2", output_dir=tmp_path))
    train(smoke(*run, "trainer.max_epochs=4", "ckpt_path=auto", output_dir=tmp_path))
    assert epochs == [0, 1, 2, 3]
