"""The step protocol: a spy on D's inputs proves that D's loss, every penalty and G's loss see the same
tensors; relativistic losses get real logits from the updated D; feature layers are checked at start-up;
values derived from data flow from the datamodule; the divergence guard skips bad steps on the device."""

import pytest
import torch
from PIL import Image

from gan.build import build_module
from gan.errors import ConfigError
from gan.guard import DivergenceError
from gan.run.train import train
from gan.tricks.base import Trick
from tests.conftest import fit, smoke

AUGMENTED = ["trick.diffaugment.policy='color,translation'", "trick.r1.interval=1", "trick.r2.interval=1"]


def spy(module):
    """Record every tensor that enters D, and the raw real batches, in order."""
    inputs, batches = [], []
    module.discriminator.register_forward_pre_hook(lambda m, args: inputs.append(args[0].detach().clone()))
    step = module.training_step
    module.training_step = lambda batch, *args: (batches.append(batch[0].clone()), step(batch, *args))[1]
    return inputs, batches


def test_d_loss_penalties_and_g_term_see_what_d_sees(tmp_path):
    tricks = "trick=[diffaugment,instance_noise,r1,feature_matching]"
    cfg = smoke("loss=wgan_gp", tricks, *AUGMENTED[:2], output_dir=tmp_path)
    module = build_module(cfg)
    inputs, batches = spy(module)
    fit(module, cfg, iterations=1)
    # D step: real view, fake view, WGAN-GP's interpolates, R1's reals; G step: FM's real and fake (the
    # adversarial term reuses FM's fake forward). D runs once per tensor per step.
    assert len(inputs) == 6
    real, fake, mixed, r1_real, g_real, g_fake = inputs
    assert not torch.allclose(real, batches[0], atol=1e-3)  # the augmentation and noise are really on
    assert torch.equal(r1_real, real) and torch.equal(g_real, real) and torch.equal(g_fake, fake)
    alpha = ((mixed - fake) / (real - fake)).flatten(1)
    ok = (real - fake).abs().flatten(1) > 1e-3
    for a, keep in zip(alpha, ok, strict=True):  # one mixing weight per sample, on the line real-fake
        assert torch.allclose(a[keep], a[keep][0].expand_as(a[keep]), atol=1e-3)


@pytest.mark.slow
def test_r2_and_rpgan_g_step_use_the_same_views(tmp_path):
    cfg = smoke("loss=rpgan", "trick=[diffaugment,r1,r2]", *AUGMENTED, output_dir=tmp_path)
    module = build_module(cfg)
    inputs, _ = spy(module)
    fit(module, cfg, iterations=1)
    real, fake, r1_in, r2_in, g_real, g_fake = inputs  # G step: fakes first, then reals (updated D)
    assert torch.equal(r1_in, real) and torch.equal(r2_in, fake)
    assert torch.equal(g_real, real) and torch.equal(g_fake, fake)


class RecordRealLogits(Trick):
    """Checks the real logits G's loss gets: D's output on the real view after D's update."""

    def g_penalty(self, seen):
        self.got = seen.logits("real").detach().clone()
        with torch.no_grad():
            self.expected = seen.discriminator(seen.real, seen.cond)
        return None


@pytest.mark.parametrize("loss", ["ragan", "rpgan"])
def test_relativistic_g_loss_gets_real_logits_from_the_updated_d(loss, tmp_path):
    cfg = smoke(f"loss={loss}", "model.discriminator.norm=none", output_dir=tmp_path)
    module = build_module(cfg)
    module.tricks["record"] = RecordRealLogits()
    outputs = []
    module.discriminator.register_forward_hook(lambda m, a, out: outputs.append(out.detach()) and None)
    fit(module, cfg, iterations=1)
    record = module.tricks["record"]
    assert torch.allclose(record.got, record.expected)
    assert not torch.allclose(record.got, outputs[0])  # not D's logits on the reals before its update


def test_feature_layer_d_lacks_is_refused_at_start_up(tmp_path):
    cfg = smoke("trick=feature_matching", "trick.feature_matching.layer=net.99", output_dir=tmp_path)
    with pytest.raises(ConfigError, match="layer='net.99' does not exist.*net.0"):
        build_module(cfg)


def test_feature_matching_can_replace_g_adversarial_loss(tmp_path):
    cfg = smoke(
        "trick=feature_matching", "trick.feature_matching.replace_adversarial=true", output_dir=tmp_path
    )
    module = build_module(cfg)
    fit(module, cfg, iterations=1)
    metrics = module.tricks["feature_matching"].metrics()
    assert module.g_steps == 1 and float(metrics["distance"]) > 0


