"""The trick protocol: hooks GANModule calls at fixed points, each a no-op here.

A trick is an `nn.Module`, so its buffers (schedules, running means, EMA weights) move with the model and
travel in every checkpoint without extra code. Hooks, in the order they are called (setup once, the rest
per iteration); `seen` is gan.step.Seen, the batch exactly as D sees it:

    attach(loss)                once, when GANModule is built: the run's loss, read as `self.gan_loss`
    setup(G, D)                 once, right after
    begin_epoch(epoch)          at the start of every epoch (also a resumed one), `self.epoch`
    begin_iteration(i)          once per batch, before anything else, `self.iteration`
    sample_latent(z)            the noise G receives
    should_step_d() / should_step_g()   whether that network updates this iteration
    d_input(x, which)           how D sees a batch: applied once per iteration, first to G's batch
                                (which="fake"), then to the real batch (which="real"), each through every
                                trick in list order; the results go to D's loss, every penalty and G's loss.
                                That order is part of the protocol: when a trick transforms the real batch,
                                it has already seen this iteration's fakes at its own place in the list
                                (APA, gan/tricks/apa.py, shows reals as those fakes)
    targets(t)                  the label targets (real, fake, G's) for losses that use them
    d_penalty(seen)             a term added to D's loss (seen.fake is detached)
    g_penalty(seen)             a term added to G's loss (seen.fake carries G's graph)
    g_samples(fake_logits)      which fakes count in G's adversarial loss (an index; None: all of them)
    after_step(which, loss, module)     after each optimizer step ("d" or "g"), or each skipped D step
    sampling_generator(G, module)       the generator to draw samples and FID from (EMA swaps in its copy)
    metrics()                   values logged as trick/<name>/<key>

Class attributes declare the rest: `needs_targets`, `d_steps_per_g`, `feature_layers` (D layers read with
`seen.features(which, layer)`; a layer D lacks fails at start-up) and `replaces_g_loss`.
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
    #: layers of D whose outputs this trick reads through `seen.features` ("features": penultimate).
    feature_layers: tuple[str, ...] = ()
    #: True when `g_penalty` is the whole of G's loss (the adversarial term is then not computed).
    replaces_g_loss: bool = False

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

    gan_loss: GANLoss | None = None
    epoch: int = 0
    iteration: int = 0

    def attach(self, loss: GANLoss) -> None:
        """Called once when GANModule is built, before `setup`: the run's loss, for tricks that use it."""
        self.gan_loss = loss

    def setup(self, generator: nn.Module, discriminator: nn.Module) -> None:
        """Called once when GANModule is built (EMA copies G, historical averaging keeps both means)."""

    def begin_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def begin_iteration(self, iteration: int) -> None:
        self.iteration = iteration

    def sample_latent(self, z: torch.Tensor) -> torch.Tensor:
        return z

    def d_input(self, x: torch.Tensor, which: str) -> torch.Tensor:
        """The batch `x` as D should see it; `which` is "fake" (G's batch, called first) or "real"."""
        return x

    def targets(self, t: Targets) -> Targets:
        return t

    def should_step_d(self) -> bool:
        return True

    def should_step_g(self) -> bool:
        return True

    def d_penalty(self, seen) -> torch.Tensor | None:
        return None

    def g_penalty(self, seen) -> torch.Tensor | None:
        return None

    def g_samples(self, fake_logits: torch.Tensor) -> torch.Tensor | None:
        """Indices of the fakes whose terms enter G's adversarial loss (top-k training); None: all."""
        return None

    def after_step(self, which: str, loss: torch.Tensor, module: nn.Module) -> None:
        pass

    def sampling_generator(self, generator: nn.Module, module: nn.Module) -> nn.Module:
        return generator

    def metrics(self) -> dict[str, torch.Tensor | float]:
        return {}
