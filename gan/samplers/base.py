"""The sampler protocol: which latents G draws, for `python -m gan.generate` and the studio's page.

    python -m gan.generate ckpt_path=... sampler=truncation sampler.psi=0.7
    python -m gan.studio ckpt_path=... sampler=<name>

A sampler has two steps, each overridable:

    draw(models, n, rng, cond)   which latents: n rows of [n, latent_dim] from the seeded `rng`, as a design
                                 records them (filter, reorder or look at D here: `models.d_logits`;
                                 `cond` is what G and D are given for each row: class labels [n] for a
                                 label-conditional model, images [n, C, H, W] for an image-conditional
                                 one, None for an unconditional one)
    transform(prior, z)          what G is given for them: the truncation by `psi` (gan.designs.latent_of's
                                 formula, so the studio records a design as its z and its psi)

`uses_discriminator = True` makes gan.generate and the studio load the checkpoint's D into `models`.
Add one: gan/samplers/<name>.py with a `Sampler` subclass, conf/sampler/<name>.yaml with its `_target_` and
arguments, and a test; nothing else is edited.
"""

import copy
from dataclasses import dataclass

import torch
from torch import nn

from gan.designs import truncate
from gan.errors import ConfigError, instantiate
from gan.priors import sample_latent


@dataclass(frozen=True)
class Models:
    """What a sampler may look at: G, D (None unless the sampler `uses_discriminator`), the prior and the
    latent size. G and D run where G's weights are; latents are returned on the CPU."""

    generator: nn.Module
    prior: str
    latent_dim: int
    discriminator: nn.Module | None = None

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters(), torch.zeros(0)).device

    @torch.no_grad()
    def d_logits(self, z: torch.Tensor, cond: torch.Tensor | None = None, batch: int = 256) -> torch.Tensor:
        """D's logit on G's image of each latent (float64 on the CPU), `batch` latents per forward pass;
        `cond` holds one row per latent, as `Sampler.draw` receives it."""
        out, device = [], self.device
        for start in range(0, len(z), batch):
            part = slice(start, start + batch)
            c = None if cond is None else cond[part].to(device)
            x = self.generator(z[part].to(device), c)
            out.append(self.discriminator(x, c).reshape(len(x)).double().cpu())
        return torch.cat(out)


class Sampler:
    """Latents from the model's prior, as drawn, then truncated by `psi` (1: none)."""

    uses_discriminator: bool = False

    def __init__(self, psi: float = 1.0):
        if isinstance(psi, bool) or not isinstance(psi, int | float) or not 0 <= psi <= 1:
            raise ConfigError(f"sampler.psi={psi!r}: the truncation must be a number from 0 to 1 (1: none)")
        self.psi = float(psi)

    def draw(
        self, models: Models, n: int, rng: torch.Generator, cond: torch.Tensor | None = None
    ) -> torch.Tensor:
        return sample_latent(models.prior, n, models.latent_dim, generator=rng)

    def transform(self, prior: str, z: torch.Tensor) -> torch.Tensor:
        return truncate(prior, z, self.psi)

    def latents(
        self, models: Models, n: int, rng: torch.Generator, cond: torch.Tensor | None = None
    ) -> torch.Tensor:
        """What G is given for n new designs."""
        return self.transform(models.prior, self.draw(models, n, rng, cond))

    def but(self, psi: float) -> "Sampler":
        """This sampler with another truncation (the studio's variety slider, gan.generate's `psi=`)."""
        other = copy.copy(self)
        other.psi = float(psi)
        return other


def build(node: dict) -> Sampler:
    """The sampler a `sampler` config node names (conf/sampler/<name>.yaml)."""
    sampler = instantiate(node)
    if not isinstance(sampler, Sampler):
        raise ConfigError(f"sampler._target_={node.get('_target_')}: not a gan.samplers.Sampler")
    return sampler
