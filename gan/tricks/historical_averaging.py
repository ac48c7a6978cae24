"""Historical averaging (Salimans et al. 2016): each network's loss gains weight * ||theta - mean_t theta||^2,
the squared distance of its weights to the running mean of all its past weights (cumulative, as in the
paper). The means are buffers, so they are checkpointed and resumed exactly.

    python train.py 'trick=[historical_averaging]' trick.historical_averaging.weight=0.01
"""

import torch
from torch import nn

from gan.tricks.base import Trick


def distance_to_mean(params: list[torch.Tensor], means: list[torch.Tensor]) -> torch.Tensor:
    return sum((p - m).pow(2).sum() for p, m in zip(params, means, strict=True))


@torch.no_grad()
def update_mean(means: list[torch.Tensor], params: list[torch.Tensor], count: torch.Tensor) -> None:
    """Cumulative mean after `count` samples (count >= 1): mean += (theta - mean) / count (on the device)."""
    for m, p in zip(means, params, strict=True):
        m.add_((p.detach() - m) / count)


class HistoricalAveraging(Trick):
    def __init__(self, weight: float = 0.01):
        super().__init__()
        self.weight = weight
        self.nets: dict[str, nn.Module] = {}
        self.register_buffer("count", torch.zeros(2, dtype=torch.long))  # updates of D's, G's mean

    def setup(self, generator: nn.Module, discriminator: nn.Module) -> None:
        self.nets = {"d": discriminator, "g": generator}  # a plain dict: not submodules of this trick
        for which, net in self.nets.items():
            for i, p in enumerate(net.parameters()):
                self.register_buffer(f"{which}_mean_{i}", p.detach().clone())

    def means(self, which: str) -> list[torch.Tensor]:
        return [getattr(self, f"{which}_mean_{i}") for i in range(len(list(self.nets[which].parameters())))]

    def _penalty(self, which: str) -> torch.Tensor:
        return self.weight * distance_to_mean(list(self.nets[which].parameters()), self.means(which))

    def d_penalty(self, seen):
        return self._penalty("d")

    def g_penalty(self, seen):
        return self._penalty("g")

    def after_step(self, which: str, loss: torch.Tensor, module) -> None:
        index = 0 if which == "d" else 1
        self.count[index] += 1
        update_mean(self.means(which), list(self.nets[which].parameters()), self.count[index] + 1)
