"""Noisy labels (ganhacks #6): swap the real and fake targets of a random fraction p of D's samples."""

import torch

from gan.losses import Targets
from gan.tricks.base import Trick


def flip_fraction(real: torch.Tensor, fake: torch.Tensor, p: float) -> tuple[torch.Tensor, torch.Tensor]:
    flip_real = torch.rand_like(real) < p
    flip_fake = torch.rand_like(fake) < p
    return torch.where(flip_real, fake, real), torch.where(flip_fake, real, fake)


class NoisyLabels(Trick):
    needs_targets = True

    def __init__(self, p: float = 0.05):
        super().__init__()
        self.p = p

    def targets(self, t: Targets) -> Targets:
        real, fake = flip_fraction(t.real, t.fake, self.p)
        return Targets(real=real, fake=fake, g=t.g)
