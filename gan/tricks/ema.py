"""Exponential moving average of G's weights (Karras et al.; Yazıcı et al. 2019).

The averaged copy draws the sample grids and FID; it is a submodule, so it is saved in every checkpoint.
BatchNorm running statistics are copied from G, not averaged.
"""

import copy

import torch
from torch import nn

from gan.tricks.base import Trick


@torch.no_grad()
def ema_update(average: nn.Module, current: nn.Module, decay: float) -> None:
    for avg_p, p in zip(average.parameters(), current.parameters(), strict=True):
        avg_p.lerp_(p.detach(), 1 - decay)
    for avg_b, b in zip(average.buffers(), current.buffers(), strict=True):
        avg_b.copy_(b)


class EMA(Trick):
    def __init__(self, decay: float = 0.999, start_iteration: int = 0):
        super().__init__()
        self.decay, self.start_iteration = decay, start_iteration
        self.average: nn.Module | None = None
        self.iteration = 0

    def setup(self, generator: nn.Module) -> None:
        """Called once by GANModule with the generator to average."""
        self.average = copy.deepcopy(generator).requires_grad_(False)

    def after_step(self, which: str, loss: torch.Tensor, module) -> None:
        if which == "g":
            decay = 0.0 if self.iteration < self.start_iteration else self.decay
            ema_update(self.average, module.generator, decay)

    def sampling_generator(self, generator: nn.Module) -> nn.Module:
        return self.average if self.average is not None else generator
