"""GAN losses. A loss owns the G/D maths; D always returns raw logits.

Each loss says whether it uses label targets (`uses_targets`): label tricks (smoothing, flipping, noisy
labels) only mean something for those. Targets are tensors shaped like D's output, so a trick can jitter
them per sample. A loss whose G term needs D's logits on real images sets `g_uses_real` and gets them,
computed with the D of that moment (after its update). Penalties receive `Seen` (gan/step.py): the real and
fake batches exactly as D's loss saw them. New losses go in their own file here (ragan.py, rpgan.py).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class Targets:
    """What D should output for real and fake inputs, and what G wants D to output for fakes."""

    real: torch.Tensor
    fake: torch.Tensor
    g: torch.Tensor

    def select(self, index: torch.Tensor) -> "Targets":
        """The targets of the samples at `index` (each field is per sample, shaped like D's output)."""
        return Targets(self.real[index], self.fake[index], self.g[index])

    @classmethod
    def default(cls, like: torch.Tensor) -> "Targets":
        return cls(real=torch.ones_like(like), fake=torch.zeros_like(like), g=torch.ones_like(like))


class GANLoss:
    name = "loss"
    uses_targets: bool = True
    #: True when D's output is a logit of a probability; `score` then reports sigmoid(logit) as D(x).
    probabilistic: bool = True
    #: True when `g_loss` needs D's logits on the real batch (relativistic losses).
    g_uses_real: bool = False
    #: D layers this loss reads through `Seen.features` (checked at start-up); see gan/step.py.
    feature_layers: tuple[str, ...] = ()

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor, t: Targets) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(
        self, fake_logits: torch.Tensor, t: Targets, real_logits: torch.Tensor | None = None
    ) -> torch.Tensor:
        raise NotImplementedError

    def d_penalty(self, seen) -> torch.Tensor | None:
        """An extra term of D's loss (e.g. a gradient penalty) on `seen` (gan.step.Seen); None: none."""
        return None

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits) if self.probabilistic else logits

    def check(self, discriminator: nn.Module) -> None:
        """Warn or raise at start-up when the loss does not suit the discriminator."""


class Minimax(GANLoss):
    """The original saturating game: G minimises log(1 - D(G(z)))."""

    name = "minimax"

    def d_loss(self, real_logits, fake_logits, t):
        return F.binary_cross_entropy_with_logits(real_logits, t.real) + F.binary_cross_entropy_with_logits(
            fake_logits, t.fake
        )

    def g_loss(self, fake_logits, t, real_logits=None):
        # log(1 - D(G(z))) = -BCE(logit, 0); "0" is whatever D is taught for fakes.
        return -F.binary_cross_entropy_with_logits(fake_logits, t.fake)


class NonSaturating(Minimax):
    """G maximises log D(G(z)) instead (Goodfellow et al.'s practical variant)."""

    name = "nonsaturating"

    def g_loss(self, fake_logits, t, real_logits=None):
        return F.binary_cross_entropy_with_logits(fake_logits, t.g)


class LSGAN(GANLoss):
    """Least squares GAN (Mao et al.): MSE between D's raw output and the targets."""

    name = "lsgan"

    probabilistic = False

    def d_loss(self, real_logits, fake_logits, t):
        return F.mse_loss(real_logits, t.real) + F.mse_loss(fake_logits, t.fake)

    def g_loss(self, fake_logits, t, real_logits=None):
        return F.mse_loss(fake_logits, t.g)


class Hinge(GANLoss):
    """Hinge loss (Lim & Ye; SAGAN/BigGAN)."""

    name = "hinge"

    uses_targets = False
    probabilistic = False

    def d_loss(self, real_logits, fake_logits, t):
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()

    def g_loss(self, fake_logits, t, real_logits=None):
        return -fake_logits.mean()


class WGANGP(GANLoss):
    """Wasserstein loss with gradient penalty (Gulrajani et al.) at random interpolates."""

    name = "wgan_gp"

    uses_targets = False
    probabilistic = False

    def __init__(self, gp_weight: float = 10.0):
        self.gp_weight = gp_weight

    def d_loss(self, real_logits, fake_logits, t):
        return fake_logits.mean() - real_logits.mean()

    def g_loss(self, fake_logits, t, real_logits=None):
        return -fake_logits.mean()

    def d_penalty(self, seen):
        real, fake = seen.real.detach(), seen.fake.detach()
        alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
        mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(seen.critic(mixed).sum(), mixed, create_graph=True)
        return self.gp_weight * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()

    def check(self, discriminator):
        if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in discriminator.modules()):
            import warnings

            warnings.warn(
                "loss=wgan_gp with a discriminator that has BatchNorm: the gradient penalty is per-sample, "
                "BatchNorm mixes samples. Consider a critic without BatchNorm "
                "(e.g. model.discriminator.norm=none).",
                stacklevel=2,
            )
