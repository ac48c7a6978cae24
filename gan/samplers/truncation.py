"""The truncation trick (Karras et al. 2019's psi; Brock et al. 2019): z drawn from the prior, then pulled
toward its mean, psi * z (gan.designs.truncate). Quality against variety; Gaussian and uniform priors only.

    python -m gan.generate ckpt_path=... sampler=truncation sampler.psi=0.7
"""

from gan.samplers.base import Sampler


class Truncation(Sampler):
    """psi * z: 1 draws from the prior, 0 gives the mean latent."""

    def __init__(self, psi: float = 0.7):
        super().__init__(psi=psi)
