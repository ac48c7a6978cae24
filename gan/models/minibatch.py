"""Layers that let D look at the whole batch, against mode collapse.

- MinibatchStd (Karras et al. 2018): one extra feature map, the standard deviation of every feature over
  groups of `group_size` samples, averaged. `model.discriminator.minibatch_std=true`.
- MinibatchDiscrimination (Salimans et al. 2016): for each of `n_kernels` projections of a sample's
  features, the summed closeness exp(-L1) to every other sample.
  `model.discriminator.minibatch_discrimination=16`.
"""

import torch
from torch import nn


def group_size_for(batch: int, wanted: int) -> int:
    """The largest group size <= wanted that divides the batch."""
    return max(g for g in range(1, min(wanted, batch) + 1) if batch % g == 0)


class MinibatchStd(nn.Module):
    def __init__(self, group_size: int = 4):
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = group_size_for(n, self.group_size)
        grouped = x.reshape(g, n // g, c, h, w)
        std = (grouped.var(dim=0, unbiased=False) + 1e-8).sqrt()  # [n/g, c, h, w]
        stat = std.mean(dim=(1, 2, 3)).view(-1, 1, 1, 1).repeat(g, 1, h, w)  # sample i is in group i % (n/g)
        return torch.cat([x, stat], dim=1)


def minibatch_closeness(m: torch.Tensor) -> torch.Tensor:
    """m: [N, B, C] projections; returns [N, B]: sum over j != i of exp(-||m_i,b - m_j,b||_1)."""
    l1 = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(-1)  # [N, N, B]
    return torch.exp(-l1).sum(1) - 1  # the sample itself contributes exp(0) = 1


class MinibatchDiscrimination(nn.Module):
    def __init__(self, in_features: int, n_kernels: int, kernel_dim: int = 5):
        super().__init__()
        self.n_kernels, self.kernel_dim = n_kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, n_kernels * kernel_dim) * 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        m = (x @ self.T).view(-1, self.n_kernels, self.kernel_dim)
        return torch.cat([x, minibatch_closeness(m)], dim=1)
