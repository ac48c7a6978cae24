"""Feature matching (Salimans et al. 2016): G matches the mean of D's intermediate features on reals,
||mean f(real) - mean f(fake)||^2, as an extra G term (`weight`) or as G's whole loss
(`replace_adversarial=true`, the paper's form).

    python train.py 'trick=[feature_matching]' trick.feature_matching.layer=features

`layer`: "features" (the input of D's last layer, in every model) or a module name of D such as
`net.5`; a name D lacks fails at start-up, listing D's layers. Both batches are the ones D's loss sees.
"""

import torch

from gan.tricks.base import Trick


def feature_matching_loss(real_features: torch.Tensor, fake_features: torch.Tensor) -> torch.Tensor:
    """Squared L2 distance between the batch means of the (flattened) features; reals are constants."""
    real_mean = real_features.detach().flatten(1).mean(0)
    return (real_mean - fake_features.flatten(1).mean(0)).pow(2).sum()


class FeatureMatching(Trick):
    def __init__(self, layer: str = "features", weight: float = 1.0, replace_adversarial: bool = False):
        super().__init__()
        self.layer, self.weight = layer, weight
        self.feature_layers = (layer,)
        self.replaces_g_loss = replace_adversarial
        self.last = 0.0

    def g_penalty(self, seen):
        loss = feature_matching_loss(seen.features("real", self.layer), seen.features("fake", self.layer))
        self.last = loss.detach()
        return self.weight * loss

    def metrics(self):
        return {"distance": self.last}
