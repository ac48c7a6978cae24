"""Learning-rate schedules the seeds used, as `_partial_` scheduler targets (`optim.scheduler`)."""

from torch.optim import Optimizer
from torch.optim.lr_scheduler import ExponentialLR


def exponential_decay(optimizer: Optimizer, rate: float = 0.85, every: int = 10_000) -> ExponentialLR:
    """lr * rate^(step / every), continuous (Keras ExponentialDecay, S1), stepped every optimizer step."""
    return ExponentialLR(optimizer, gamma=rate ** (1.0 / every))
