"""One-sided label smoothing (Salimans et al. 2016): only the real target moves.

S0 used a fixed 0.9 (its code also gave G 0.9: `smooth_g_target=true`); S3 drew real targets uniformly
in [0.7, 1.2] (`low=0.7 high=1.2`). Fake targets are untouched.
"""

import torch

from gan.losses import Targets
from gan.tricks.base import Trick


def smooth_real_targets(real: torch.Tensor, low: float, high: float) -> torch.Tensor:
    if low == high:
        return torch.full_like(real, low)
    return torch.empty_like(real).uniform_(low, high)


class LabelSmoothing(Trick):
    needs_targets = True

    def __init__(self, low: float = 0.9, high: float | None = None, smooth_g_target: bool = False):
        super().__init__()
        self.low, self.high, self.smooth_g_target = low, low if high is None else high, smooth_g_target

    def targets(self, t: Targets) -> Targets:
        real = smooth_real_targets(t.real, self.low, self.high)
        g = smooth_real_targets(t.g, self.low, self.high) if self.smooth_g_target else t.g
        return Targets(real=real, fake=t.fake, g=g)
