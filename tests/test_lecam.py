"""trick=lecam: the regularizer and its gradient by hand, the anchors' schedule by hand, state in the
checkpoint. ~1 s."""

import pytest
import torch

from gan.step import FeatureTaps, Seen
from gan.tricks.lecam import LeCam, lecam_penalty


class Logits(torch.nn.Module):
    def forward(self, x, cond=None):
        return x.flatten(1)[:, 0]


def scripted(real, fake) -> Seen:
    d = Logits()
    real = torch.tensor(real).view(-1, 1, 1, 1).requires_grad_(True)
    return Seen(real, torch.tensor(fake).view(-1, 1, 1, 1), None, d, FeatureTaps(d, []))


def test_penalty_and_gradient_by_hand():
    real = torch.tensor([1.0, 3.0], requires_grad=True)
    fake = torch.tensor([-1.0, 0.0], requires_grad=True)
    # relu(real - anchor_fake = 0)^2 = [1, 9] -> 5; relu(anchor_real = 2 - fake)^2 = [9, 4] -> 6.5
    penalty = lecam_penalty(real, fake, torch.tensor(2.0), torch.tensor(0.0))
    assert penalty.item() == pytest.approx(11.5)
    penalty.backward()
    assert real.grad.tolist() == [1.0, 3.0]  # 2 * relu(.) / 2
    assert fake.grad.tolist() == [-3.0, -2.0]
    # only reals above the fake anchor and fakes below the real anchor are pulled
    assert lecam_penalty(torch.tensor([-1.0]), torch.tensor([5.0]), torch.tensor(2.0), torch.tensor(0.0)) == 0


def test_anchors_follow_the_reference_schedule():
    trick = LeCam(weight=0.5, decay=0.9, start_iteration=2)
    script = [([1.0, 1.0], [-1.0, -1.0]), ([3.0, 3.0], [1.0, 1.0]), ([5.0, 5.0], [3.0, 3.0])]
    anchors = [(1.0, -1.0), (3.0, 1.0), (0.9 * 3 + 0.1 * 5, 0.9 * 1 + 0.1 * 3)]  # decay 0 before start
    for iteration, ((real, fake), expected) in enumerate(zip(script, anchors, strict=True)):
        trick.begin_iteration(iteration)
        assert trick.d_penalty(scripted(real, fake)) is None  # no term up to start_iteration
        assert trick.anchors.tolist() == pytest.approx(expected)
    trick.begin_iteration(3)
    seen = scripted([2.0, 2.0], [2.0, 2.0])
    term = trick.d_penalty(seen)
    anchor_real, anchor_fake = 0.9 * 3.2 + 0.1 * 2, 0.9 * 1.2 + 0.1 * 2  # 3.08, 1.28
    assert trick.anchors.tolist() == pytest.approx([anchor_real, anchor_fake])
    expected = (2 - anchor_fake) ** 2 + (anchor_real - 2) ** 2  # 0.72^2 + 1.08^2
    assert term.item() == pytest.approx(0.5 * expected)
    assert trick.metrics()["penalty"].item() == pytest.approx(expected)
    term.backward()  # D's outputs carry the gradient; the anchors are constants
    assert seen.real.grad.flatten().tolist() == pytest.approx([0.5 * 2 * 0.72 / 2] * 2)


def test_anchors_are_checkpointed_state():
    trick = LeCam(start_iteration=0)
    trick.d_penalty(scripted([4.0], [-2.0]))
    state = trick.state_dict()
    assert state["anchors"].tolist() == [4.0, -2.0]
    fresh = LeCam()
    fresh.load_state_dict(state)
    assert torch.equal(fresh.anchors, trick.anchors)
