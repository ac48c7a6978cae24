"""Improved precision and recall (Kynkäänniemi et al. 2019): each set's manifold is the union of balls
around its samples reaching their k-th nearest neighbour. Precision: the share of fakes inside the reals'
manifold (quality); recall: the share of reals inside the fakes' manifold (coverage; mode dropping lowers it).
"""

import torch


def knn_radii(features: torch.Tensor, k: int) -> torch.Tensor:
    """Distance of every sample to its k-th nearest other sample."""
    distances = torch.cdist(features, features)
    return distances.kthvalue(k + 1, dim=1).values  # +1: the sample itself is at distance 0


def coverage(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int = 1024) -> float:
    """Share of `points` within `radii` of some centre."""
    inside = [(torch.cdist(part, centres) <= radii[None, :]).any(1) for part in points.split(chunk)]
    return torch.cat(inside).float().mean().item()


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    real, fake = real.double(), fake.double()
    precision = coverage(fake, real, knn_radii(real, k))
    recall = coverage(real, fake, knn_radii(fake, k))
    return precision, recall
