"""Latents drawn from the model's prior as they come: gan.generate's and the studio's draw before samplers."""

from gan.samplers.base import Sampler


class Plain(Sampler):
    """z from the prior, no truncation (`psi=` on gan.generate's command line still applies one)."""

    def __init__(self):
        super().__init__(psi=1.0)
