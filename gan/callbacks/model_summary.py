"""The networks at the start of training, in one line: each one's class and parameter count, a trick's
networks under the trick's name ("ema EMA 1.1 M, not trained").

Lightning's summary table also has a FLOPs column and total, which read 0 for every GAN here (Lightning counts
them on an example forward pass, which a GAN's two networks do not share), and lists every trick together as
"tricks ModuleDict". A ModelSummary subclass, so that Lightning adds no table of its own.
"""

import logging

from lightning.pytorch.callbacks import ModelSummary
from lightning.pytorch.utilities.model_summary import get_human_readable_count
from torch import nn

log = logging.getLogger(__name__)


def describe(name: str, module: nn.Module) -> str | None:
    params = list(module.parameters())
    if not params:
        return None
    frozen = "" if any(p.requires_grad for p in params) else " (not trained)"
    return (
        f"{name} {type(module).__name__} {get_human_readable_count(sum(p.numel() for p in params))}{frozen}"
    )


class NetworkSummary(ModelSummary):
    def on_fit_start(self, trainer, module) -> None:
        if not self._max_depth or not trainer.is_global_zero:
            return
        parts = []
        for name, child in module.named_children():
            parts += [
                describe(n, m)
                for n, m in (child.items() if isinstance(child, nn.ModuleDict) else [(name, child)])
            ]
        params = list(module.parameters())
        trainable = get_human_readable_count(sum(p.numel() for p in params if p.requires_grad))
        megabytes = sum(p.numel() * p.element_size() for p in params) / 1e6
        log.info(
            "Networks: %s; %s trainable parameters (%.1f MB)",
            ", ".join(filter(None, parts)),
            trainable,
            megabytes,
        )
