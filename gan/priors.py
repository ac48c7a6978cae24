"""Latent priors: the distribution G's input noise is drawn from.

`gaussian` is N(0, I) (S0's "spherical" noise), `uniform` is U(-1, 1) (S1), `sphere` is N(0, I) projected
onto the unit hypersphere and scaled by sqrt(dim) so its norm matches a Gaussian's.
"""

import math

import torch

PRIORS = ("gaussian", "uniform", "sphere")


def sample_latent(
    prior: str, n: int, dim: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None
) -> torch.Tensor:
    if prior == "gaussian":
        return torch.randn(n, dim, device=device, generator=generator)
    if prior == "uniform":
        return torch.rand(n, dim, device=device, generator=generator) * 2 - 1
    if prior == "sphere":
        z = torch.randn(n, dim, device=device, generator=generator)
        return z / z.norm(dim=1, keepdim=True).clamp_min(1e-8) * math.sqrt(dim)
    raise ValueError(f"model.prior={prior!r} is not a prior; choose one of {list(PRIORS)}")


def prior_std(prior: str) -> float:
    """The prior's standard deviation along any unit vector: N(0, I) and the scaled sphere have 1 per
    coordinate, U(-1, 1) has 1/3 variance."""
    if prior not in PRIORS:
        raise ValueError(f"model.prior={prior!r} is not a prior; choose one of {list(PRIORS)}")
    return 1 / math.sqrt(3) if prior == "uniform" else 1.0


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of a and b at fractions t (shape [n, 1])."""
    a_n, b_n = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    return torch.sin((1 - t) * omega) / so * a + torch.sin(t * omega) / so * b
