"""trick=ada: the p update by hand (speed, clamping, interval), r_t per loss, every transform of the pipeline
by hand, the probabilities, and refusals. ~3 s."""

import math

import pytest
import torch

from gan.build import build_module
from gan.errors import ConfigError
from gan.losses import NonSaturating
from gan.step import FeatureTaps, Seen, d_objective
from gan.tricks import ada
from gan.tricks.ada import ADA, adjust_p, apply_color, augment, blit, color_matrix, cutout, draw_blit
from tests.conftest import smoke


class Logits(torch.nn.Module):
    """A 'discriminator' whose logit for an input is its first value, counting its forwards."""

    calls = 0

    def forward(self, x, cond=None):
        self.calls += 1
        return x.flatten(1)[:, 0]


def scripted(real: list[float], fake: list[float] | None = None) -> Seen:
    d = Logits()
    fake = fake if fake is not None else [0.0] * len(real)
    return Seen(
        torch.tensor(real).view(-1, 1, 1, 1),
        torch.tensor(fake).view(-1, 1, 1, 1),
        None,
        d,
        FeatureTaps(d, []),
    )


def test_p_step_by_hand():
    p = torch.tensor(0.5)
    # 4 iterations of 64 reals: p moves by 256 / (500 * 1000) = 0.000512 towards the verdict
    assert adjust_p(p, torch.tensor(0.8), torch.tensor(256.0), 0.6, 500).item() == pytest.approx(0.500512)
    assert adjust_p(p, torch.tensor(0.2), torch.tensor(256.0), 0.6, 500).item() == pytest.approx(0.499488)
    assert adjust_p(p, torch.tensor(0.6), torch.tensor(256.0), 0.6, 500).item() == 0.5  # on target
    assert adjust_p(torch.tensor(1e-4), torch.tensor(-1.0), torch.tensor(256.0), 0.6, 500).item() == 0.0
    assert adjust_p(torch.tensor(0.9999), torch.tensor(1.0), torch.tensor(256.0), 0.6, 500).item() == 1.0


def test_p_goes_from_0_to_1_in_500k_images():
    p, step = torch.tensor(0.0, dtype=torch.float64), torch.tensor(256.0, dtype=torch.float64)
    updates = 0
    while p < 1:
        p = adjust_p(p, torch.tensor(1.0), step, 0.6, 500)
        updates += 1
    assert updates == math.ceil(500_000 / 256)  # 1954 updates of 256 images: just over 500k images


def test_p_follows_sign_of_real_logits_every_interval():
    trick = ADA(interval=2)
    # iteration 0: signs 1 + 1 - 1 + 1 = 2 of 4; iteration 1: 4 of 4 -> r_t = 6 / 8 = 0.75 > 0.6
    for iteration, real in [(0, [1.0, 2.0, -3.0, 0.5]), (1, [1.0, 1.0, 1.0, 1.0])]:
        trick.begin_iteration(iteration)
        assert trick.d_penalty(scripted(real)) is None  # no loss term
        trick.after_step("d", torch.zeros(()), None)
        if iteration == 0:
            assert trick.p.item() == 0.0 and trick.signs.tolist() == [2.0, 4.0]  # between updates
    assert trick.p.item() == pytest.approx(8 / 500_000) and trick.rt.item() == 0.75
    assert trick.signs.tolist() == [0.0, 0.0]
    for iteration in (2, 3):  # r_t = -1: back down, clamped at 0
        trick.begin_iteration(iteration)
        trick.d_penalty(scripted([-1.0] * 4))
        trick.after_step("d", torch.zeros(()), None)
    assert trick.p.item() == 0.0 and trick.rt.item() == -1.0
    assert set(trick.metrics()) == {"p", "rt"}


def test_an_interval_without_d_steps_leaves_p_alone():
    trick = ADA(interval=1, initial_p=0.3)
    trick.after_step("d", torch.zeros(()), None)  # D skipped (no d_penalty call): no reals judged
    assert trick.p.item() == pytest.approx(0.3) and trick.rt.item() == 0.0


def test_rt_reads_each_loss_on_its_own_boundary():
    trick = ADA()
    seen = scripted([0.7, 0.2, 2.0], [1.0, 1.0, 3.0])
    expected = {
        "absolute": [0.7, 0.2, 2.0],  # logits around 0
        "midpoint": [0.2, -0.3, 1.5],  # lsgan: targets 1 and 0
        "paired": [-0.3, -0.8, -1.0],  # D(real) - D(fake), one to one
        "mean": [0.7 - 5 / 3, 0.2 - 5 / 3, 2.0 - 5 / 3],  # against the mean fake
    }
    for kind, values in expected.items():
        trick.rt_kind = kind
        assert torch.allclose(trick.real_verdict(seen), torch.tensor(values))
    for loss, kind in [("hinge", "absolute"), ("lsgan", "midpoint"), ("rpgan", "paired"), ("ragan", "mean")]:
        trick.check(type("Loss", (), {"name": loss, "uses_targets": True})(), {})
        assert trick.rt_kind == kind


def test_reading_real_logits_costs_no_extra_forward():
    seen = scripted([1.0, -1.0])
    d_objective(NonSaturating(), [ADA()], seen, penalties=True)
    assert seen.discriminator.calls == 2  # D(real) and D(fake) once each, shared with the loss


