"""APA (gan/tricks/apa.py): which reals are swapped for fakes, p's update by hand, fakes untouched, and the
order GANModule gives it (G's batch first)."""

import pytest
import torch

from gan.build import build_module
from gan.errors import ConfigError, instantiate
from gan.tricks.apa import APA
from gan.tricks.base import Trick
from tests.conftest import fit, smoke


def batches(n=8):
    """Real image i is all i, fake image i all 100 + i: a pixel says where it came from."""
    real = torch.arange(n, dtype=torch.float32)[:, None, None, None].expand(n, 1, 2, 2).clone()
    return real, real + 100


def test_reals_swapped_where_the_seeded_draw_is_below_p():
    # torch.manual_seed(0); torch.rand(8) = 0.4963 0.7682 0.0885 0.1320 0.3074 0.6341 0.4901 0.8964
    real, fake = batches()
    for p, swapped in [(0.5, [0, 2, 3, 4, 6]), (0.25, [2, 3]), (0.0, []), (1.0, list(range(8)))]:
        trick = APA(initial_p=p)
        torch.manual_seed(0)
        trick.d_input(fake, "fake")
        out = trick.d_input(real, "real")
        from_fake = (out[:, 0, 0, 0] >= 100).nonzero().flatten().tolist()
        assert from_fake == swapped, p
        assert torch.equal(out[swapped], fake[swapped])
        kept = [i for i in range(8) if i not in swapped]
        assert torch.equal(out[kept], real[kept])


def test_fakes_untouched_and_swapped_in_detached():
    real, base = batches()
    weight = torch.tensor(2.0, requires_grad=True)  # stands for G's parameters
    fake = base * weight
    trick = APA(initial_p=1.0)
    assert trick.d_input(fake, "fake") is fake  # G's batch as it came, graph and all
    out = trick.d_input(real, "real")
    assert torch.equal(out, fake.detach()) and not out.requires_grad


def test_the_real_batch_first_is_refused():
    real, _ = batches()
    with pytest.raises(RuntimeError, match="order is fake, real"):
        APA().d_input(real, "real")


class Verdicts:
    """A stand-in for gan.step.Seen: D's real logits, given."""

    def __init__(self, real):
        self.real = torch.tensor(real)

    def logits(self, which):
        return self.real


def test_p_moves_by_the_sign_of_rt_minus_target_by_hand():
    # speed_kimg=0.01: p moves by 1 in 10 real images; interval 2: an update every second iteration
    trick = APA(target=0.6, speed_kimg=0.01, interval=2, initial_p=0.9)
    trick.check(instantiate({"_target_": "gan.losses.NonSaturating"}), {})
    script = [[1.0, 2.0, -1.0, 3.0], [-1.0, -2.0, 0.5, 1.0], [1.0, 1.0, 1.0, -1.0], [2.0, 1.0, 3.0, 1.0]]
    ps = []
    for i, logits in enumerate(script):
        trick.begin_iteration(i)
        trick.d_penalty(Verdicts(logits))
        trick.after_step("d", torch.tensor(0.0), None)
        ps.append(round(trick.p.item(), 6))
    # after iteration 1: r_t = (2 + 0) / 8 = 0.25 < 0.6, p = 0.9 - 8/10 = 0.1
    # after iteration 3: r_t = (2 + 4) / 8 = 0.75 > 0.6, p = 0.1 + 8/10 = 0.9
    assert ps == [0.9, 0.1, 0.1, 0.9]
    assert trick.metrics()["rt"].item() == 0.75


def test_refusals_name_apa(tmp_path):
    cfg = smoke("trick=[apa,label_flip]", output_dir=tmp_path)
    with pytest.raises(ConfigError, match="trick=apa reads sign"):
        build_module(cfg)
    with pytest.raises(ConfigError, match="trick.apa: interval"):
        APA(interval=0)


class Probe(Trick):
    """Records each batch as it reaches the end of the trick list."""

    def __init__(self):
        super().__init__()
        self.order, self.views = [], {}

    def d_input(self, x, which):
        self.order.append(which)
        self.views[which] = x.detach().clone()
        return x


def test_in_training_d_sees_the_iterations_fakes_as_reals_at_p_1(tmp_path):
    cfg = smoke("trick=[apa]", "trick.apa.initial_p=1.0", output_dir=tmp_path)
    module = build_module(cfg)
    module.tricks["probe"] = probe = Probe()
    fit(module, cfg, iterations=1)
    assert probe.order == ["fake", "real"]
    assert torch.equal(probe.views["real"], probe.views["fake"])
