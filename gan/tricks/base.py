"""The trick protocol: hooks GANModule calls at fixed points, each a no-op here.

A trick is an `nn.Module`, so its buffers (schedules, running means, EMA weights) move with the model and
travel in every checkpoint without extra code. Hooks, in the order they are called (setup once, the
rest per iteration):

    setup(G)                    once, when GANModule is built
    begin_iteration(i)          once per batch, before anything else
    sample_latent(z)            the noise G receives
    d_input(x)                  every tensor that goes into D, real or fake, in D and G steps
    targets(t)                  the label targets (real, fake, G's) for losses that use them
    should_step_d() / should_step_g()   whether that network updates this iteration
    d_penalty(D, real, cond)    an extra term added to D's loss
    after_step(which, loss, module)     after each optimizer step ("d" or "g"), or each skipped D step
    sampling_generator(G)       the generator to draw samples and FID from (EMA swaps in its copy)
    metrics()                   values logged as trick/<name>/<key>
"""

import torch
from torch import nn

from gan.errors import ConfigError
from gan.losses import GANLoss, Targets


class Trick(nn.Module):
    #: label tricks only make sense for losses with targets (BCE, LSGAN), not hinge or WGAN.
    needs_targets: bool = False
    #: D steps per G step this trick imposes (n_critic); other tricks may refuse to combine with > 1.
    d_steps_per_g: int = 1

    def check(self, loss: GANLoss, tricks: dict[str, "Trick"]) -> None:
        """Raise ConfigError when this trick cannot work with the loss or the other tricks."""
        if self.needs_targets and not loss.uses_targets:
            raise ConfigError(
                f"trick={self.name} changes label targets, but loss={loss.name} has no targets. "
                f"Use a loss with targets (nonsaturating, minimax, lsgan) or drop the trick."
            )

    @property
    def name(self) -> str:
        return getattr(self, "_name", type(self).__name__)

    def setup(self, generator: nn.Module) -> None:
        """Called once when GANModule is built, with the generator (EMA copies it)."""

    def begin_iteration(self, iteration: int) -> None:
        self.iteration = iteration

    def sample_latent(self, z: torch.Tensor) -> torch.Tensor:
        return z

    def d_input(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def targets(self, t: Targets) -> Targets:
        return t

    def should_step_d(self) -> bool:
        return True

    def should_step_g(self) -> bool:
        return True

    def d_penalty(self, discriminator: nn.Module, real: torch.Tensor, cond) -> torch.Tensor | None:
        return None

    def after_step(self, which: str, loss: torch.Tensor, module: nn.Module) -> None:
        pass

    def sampling_generator(self, generator: nn.Module) -> nn.Module:
        return generator

    def metrics(self) -> dict[str, torch.Tensor | float]:
        return {}
