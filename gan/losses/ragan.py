"""Relativistic average GAN, RaSGAN (Jolicoeur-Martineau 2018): D judges whether a real image is more
realistic than the average fake, and the other way round; G's loss is the mirror image, so it needs D's
logits on real images (with the current D). Halved as in the author's code.

    python train.py loss=ragan
"""

import torch.nn.functional as F

from gan.losses import GANLoss


def relativistic_average(a, b, a_target: float, b_target: float):
    """BCE(a - mean(b) -> a_target) and BCE(b - mean(a) -> b_target), averaged."""
    a_vs_b = F.binary_cross_entropy_with_logits(a - b.mean(), a.new_full(a.shape, a_target))
    b_vs_a = F.binary_cross_entropy_with_logits(b - a.mean(), b.new_full(b.shape, b_target))
    return (a_vs_b + b_vs_a) / 2


class RaGAN(GANLoss):
    name = "ragan"
    uses_targets = False  # relativistic: there is no absolute "real" label to smooth or flip
    probabilistic = False
    g_uses_real = True

    def d_loss(self, real_logits, fake_logits, t):
        return relativistic_average(real_logits, fake_logits, 1.0, 0.0)

    def g_loss(self, fake_logits, t, real_logits=None):
        return relativistic_average(fake_logits, real_logits, 1.0, 0.0)
