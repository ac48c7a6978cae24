"""Discriminator rejection sampling (Azadi et al. 2019, DRS): G's draws are kept with a probability that
grows with D's logit, so the kept designs lean toward what D takes for real.

    python -m gan.generate ckpt_path=... sampler=drs [sampler.burn_in=1000] [sampler.percentile=80]

For a D trained to optimality with the logistic loss, p_data / p_g = exp(logit), and keeping x with
probability exp(logit - max logit) samples p_data exactly. Their Algorithm 1, as here: the max logit is
estimated on `burn_in` draws (and raised by any later draw above it), and x is kept with probability
sigmoid(F), F = (logit - max) - log(1 - exp(logit - max - eps)) - gamma. gamma = 0 is the exact rule
(sigmoid(F) = exp(logit - max) up to eps), which keeps few draws when the max is far out; a larger gamma
keeps fewer. With gamma=null it is the `percentile`-th percentile of F (the paper's 80th or 95th, per batch
there; here once, over the burn-in draws, so a seed gives the same latents whatever the count): a draw at
that percentile is kept half the time, so usually more are kept than by the exact rule. Each latent is
judged with its own condition (class or image). The logit is a density ratio only for the logistic losses
(nonsaturating, minimax); for the others DRS still prefers high logits.
"""

import torch

from gan.errors import ConfigError
from gan.samplers.base import Models, Sampler


def score(logits: torch.Tensor, max_logit: float, eps: float) -> torch.Tensor:
    """F before gamma, in float64: (logit - max) - log(1 - exp(logit - max - eps))."""
    delta = logits.double() - max_logit
    return delta - torch.log1p(-torch.exp(delta - eps))


def acceptance(logits: torch.Tensor, max_logit: float, gamma: float, eps: float) -> torch.Tensor:
    """The probability each draw is kept: sigmoid(F - gamma), logits <= max_logit."""
    return torch.sigmoid(score(logits, max_logit, eps) - gamma)


class DRS(Sampler):
    """Keeps each of G's draws with probability sigmoid(F), F from D's logit (Azadi et al. 2019)."""

    uses_discriminator = True

    def __init__(
        self,
        burn_in: int = 1000,
        gamma: float | None = None,
        percentile: float = 80.0,
        eps: float = 1e-6,
        batch: int = 256,
        max_rounds: int = 500,
        psi: float = 1.0,
    ):
        super().__init__(psi)
        for key, value in (("burn_in", burn_in), ("batch", batch), ("max_rounds", max_rounds)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"sampler.{key}={value!r}: must be an integer >= 1")
        if not isinstance(percentile, int | float) or not 0 <= percentile <= 100:
            raise ConfigError(f"sampler.percentile={percentile!r}: must be a number from 0 to 100")
        if not isinstance(eps, int | float) or eps <= 0:
            raise ConfigError(f"sampler.eps={eps!r}: must be a number > 0")
        self.burn_in, self.gamma, self.percentile, self.eps = burn_in, gamma, float(percentile), float(eps)
        self.batch, self.max_rounds = batch, max_rounds

    def logits(self, models: Models, z: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        return models.d_logits(z, cond, self.batch)

    def draw(
        self, models: Models, n: int, rng: torch.Generator, cond: torch.Tensor | None = None
    ) -> torch.Tensor:
        if models.discriminator is None:
            raise ConfigError("sampler=drs reads D's logits: this checkpoint holds no discriminator")
        cycled = None if cond is None else cond[torch.arange(self.burn_in) % len(cond)]
        first = self.logits(models, super().draw(models, self.burn_in, rng), cycled)
        top = first.max().item()
        gamma = self.gamma
        if gamma is None:
            gamma = torch.quantile(score(first, top, self.eps), self.percentile / 100).item()
        kept, pending = torch.zeros(n, models.latent_dim), torch.arange(n)
        for _ in range(self.max_rounds):
            if len(pending) == 0:
                return kept
            z = super().draw(models, len(pending), rng)
            logit = self.logits(models, z, None if cond is None else cond[pending])
            top = max(top, logit.max().item())
            keep = torch.rand(len(pending), generator=rng, dtype=torch.float64)
            keep = keep < acceptance(logit, top, gamma, self.eps)
            kept[pending[keep]] = z[keep]
            pending = pending[~keep]
        if len(pending) == 0:
            return kept
        raise ConfigError(
            f"sampler=drs kept {n - len(pending)} of {n} latents in {self.max_rounds} rounds of draws: "
            "pass a lower sampler.percentile (or sampler.gamma), or a larger sampler.max_rounds"
        )
