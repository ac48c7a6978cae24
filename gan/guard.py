"""The divergence guard (`nan_policy`): a NaN/Inf or exploding loss never reaches the weights.

With fused optimizers (the default `optim.*.fused=true`) the check stays on the device: the loss's
verdict is handed to the optimizer as `found_inf`, the same flag AMP's grad scaler uses, and the fused
kernel skips the whole update (weights, moments and step count). Bad steps are counted on the device and
read by the host only where it syncs anyway (every `trainer.log_every_n_steps` iterations and at the end):
`nan_policy=stop` then raises DivergenceError, `skip` logs `train/skipped_steps` and goes on. An optimizer
without `found_inf` support (fused=false) falls back to one host check per step.
"""

import torch

from gan.errors import ConfigError
from gan.patches import skip_step_on_device, supports_found_inf

NAN_POLICIES = ("stop", "skip", "off")


class DivergenceError(RuntimeError):
    """A loss became NaN/Inf or exploded (nan_policy=stop). Every bad update was skipped."""


class DivergenceGuard:
    def __init__(self, policy: str = "stop", max_loss: float = 1e6):
        if policy not in NAN_POLICIES:
            raise ConfigError(f"nan_policy={policy!r}: allowed values are {list(NAN_POLICIES)}")
        self.policy, self.max_loss = policy, max_loss
        self.bad_steps: torch.Tensor | None = None  # on the device, read lazily
        self.first_bad: torch.Tensor | None = None  # iteration of the first bad step, -1 while none
        self.previous = 0  # bad steps before a resume (from the checkpoint)
        self.reported = 0

    @property
    def active(self) -> bool:
        return self.policy != "off"

    def verdict(self, loss: torch.Tensor) -> torch.Tensor:
        """1.0 where the step must not happen (non-finite or |loss| > max_loss), on the loss's device."""
        loss = loss.detach()
        return (~torch.isfinite(loss) | (loss.abs() > self.max_loss)).any().float()

    def step(self, optimizer, loss: torch.Tensor, iteration: int, scaled: bool, step_fn) -> None:
        """Run `step_fn()` (the optimizer step) unless the loss is bad."""
        if not self.active:
            return step_fn()
        bad = self.verdict(loss)
        self._count(bad, iteration)
        if scaled:  # AMP's grad scaler owns found_inf and skips non-finite steps itself
            return step_fn()
        if supports_found_inf(optimizer):
            return skip_step_on_device(optimizer, bad, step_fn)
        if not bool(bad):  # host sync: an optimizer that cannot skip on the device
            step_fn()

    def _count(self, bad: torch.Tensor, iteration: int) -> None:
        if self.bad_steps is None:
            self.bad_steps = torch.zeros((), device=bad.device)
            self.first_bad = torch.full((), -1.0, device=bad.device)
        self.bad_steps += bad
        self.first_bad = torch.where((self.first_bad < 0) & (bad > 0), float(iteration), self.first_bad)

    def check(self, what: str = "a loss") -> int:
        """Read the count on the host; raise under `stop`. Returns the number of skipped steps so far."""
        if self.bad_steps is None:
            return self.previous
        count = int(self.bad_steps)
        if count and self.policy == "stop":
            first = int(self.first_bad)
            raise DivergenceError(
                f"{what} became NaN/Inf or exceeded {self.max_loss:g} at iteration {first} ({count} bad "
                f"step(s) so far, each skipped, so the weights hold no bad update). The learning rate is "
                f"the usual cause: resume from the last checkpoint with a lower optim.*.lr, another loss "
                f"or trick, or set nan_policy=skip to skip such steps and go on."
            )
        self.reported = self.previous + count
        return self.reported
