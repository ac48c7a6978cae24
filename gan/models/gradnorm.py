"""Gradient normalization (Wu et al., ICCV 2021, "Gradient Normalization for Generative Adversarial
Networks"; github.com/basiclab/GNGAN-PyTorch, models/gradnorm.py): a discriminator wrapper.

    python train.py model=dcgan_gn loss=hinge        # conf/model/dcgan_gn.yaml: the wrapped D is `inner:`

D_hat(x) = f(x) / (||grad_x f(x)|| + |f(x)|), per image, with f the wrapped D: D_hat is bounded in (-1, 1)
and, for a piecewise-linear f, 1-Lipschitz, with no layer-wise constraint. grad_x f is taken with
create_graph, so D's and G's updates differentiate through it (one double backward per D call). f must
treat images one by one: no BatchNorm (the yaml sets the DCGAN D's norm=none), as in the paper.

The paper's CNN runs use BCE on (D_hat + 1) / 2 as a probability, its ResNet runs hinge; here the losses
read D_hat as a logit, so loss=hinge matches the paper best (nonsaturating's sigmoid of a value in (-1, 1)
stays in (0.27, 0.73)). The data values (image size, channels, classes) reach the inner D from the data,
like any model's.
"""

import torch
from torch import nn


def normalize_gradient(f: nn.Module, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
    """f(x) / (||grad_x f(x)|| + |f(x)|), one value per image; differentiable when grad is enabled."""
    differentiable = torch.is_grad_enabled()
    with torch.enable_grad():
        if not x.requires_grad:  # a leaf of our own: the caller's tensor is left as it is
            x = x.detach().requires_grad_(True)
        out = f(x, cond)
        (grad,) = torch.autograd.grad(out.sum(), x, create_graph=differentiable)
    norm = grad.flatten(1).norm(dim=1).view(-1, *[1] * (out.dim() - 1))
    hat = out / (norm + out.abs())
    return hat if differentiable else hat.detach()


class GradNormDiscriminator(nn.Module):
    """Any discriminator `inner`, gradient-normalized; conditioned as `inner` is."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner
        self.condition = getattr(inner, "condition", "none")

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return normalize_gradient(self.inner, x, cond)
