"""What a network is conditioned on, in one place for training, sample grids, FID, EMA and `gan.generate`.

Every generator and discriminator has a `condition` attribute: "none", "label" (class ids) or "image" (a
batch of real images, as FashionGen's generator). `G(z, cond)` and `D(x, cond)` receive what it names.
"""

import torch
from torch import nn

CONDITIONS = ("none", "label", "image")


def condition_of(network: nn.Module) -> str:
    return getattr(network, "condition", "none")


def condition_input(kind: str, labels: torch.Tensor, images: torch.Tensor) -> torch.Tensor | None:
    """The `cond` argument for a network of this kind, from a batch's labels and images."""
    if kind not in CONDITIONS:
        raise ValueError(f"condition={kind!r}: expected one of {CONDITIONS}")
    return {"none": None, "label": labels, "image": images}[kind]


def draw_condition(
    kind: str,
    n: int,
    labels: torch.Tensor,
    images: torch.Tensor,
    generator: torch.Generator | None = None,
    label: int | None = None,
) -> torch.Tensor | None:
    """`cond` for `n` new samples: classes from `labels` (random with a `generator`, else in turn; or the one
    `label`), or `images` in turn."""
    if kind == "label":
        if label is not None:
            return torch.full((n,), label, dtype=torch.long, device=labels.device)
        if generator is None:
            return labels[torch.arange(n, device=labels.device) % len(labels)]
        pick = torch.randint(0, len(labels), (n,), generator=generator)
        return labels[pick.to(labels.device)]
    if kind == "image":
        return images[torch.arange(n, device=images.device) % len(images)]
    return None
