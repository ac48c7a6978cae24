"""R1 gradient penalty on real data (Mescheder et al. 2018): gamma/2 * E[|grad_x D(x)|^2].

Lazy regularisation (Karras et al. 2020): computed every `interval` iterations and scaled by `interval`.
"""

import torch
from torch import nn

from gan.tricks.base import Trick


def r1_penalty(discriminator: nn.Module, real: torch.Tensor, cond=None) -> torch.Tensor:
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(real, cond).sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


class R1(Trick):
    def __init__(self, gamma: float = 10.0, interval: int = 16):
        super().__init__()
        self.gamma, self.interval = gamma, interval
        self.iteration = 0
        self.last = 0.0

    def d_penalty(self, discriminator, real, cond):
        if self.iteration % self.interval:
            return None
        penalty = r1_penalty(discriminator, real, cond)
        self.last = penalty.detach()
        return 0.5 * self.gamma * self.interval * penalty

    def metrics(self):
        return {"penalty": self.last}
