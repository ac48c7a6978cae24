"""LeCam regularization (Tseng et al. 2021, "Regularizing Generative Adversarial Networks under Limited
Data"; github.com/google/lecam-gan, biggan_cifar/losses.py and third_party/utils.py):

    python train.py 'trick=[lecam]' [trick.lecam.weight=0.3 trick.lecam.start_iteration=1000]

D's loss gains weight * (E[relu(D(real) - anchor_fake)^2] + E[relu(anchor_real - D(fake))^2]), where the
anchors are exponential moving averages of D's mean output on the real and the fake batch. As the
reference, every D step first folds this batch's means into the anchors (decay 0, i.e. the anchors are the
last batch's means, while iteration < start_iteration; and for the very first batch), then the term
applies from iteration > start_iteration on; weight 0.3 and decay 0.9 are its BigGAN CIFAR settings. D's
outputs are the logits D's loss computed (`seen`), so the term costs no extra forward. The anchors are
buffers (checkpointed) and the batch means are averaged over DDP ranks before they enter them, so every
rank holds the same anchors.
"""

import torch
import torch.nn.functional as F

from gan.distributed import all_reduce_mean
from gan.tricks.base import Trick


def lecam_penalty(real_logits, fake_logits, anchor_real, anchor_fake) -> torch.Tensor:
    """E[relu(D(real) - anchor_fake)^2] + E[relu(anchor_real - D(fake))^2]."""
    return F.relu(real_logits - anchor_fake).pow(2).mean() + F.relu(anchor_real - fake_logits).pow(2).mean()


class LeCam(Trick):
    def __init__(self, weight: float = 0.3, decay: float = 0.9, start_iteration: int = 1000):
        super().__init__()
        self.weight, self.decay, self.start_iteration = weight, decay, start_iteration
        self.iteration = 0
        self.register_buffer("anchors", torch.zeros(2))  # EMA of mean D(real), mean D(fake)
        self.register_buffer("last", torch.zeros(()))  # the last penalty, for the logs
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update_anchors(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> None:
        means = all_reduce_mean(torch.stack([real_logits.mean(), fake_logits.mean()]).float())
        decay = 0.0 if self.iteration < self.start_iteration else self.decay
        decay = torch.where(self.updates == 0, 0.0, decay)  # the first batch sets them (no bias to 0)
        self.anchors.copy_(decay * self.anchors + (1 - decay) * means)
        self.updates += 1

    def d_penalty(self, seen):
        real, fake = seen.logits("real"), seen.logits("fake")
        self.update_anchors(real.detach(), fake.detach())
        if self.iteration <= self.start_iteration:
            return None
        anchor_real, anchor_fake = self.anchors.clone().to(real.dtype).unbind()
        penalty = lecam_penalty(real, fake, anchor_real, anchor_fake)
        self.last.copy_(penalty.detach())
        return self.weight * penalty

    def metrics(self):
        return {"penalty": self.last, "anchor_real": self.anchors[0], "anchor_fake": self.anchors[1]}