def test_blit_transforms_by_hand():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)
    zero = torch.zeros(1, dtype=torch.long)
    one = torch.ones(1, dtype=torch.long)
    assert blit(x, one, zero, zero, zero)[0, 0].tolist() == [[2.0, 1.0], [4.0, 3.0]]  # x-flip
    assert blit(x, zero, one, zero, zero)[0, 0].tolist() == [[2.0, 4.0], [1.0, 3.0]]  # a quarter turn
    assert blit(x, zero, 2 * one, zero, zero)[0, 0].tolist() == [[4.0, 3.0], [2.0, 1.0]]  # half a turn
    row = torch.tensor([0.0, 1.0, 2.0, 3.0]).repeat(4, 1).view(1, 1, 4, 4)
    # right by 1: column 0 reads column -1, mirrored to 1; left by 2: columns 2, 3 read 4, 5 -> 2, 1
    assert blit(row, zero, zero, one, zero)[0, 0, 0].tolist() == [1.0, 0.0, 1.0, 2.0]
    assert blit(row, zero, zero, -2 * one, zero)[0, 0, 0].tolist() == [2.0, 3.0, 2.0, 1.0]
    column = row.transpose(2, 3)
    assert blit(column, zero, zero, zero, one)[0, 0, :, 0].tolist() == [1.0, 0.0, 1.0, 2.0]  # down by 1


def test_blit_probabilities_and_translation_range():
    torch.manual_seed(0)
    x = torch.zeros(40_000, 1, 32, 32)
    for p in (1.0, 0.5):
        params = draw_blit(x, torch.tensor(p))
        assert params["flip"].float().mean().item() == pytest.approx(p / 2, abs=0.01)  # chosen, then 0 or 1
        assert (params["turns"] != 0).float().mean().item() == pytest.approx(3 * p / 4, abs=0.01)
        moved = (params["tx"] != 0) | (params["ty"] != 0)
        assert moved.float().mean().item() <= p + 0.01
        assert params["tx"].abs().max() == params["ty"].abs().max() == 4  # 1/8 of 32 pixels
    assert all(v.abs().sum() == 0 for v in draw_blit(x, torch.tensor(0.0)).values())


def test_color_matrix_by_hand():
    rgb = torch.tensor([0.2, 0.3, 0.4]).view(1, 3, 1, 1)
    one, zero = torch.ones(1), torch.zeros(1)

    def apply(brightness=zero, contrast=one, lumaflip=zero, hue=zero, saturation=one, x=rgb):
        return apply_color(x, color_matrix(brightness, contrast, lumaflip, hue, saturation)).flatten()

    assert torch.allclose(apply(), rgb.flatten())
    assert torch.allclose(apply(brightness=0.1 * one), torch.tensor([0.3, 0.4, 0.5]))
    assert torch.allclose(apply(brightness=0.1 * one, contrast=2 * one), torch.tensor([0.6, 0.8, 1.0]))
    # luma flip: reflection through the plane orthogonal to (1, 1, 1): gray negates, red -> (1, -2, -2) / 3
    assert torch.allclose(apply(lumaflip=one), torch.tensor([-0.4, -0.3, -0.2]), atol=1e-6)
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    assert torch.allclose(apply(lumaflip=one, x=red), torch.tensor([1 / 3, -2 / 3, -2 / 3]), atol=1e-6)
    # a third of a turn about the luma axis moves red to green
    assert torch.allclose(
        apply(hue=torch.tensor([2 * math.pi / 3]), x=red), torch.tensor([0.0, 1.0, 0.0]), atol=1e-6
    )
    assert torch.allclose(apply(saturation=zero), torch.full((3,), 0.3), atol=1e-6)  # gray
    gray = torch.tensor([0.5]).view(1, 1, 1, 1)
    assert apply_color(gray, color_matrix(0.1 * one, 2 * one, zero, zero, one)).item() == pytest.approx(1.2)
    assert apply_color(gray, color_matrix(zero, one, one, zero, one)).item() == pytest.approx(-0.5)


def test_cutout_zeroes_a_half_side_square():
    torch.manual_seed(0)
    x = torch.ones(200, 1, 32, 32)
    zeros = (cutout(x, torch.tensor(1.0)) == 0).flatten(1).sum(1)
    assert zeros.max() == 16 * 16 and (zeros == 256).sum() > 50  # whole squares inside, clipped at borders
    assert torch.equal(cutout(x, torch.tensor(0.0)), x)


def test_p_zero_changes_nothing_and_p_one_changes_every_image():
    torch.manual_seed(0)
    x = torch.rand(64, 3, 16, 16) * 2 - 1
    assert torch.allclose(augment(x, torch.tensor(0.0), ada.PIPELINES), x, atol=1e-6)
    changed = (augment(x, torch.tensor(1.0), ("color",)) - x).flatten(1).abs().amax(1) > 1e-3
    assert changed.all()  # brightness alone is drawn for every image at p = 1


def test_gradient_flows_through_the_augmentation():
    x = torch.rand(4, 3, 8, 8, requires_grad=True)
    augment(x, torch.tensor(1.0), ("blit", "color")).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_refusals(tmp_path):
    with pytest.raises(ConfigError, match="trick=ada reads sign.*trick=label_flip"):
        build_module(smoke("trick=[ada,label_flip]", output_dir=tmp_path))
    with pytest.raises(ConfigError, match="trick.ada.pipeline='blit,geom'"):
        ADA(pipeline="blit,geom")
