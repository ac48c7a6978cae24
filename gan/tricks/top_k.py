"""Top-k training (Sinha et al. 2020, "Top-k Training of GANs: Improving GAN Performance by Throwing Away
Bad Samples"): in G's update only the k fakes D scores as most real count; k starts at the batch size and
decays per epoch, k = int(max(gamma^epoch, min_fraction) * batch) (the paper: gamma 0.99, min_fraction 0.5),
truncated as StudioGAN truncates it (github.com/POSTECH-CVLab/PyTorch-StudioGAN: `int(self.topk)` of
`max(k * gamma, int(batch * nu))`; pinned in tests/test_references.py), and at least 1.

    python train.py trick=top_k [trick.top_k.gamma=0.99] [trick.top_k.min_fraction=0.5]

It uses two hooks of the protocol (gan/tricks/base.py): `begin_epoch` for the schedule and `g_samples` for
the selection; D's update is unchanged. Relativistic losses compare each fake with reals, so they are refused.
"""

import torch

from gan.errors import ConfigError
from gan.tricks.base import Trick


def top_k_fraction(epoch: int, gamma: float, min_fraction: float) -> float:
    return max(gamma**epoch, min_fraction)


class TopK(Trick):
    def __init__(self, gamma: float = 0.99, min_fraction: float = 0.5):
        super().__init__()
        if not 0 < gamma <= 1 or not 0 < min_fraction <= 1:
            raise ConfigError(
                f"trick.top_k: gamma={gamma}, min_fraction={min_fraction}; both must be in (0, 1]"
            )
        self.gamma, self.min_fraction = gamma, min_fraction

    def check(self, loss, tricks) -> None:
        super().check(loss, tricks)
        if loss.g_uses_real:
            raise ConfigError(
                f"trick={self.name} selects fakes for G's loss, but loss={loss.name} pairs each fake with "
                "the real batch. Use a non-relativistic loss (nonsaturating, lsgan, hinge, wgan_gp)"
            )

    @property
    def fraction(self) -> float:
        return top_k_fraction(self.epoch, self.gamma, self.min_fraction)

    def g_samples(self, fake_logits: torch.Tensor) -> torch.Tensor:
        k = max(1, int(self.fraction * len(fake_logits)))
        return fake_logits.reshape(len(fake_logits), -1).mean(1).topk(k).indices

    def metrics(self) -> dict:
        return {"fraction": self.fraction}
