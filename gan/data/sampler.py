"""A shuffling sampler whose order depends only on (seed, epoch), so a run resumed mid-epoch sees exactly
the samples the uninterrupted run would have seen next: none repeated, none skipped.

Lightning calls `set_epoch` every epoch; the datamodule's checkpoint state sets `resume_at`.
"""

import torch
from torch.utils.data import Sampler


class ResumableRandomSampler(Sampler[int]):
    def __init__(self, num_samples: int, seed: int = 0):
        self.num_samples, self.seed = num_samples, seed
        self.epoch = 0
        self.skip_epoch, self.skip = -1, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def resume_at(self, epoch: int, samples_done: int) -> None:
        """The next pass over `epoch` starts after its first `samples_done` samples."""
        self.epoch, self.skip_epoch, self.skip = epoch, epoch, samples_done

    def permutation(self, epoch: int) -> torch.Tensor:
        return torch.randperm(self.num_samples, generator=torch.Generator().manual_seed(self.seed + epoch))

    def __iter__(self):
        order = self.permutation(self.epoch)
        if self.epoch == self.skip_epoch:
            order = order[self.skip :]
            self.skip_epoch, self.skip = -1, 0
        return iter(order.tolist())

    def __len__(self) -> int:
        return self.num_samples
