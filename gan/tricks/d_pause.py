"""D pausing (S0's "D freezing 0.7"): skip D's update while it is winning, i.e. while running-mean
L_D < ratio * L_G. Not FreezeD (`trick=freeze_d`, D's first layers frozen for transfer).

    python train.py trick=d_pause trick.d_pause.ratio=0.7

Running means are exponential (`momentum`) over the losses of every iteration, including paused ones,
so D resumes once G catches up. Logs the fraction of iterations D was paused
(`trick/d_pause/paused_fraction`). Called `d_freeze` before issue 39: that name still works on the command
line and in checkpoints (gan/renamed.py).

Decides on the host: `should_step_d` reads the two running means, one device sync per iteration (the
only trick that adds one; on a GPU it costs what a `.item()` costs).
"""

import torch

from gan.errors import ConfigError
from gan.tricks.base import Trick


def update_running_mean(
    mean: torch.Tensor, value: torch.Tensor, momentum: float, first: bool
) -> torch.Tensor:
    return value.clone() if first else momentum * mean + (1 - momentum) * value


def d_is_paused(d_mean: float, g_mean: float, ratio: float) -> bool:
    return d_mean < ratio * g_mean


class DPause(Trick):
    def __init__(self, ratio: float = 0.7, momentum: float = 0.9):
        super().__init__()
        self.ratio, self.momentum = ratio, momentum
        self.register_buffer("d_mean", torch.zeros(()))
        self.register_buffer("g_mean", torch.zeros(()))
        self.register_buffer("seen", torch.zeros((), dtype=torch.long))  # iterations with both losses seen
        self.register_buffer("paused", torch.zeros((), dtype=torch.long))
        self.register_buffer("decisions", torch.zeros((), dtype=torch.long))

    def check(self, loss, tricks) -> None:
        super().check(loss, tricks)
        for name, other in tricks.items():
            if other.d_steps_per_g > 1:
                raise ConfigError(
                    f"trick=d_pause skips D steps while trick={name} asks for {other.d_steps_per_g} D steps "
                    f"per G step; the two schedules contradict each other. Use one of them."
                )

    def should_step_d(self) -> bool:
        self.decisions += 1
        if self.seen == 0:
            return True
        paused = d_is_paused(float(self.d_mean), float(self.g_mean), self.ratio)
        self.paused += int(paused)
        return not paused

    def after_step(self, which: str, loss: torch.Tensor, module) -> None:
        first = bool(self.seen == 0)
        if which == "d":
            self.d_mean.copy_(update_running_mean(self.d_mean, loss.float(), self.momentum, first))
        else:
            self.g_mean.copy_(update_running_mean(self.g_mean, loss.float(), self.momentum, first))
            self.seen += 1

    def metrics(self):
        return {
            "paused_fraction": self.paused.float() / self.decisions.clamp_min(1),
            "d_mean": self.d_mean,
            "g_mean": self.g_mean,
        }
