"""Statistics a trick keeps identical on every DDP rank: summed over ranks when torch.distributed is up.

Lightning's DDP averages gradients, not a trick's buffers (and `forward_sync_buffers` is off, see
conf/trainer/ddp.yaml), so a trick whose state follows D's outputs (ADA's p, LeCam's anchors) reduces the
statistics it updates from. Every rank must call these at the same points: the tricks call them once per D
step or update interval, which every rank reaches in lock-step.
"""

import torch
import torch.distributed as dist


def distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """`values` summed over every rank (in place); unchanged in a single process."""
    if distributed():
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def all_reduce_mean(values: torch.Tensor) -> torch.Tensor:
    """`values` averaged over every rank (in place); unchanged in a single process."""
    if distributed():
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        values /= dist.get_world_size()
    return values
