"""Exponential moving average of G's weights (Karras et al. 2018; Yazıcı et al. 2019).

    python train.py trick=ema [trick.ema.decay=0.999]

The averaged copy draws the sample grids and FID and is saved in every checkpoint. Its half-life ramps up
with training as in StyleGAN2-ADA: `rampup` (5%) of the updates so far, capped by `decay`, so the average
never lags far behind a G that is still improving fast (a fixed 0.999 made short runs worse).

BatchNorm: G's running statistics describe G's current weights, not the averaged ones, and copying them
washes out the average's samples. Before the averaged copy is used (samples, FID, a checkpoint) after it
changed, its statistics are recomputed from its own activations on `calibration_batches` batches of fresh
latents, drawn from a private RNG seeded by the update count: training never sees it and a resumed run
computes the same statistics.
"""

import copy
import weakref

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from gan.tricks.base import Trick


@torch.no_grad()
def ema_update(average: nn.Module, current: nn.Module, decay: float) -> None:
    """Average the parameters; copy buffers except BatchNorm's statistics (recalibrated instead)."""
    for avg_p, p in zip(average.parameters(), current.parameters(), strict=True):
        avg_p.lerp_(p.detach(), 1 - decay)
    bn_buffers = {id(b) for m in average.modules() if isinstance(m, _BatchNorm) for b in m.buffers()}
    for avg_b, b in zip(average.buffers(), current.buffers(), strict=True):
        if id(avg_b) not in bn_buffers:
            avg_b.copy_(b)


def ramped_decay(decay: float, updates: int, rampup: float = 0.05) -> float:
    """min(decay, 0.5 ** (1 / half_life)) with a half-life of `rampup * updates` updates."""
    if rampup <= 0:
        return decay
    return min(decay, 0.5 ** (1 / max(rampup * updates, 1e-8)))


@torch.no_grad()
def recalibrate_batchnorm(generator: nn.Module, draw_inputs, batches: int, seed: int) -> None:
    """Recompute every BatchNorm's running mean/var as the exact average over `batches` batches of
    `draw_inputs(rng) -> (z, cond)`. Only BatchNorm layers run in training mode (no dropout drawn)."""
    norms = [m for m in generator.modules() if isinstance(m, _BatchNorm)]
    if not norms:
        return
    was_training = generator.training
    generator.eval()
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration batches
        m.train()
    rng = torch.Generator().manual_seed(seed)
    for _ in range(batches):
        generator(*draw_inputs(rng))
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    generator.train(was_training)


class EMA(Trick):
    def __init__(
        self,
        decay: float = 0.999,
        rampup: float = 0.05,
        start_iteration: int = 0,
        calibration_batches: int = 8,
        calibration_batch_size: int = 64,
    ):
        super().__init__()
        self.decay, self.rampup, self.start_iteration = decay, rampup, start_iteration
        self.calibration_batches, self.calibration_batch_size = calibration_batches, calibration_batch_size
        self.average: nn.Module | None = None
        self.iteration = 0
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))
        self.register_buffer("calibrated_at", torch.full((), -1, dtype=torch.long))
        self._module = lambda: None  # weak reference to the GANModule: its prior and conditions
        self._updates: int | None = None
        self.register_state_dict_pre_hook(lambda trick, prefix, keep_vars: trick.refresh())

    def setup(self, generator: nn.Module, discriminator: nn.Module) -> None:
        self.average = copy.deepcopy(generator).requires_grad_(False)

    def after_step(self, which: str, loss: torch.Tensor, module) -> None:
        if which == "g":
            self._module = weakref.ref(module)
            if self._updates is None:  # one host read per run: the count lives on the device
                self._updates = int(self.updates)
            n = self._updates
            decay = 0.0 if self.iteration < self.start_iteration else ramped_decay(self.decay, n, self.rampup)
            ema_update(self.average, module.generator, decay)
            self.updates += 1
            self._updates += 1

    def refresh(self) -> None:
        """Recalibrate the average's BatchNorm statistics if its weights changed since the last time."""
        module = self._module()
        if module is None or self._updates is None or int(self.calibrated_at) == self._updates:
            return
        size = self.calibration_batch_size
        recalibrate_batchnorm(
            self.average,
            lambda rng: module.draw_inputs(size, generator=rng),
            self.calibration_batches,
            seed=int(self.updates),
        )
        self.calibrated_at.copy_(self.updates)

    def sampling_generator(self, generator: nn.Module, module) -> nn.Module:
        if self.average is None:
            return generator
        if module is not None:
            self._module = weakref.ref(module)
        self.refresh()
        return self.average
