"""Instance noise (Sønderby et al. 2016): Gaussian noise on every D input, real and fake, in both steps.

S1 used a fixed sigma = 0.2 (`anneal_steps=0`); S3 annealed sigma linearly to 0 over `anneal_steps`
iterations. The current sigma is logged as trick/instance_noise/sigma.
"""

import torch

from gan.tricks.base import Trick


def noise_sigma(iteration: int, sigma: float, anneal_steps: int) -> float:
    if anneal_steps <= 0:
        return sigma
    return sigma * max(0.0, 1.0 - iteration / anneal_steps)


class InstanceNoise(Trick):
    def __init__(self, sigma: float = 0.2, anneal_steps: int = 0):
        super().__init__()
        self.sigma, self.anneal_steps = sigma, anneal_steps
        self.iteration = 0

    def current_sigma(self) -> float:
        return noise_sigma(self.iteration, self.sigma, self.anneal_steps)

    def d_input(self, x: torch.Tensor) -> torch.Tensor:
        sigma = self.current_sigma()
        return x + sigma * torch.randn_like(x) if sigma > 0 else x

    def metrics(self):
        return {"sigma": self.current_sigma()}
