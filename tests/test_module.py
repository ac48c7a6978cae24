"""GANModule: a train step moves both nets; a D step leaves G alone and a G step leaves D alone."""

import torch

from gan.build import build_module
from gan.tricks.base import Trick
from tests.conftest import fit, smoke


def params(net: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


class NoDStep(Trick):
    def should_step_d(self) -> bool:
        return False


class NoGStep(Trick):
    def should_step_g(self) -> bool:
        return False


def test_one_iteration_changes_both_networks(tmp_path):
    cfg = smoke(output_dir=tmp_path)
    module = build_module(cfg)
    g0, d0 = params(module.generator), params(module.discriminator)
    fit(module, cfg)
    assert not same(g0, params(module.generator)) and not same(d0, params(module.discriminator))
    assert (module.iteration, module.d_steps, module.g_steps) == (1, 1, 1)


def test_d_step_alone_leaves_g_untouched(tmp_path):
    cfg = smoke(output_dir=tmp_path)
    module = build_module(cfg)
    module.tricks["no_g"] = NoGStep()
    g0, d0 = params(module.generator), params(module.discriminator)
    fit(module, cfg)
    assert same(g0, params(module.generator)) and not same(d0, params(module.discriminator))
    assert (module.d_steps, module.g_steps) == (1, 0)


def test_g_step_alone_leaves_d_untouched(tmp_path):
    cfg = smoke(output_dir=tmp_path)
    module = build_module(cfg)
    module.tricks["no_d"] = NoDStep()
    g0, d0 = params(module.generator), params(module.discriminator)
    fit(module, cfg)
    assert not same(g0, params(module.generator)) and same(d0, params(module.discriminator))
    assert (module.d_steps, module.g_steps) == (0, 1)


def test_logs_losses_and_d_outputs(tmp_path):
    cfg = smoke(output_dir=tmp_path)
    module = build_module(cfg)
    metrics = fit(module, cfg).callback_metrics
    for key in ("train/d_loss", "train/g_loss", "train/d_real", "train/d_fake", "train/g_steps"):
        assert key in metrics and torch.isfinite(metrics[key])
    assert 0 < metrics["train/d_real"] < 1


def test_fixed_batch_is_one_row_per_class_for_conditional_models(tmp_path):
    cfg = smoke("model=cdcgan", "data.num_classes=4", output_dir=tmp_path)
    module = build_module(cfg)
    assert module.fixed_labels.tolist() == [c for c in range(4) for _ in range(16)]
    assert module.sample_nrow == 16 and module.sample_fixed().shape == (64, 3, 32, 32)
