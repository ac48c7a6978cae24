"""Training runs of the small-data parts: model=resnet and model=r3gan at 32-256 px, trick=[ada,lecam] with
every loss, and R3GAN's recipe with ADA, LeCam and EMA killed with SIGKILL and resumed bit for bit.
~15 s, plus 50-65 s for the resume test (over 10 s: a kill needs real train.py processes, three of them,
as tests/test_resume.py)."""

import functools
import signal

import pytest
import torch

from gan.build import build_module
from tests.conftest import CONF, fit, smoke
from tests.test_resume import assert_same_state, load, run_with

pytestmark = pytest.mark.slow  # subprocess or long training runs: not in the fast tier

TINY = {
    "resnet": ["model.generator.ngf=32", "model.discriminator.ndf=32", "loss=hinge"],
    "r3gan": ["model.generator.width=16", "model.discriminator.width=16", "loss=rpgan", "trick=[r1,r2]"],
}


@pytest.mark.parametrize("size", [32, 64, 128, 256])
@pytest.mark.parametrize("model", ["resnet", "r3gan"])
def test_new_models_train_at_every_size(model, size, tmp_path):
    cfg = smoke(f"model={model}", *TINY[model], f"data.image_size={size}", "data.dataset_size=8",
                "data.batch_size=4", output_dir=tmp_path)  # fmt: skip
    module = build_module(cfg)
    d0 = [p.detach().clone() for p in module.discriminator.parameters()]
    g0 = [p.detach().clone() for p in module.generator.parameters()]
    fit(module, cfg, iterations=1)
    assert (module.d_steps, module.g_steps) == (1, 1)
    assert module.generate(*module.draw_inputs(2)).shape == (2, 3, size, size)
    for before, net in ((d0, module.discriminator), (g0, module.generator)):
        after = list(net.parameters())
        assert all(torch.isfinite(p).all() for p in after)
        assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


LOSSES = sorted(p.stem for p in (CONF / "loss").glob("*.yaml"))


@pytest.mark.parametrize("loss", LOSSES)
def test_ada_and_lecam_train_with_every_loss(loss, tmp_path):
    assert len(LOSSES) == 7
    cfg = smoke(f"loss={loss}", "trick=[ada,lecam]", "trick.ada.interval=1", "trick.ada.initial_p=0.5",
                "trick.lecam.start_iteration=0", "model.generator.ngf=8", "model.discriminator.ndf=8",
                output_dir=tmp_path)  # fmt: skip
    module = build_module(cfg)
    fit(module, cfg, iterations=2)
    ada, lecam = module.tricks["ada"], module.tricks["lecam"]
    # two updates of 16 reals each: p moved by a multiple of 16 / 500k from 0.5, at most twice
    steps = (ada.p.item() - 0.5) / (16 / 500_000)
    assert abs(steps - round(steps)) < 1e-3 and abs(round(steps)) <= 2
    assert -1 <= ada.rt.item() <= 1 and ada.signs.tolist() == [0.0, 0.0]
    assert lecam.updates.item() == 2 and torch.isfinite(lecam.anchors).all()
    assert lecam.last.item() >= 0 and torch.isfinite(lecam.last)  # the term ran at iteration 1


# 4 batches per epoch, 3 epochs = 12 iterations, a checkpoint every iteration (as tests/test_resume.py,
# without its FID and logging checks: here the point is the tricks' state)
BASE = [
    "data=synthetic",
    "data.dataset_size=64",
    "data.batch_size=16",
    "data.image_size=32",
    "data.channels=1",
    "optim=adam_decay",
    "trainer.max_epochs=3",
    "trainer.accelerator=cpu",
    "trainer.log_every_n_steps=1",
    "logger=csv",
    "callbacks.model_checkpoint.every_n_iterations=1",
    "callbacks.fid=null",
    "callbacks.progress_bar=null",
    "seed=3",
]
# R3GAN's objective with ADA (p starting at 0.5 so the augmentation is busy, updated every 2 iterations),
# LeCam (its term from iteration 3) and EMA, the networks at a tiny width; killed at iteration 6 of 12.
RECIPE = [
    "model=r3gan",
    "model.generator.width=8",
    "model.discriminator.width=8",
    "loss=rpgan",
    "trick=[r1,r2,ada,lecam,ema]",
    "trick.r1.interval=2",
    "trick.r2.interval=3",
    "trick.ada.interval=2",
    "trick.ada.initial_p=0.5",
    "trick.lecam.start_iteration=3",
]


def test_sigkill_and_resume_is_bit_identical_with_r3gan_ada_lecam(tmp_path):
    run = functools.partial(run_with, base=BASE)
    run(tmp_path / "full", *RECIPE)
    killed = run(tmp_path / "killed", *RECIPE, "+callbacks.kill._target_=tests.helpers.KillAt",
                 "+callbacks.kill.iteration=6", check=False)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL
    assert load(tmp_path / "killed")["gan"]["iteration"] == 6
    run(tmp_path / "killed", *RECIPE, "ckpt_path=auto")
    full, resumed = load(tmp_path / "full"), load(tmp_path / "killed")
    assert_same_state(full, resumed)
    state = full["state_dict"]
    assert state["tricks.ada.p"].item() != 0.5 and state["tricks.lecam.updates"].item() == 12  # both worked
