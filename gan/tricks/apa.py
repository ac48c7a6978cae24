"""Adaptive pseudo augmentation, APA (Jiang et al., NeurIPS 2021, "Deceive D: Adaptive Pseudo Augmentation
for GAN Training with Limited Data"; github.com/EndlessSora/DeceiveD, training/loss.py and
training/training_loop.py).

    python train.py 'trick=[apa]' [trick.apa.target=0.6 trick.apa.speed_kimg=500]

Each real image D sees is replaced, with probability p, by one of G's images (detached) presented as real:
D is deceived in proportion to how much it overfits. `d_input(x, "fake")` keeps this iteration's fake
batch as it reaches APA's place in the trick list; `d_input(x, "real")` swaps image i for fake i where
U(0, 1) < p (one draw per image, every iteration, so the random stream does not depend on p). G's batch
itself is returned untouched. The reference swaps in the fakes of the last G step; here they are the fakes
of this iteration, the ones D is also shown as fake.

p adapts exactly as ADA's (this class reuses gan.tricks.ada.ADA's controller): r_t = E[sign(D(real))] on
the reals D saw (pseudo ones included, as the reference's Loss/signs/real), every `interval` iterations p
moves by sign(r_t - target) * (reals judged) / (speed_kimg * 1000), i.e. batch * interval / (speed_kimg *
1000) on one device. The reference clamps p below at 0 only; here, as ADA here, to [0, 1] (above 1 every
real is already swapped). Logged as trick/apa/p and trick/apa/rt.

With `trick=[apa,ada]` the swapped images go through ADA's pipeline with the reals, as the reference's
`--with-dataaug`; each trick keeps its own p, both driven by the same r_t.
"""

import torch

from gan.errors import ConfigError
from gan.tricks.ada import ADA


def pseudo_swap(real: torch.Tensor, fake: torch.Tensor, p: torch.Tensor | float) -> torch.Tensor:
    """Real image i replaced by fake image i (detached) where a fresh U(0, 1) draw is below p."""
    if fake.shape != real.shape:
        raise RuntimeError(
            f"trick=apa: G's batch {tuple(fake.shape)} and the real {tuple(real.shape)} differ"
        )
    swap = torch.rand(real.shape[0], device=real.device) < p
    return torch.where(swap[:, None, None, None], fake.detach().to(real.dtype), real)


class APA(ADA):
    def __init__(
        self, target: float = 0.6, speed_kimg: float = 500.0, interval: int = 4, initial_p: float = 0.0
    ):
        if interval < 1 or speed_kimg <= 0:
            raise ConfigError("trick.apa: interval must be at least 1 and speed_kimg above 0")
        super().__init__(target=target, speed_kimg=speed_kimg, interval=interval, initial_p=initial_p)
        self.pipeline = ()  # ADA's controller only: no augmentation pipeline
        self._fake: torch.Tensor | None = None

    def check(self, loss, tricks) -> None:
        try:
            super().check(loss, tricks)
        except ConfigError as err:  # ADA's refusals (loss, label_flip) hold for APA; they name trick=ada
            raise ConfigError(str(err).replace("trick=ada", f"trick={self.name}")) from None

    def d_input(self, x: torch.Tensor, which: str) -> torch.Tensor:
        if which == "fake":
            self._fake = x.detach()
            return x
        fake, self._fake = self._fake, None
        if fake is None:
            raise RuntimeError(
                "trick=apa: the real batch came before G's batch (d_input's order is fake, real)"
            )
        return pseudo_swap(x, fake, self.p)