def test_label_trick_with_relativistic_loss_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="trick=label_smoothing.*loss=rpgan"):
        build_module(smoke("loss=rpgan", "trick=label_smoothing", output_dir=tmp_path))


@pytest.mark.slow
def test_issue_smoke_commands_run(tmp_path):
    tricks = "trick=[r1,r2,feature_matching,historical_averaging,ema,diffaugment]"
    train(smoke("loss=rpgan", tricks, "model.discriminator.minibatch_std=true", output_dir=tmp_path / "a"))
    train(smoke("loss=ragan", output_dir=tmp_path / "b"))
    train(smoke("model.discriminator.minibatch_discrimination=16", output_dir=tmp_path / "c"))
    assert (tmp_path / "c" / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.slow
def test_labels_from_subfolders_reach_a_conditional_model(tmp_path):
    for i, name in enumerate(["boots", "heels", "sandals"]):
        folder = tmp_path / "data" / name
        folder.mkdir(parents=True)
        for j in range(6):
            Image.new("RGB", (40, 40), (80 * i, 20 * j, 100)).save(folder / f"{j}.png")
    cfg = smoke(
        "data=image_folder",
        f"data.root={tmp_path / 'data'}",
        "data.labels_from_subfolders=true",
        "data.image_size=32",
        "data.batch_size=6",
        "model=cdcgan",
        output_dir=tmp_path / "run",
    )
    assert "num_classes" not in cfg.model.generator
    module = build_module(cfg)
    assert module.generator.embed.num_embeddings == 3
    assert module.fixed_labels.unique().tolist() == [0, 1, 2]
    fit(module, cfg, iterations=1)
    assert module.config["model"]["generator"]["num_classes"] == 3  # gan.generate rebuilds G from it


def test_model_key_contradicting_the_data_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="model.generator.image_size=64 but the data has image_size=32"):
        build_module(smoke("+model.generator.image_size=64", output_dir=tmp_path))


class PoisonAt(Trick):
    """D sees NaN at one iteration; the weights before it are kept for comparison."""

    def __init__(self, at: int):
        super().__init__()
        self.at = at

    def begin_iteration(self, iteration):
        self.iteration = iteration
        if iteration == self.at:
            self.before = [p.detach().clone() for p in self._nets.parameters()]

    def d_input(self, x, which):
        return x * float("nan") if self.iteration == self.at else x


def test_guard_skips_the_bad_update_on_the_device_then_stops(tmp_path):
    cfg = smoke(output_dir=tmp_path)
    module = build_module(cfg)
    poison = PoisonAt(at=1)
    poison._nets = torch.nn.ModuleList([module.generator, module.discriminator])
    module.tricks["poison"] = poison
    with pytest.raises(DivergenceError, match="at iteration 1 \\(2 bad step"):
        fit(module, cfg, iterations=2)
    after = list(poison._nets.parameters())
    assert all(torch.equal(a, b) for a, b in zip(poison.before, after, strict=True))
    steps = [s["step"] for s in module.optimizers()[1].optimizer.state.values()]
    assert all(float(s) == 1 for s in steps)  # the bad step left Adam's count (and moments) alone


def test_guard_catches_exploding_losses(tmp_path):
    cfg = smoke("max_loss=1e-6", output_dir=tmp_path)
    with pytest.raises(DivergenceError, match="lower optim"):
        fit(build_module(cfg), cfg, iterations=1)


def test_a_wrapper_names_its_inner_ds_feature_head():
    from torch import nn

    from gan.step import FEATURES, FeatureTaps

    class Inner(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.fc = nn.Linear(4, 3), nn.Linear(3, 1)

        def forward(self, x, cond=None):
            return self.fc(torch.relu(self.body(x))).flatten()

    class WithAuxHead(nn.Module):  # its own head is registered after the inner D: the last leaf layer
        feature_head = "inner.fc"

        def __init__(self):
            super().__init__()
            self.inner, self.aux = Inner(), nn.Linear(1, 2)

        def forward(self, x, cond=None):
            return self.inner(x) + self.aux(self.inner(x)[:, None]).sum(1)

    x = torch.randn(5, 4)
    d = WithAuxHead()
    _, features = FeatureTaps(d, [FEATURES]).run(d, x, None)
    assert torch.equal(features[FEATURES], torch.relu(d.inner.body(x)))  # the input of the inner D's fc
    del WithAuxHead.feature_head
    d = WithAuxHead()
    _, features = FeatureTaps(d, [FEATURES]).run(d, x, None)
    assert features[FEATURES].shape == (5, 1)  # unnamed: the aux head's input, the last leaf layer's
