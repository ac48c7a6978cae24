"""Relativistic pairing GAN (Jolicoeur-Martineau 2018; R3GAN, Huang et al. 2024): each fake is compared
with one real, softplus(C(fake) - C(real)) for D and softplus(C(real) - C(fake)) for G. With
`trick=[r1,r2]` it is R3GAN's regularised objective.

    python train.py loss=rpgan 'trick=[r1,r2]'
"""

import torch.nn.functional as F

from gan.errors import ConfigError
from gan.losses import GANLoss


def rp_loss(winner_logits, loser_logits):
    """mean softplus(loser - winner): small when every `winner` scores above its paired `loser`."""
    if winner_logits.shape != loser_logits.shape:
        raise ConfigError(
            f"loss=rpgan pairs reals with fakes one to one; got {tuple(winner_logits.shape)} "
            f"and {tuple(loser_logits.shape)} logits"
        )
    return F.softplus(loser_logits - winner_logits).mean()


class RpGAN(GANLoss):
    name = "rpgan"
    uses_targets = False
    probabilistic = False
    g_uses_real = True

    def d_loss(self, real_logits, fake_logits, t):
        return rp_loss(real_logits, fake_logits)

    def g_loss(self, fake_logits, t, real_logits=None):
        return rp_loss(fake_logits, real_logits)
