"""R1 gradient penalty on real data (Mescheder et al. 2018): gamma/2 * E[|grad_x D(x)|^2].

    python train.py 'trick=[r1]' trick.r1.gamma=10

The penalty is taken at the real batch exactly as D's loss saw it (after DiffAugment or instance noise).
Lazy regularisation (Karras et al. 2020): computed every `interval` iterations and scaled by `interval`.
"""

import torch

from gan.tricks.base import Trick


def gradient_penalty(critic, x: torch.Tensor) -> torch.Tensor:
    """E[|grad_x critic(x)|^2], zero-centred, per sample summed over pixels."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


class R1(Trick):
    #: which of D's inputs the penalty is taken at
    on = "real"

    def __init__(self, gamma: float = 10.0, interval: int = 16):
        super().__init__()
        self.gamma, self.interval = gamma, interval
        self.iteration = 0
        self.last = 0.0

    def d_penalty(self, seen):
        if self.iteration % self.interval:
            return None
        penalty = gradient_penalty(seen.critic, seen.real if self.on == "real" else seen.fake)
        self.last = penalty.detach()
        return 0.5 * self.gamma * self.interval * penalty

    def metrics(self):
        return {"penalty": self.last}
