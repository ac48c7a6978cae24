"""Flipped labels (S1 DCGAN256): D learns real = 0, fake = 1, and G aims for 0.

S1 also jittered them: real ~ U(0, jitter), fake ~ U(1 - jitter, 1); `jitter=0` gives exact labels.
"""

import torch

from gan.losses import Targets
from gan.tricks.base import Trick


def flipped_targets(like: torch.Tensor, jitter: float) -> Targets:
    real = torch.rand_like(like) * jitter
    fake = 1 - torch.rand_like(like) * jitter
    return Targets(real=real, fake=fake, g=torch.zeros_like(like))


class LabelFlip(Trick):
    needs_targets = True

    def __init__(self, jitter: float = 0.01):
        super().__init__()
        self.jitter = jitter

    def targets(self, t: Targets) -> Targets:
        return flipped_targets(t.real, self.jitter)
