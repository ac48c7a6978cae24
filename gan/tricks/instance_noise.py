"""Instance noise (Sønderby et al. 2016): Gaussian noise on every D input, real and fake, in both steps.

S1 used a fixed sigma = 0.2 (`anneal_iterations=0`); S3 annealed sigma linearly to 0 over
`anneal_iterations` iterations. The current sigma is logged as trick/instance_noise/sigma.
"""

import torch

from gan.tricks.base import Trick


def noise_sigma(iteration: int, sigma: float, anneal_iterations: int) -> float:
    if anneal_iterations <= 0:
        return sigma
    return sigma * max(0.0, 1.0 - iteration / anneal_iterations)


class InstanceNoise(Trick):
    def __init__(self, sigma: float = 0.2, anneal_iterations: int = 0):
        super().__init__()
        self.sigma, self.anneal_iterations = sigma, anneal_iterations
        self.iteration = 0

    def current_sigma(self) -> float:
        return noise_sigma(self.iteration, self.sigma, self.anneal_iterations)

    def d_input(self, x: torch.Tensor, which: str) -> torch.Tensor:
        sigma = self.current_sigma()
        return x + sigma * torch.randn_like(x) if sigma > 0 else x

    def metrics(self):
        return {"sigma": self.current_sigma()}
