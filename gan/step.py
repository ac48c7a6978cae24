"""One iteration's maths, apart from the optimizer plumbing in `GANModule`.

Each iteration turns G's batch, then the real batch, into what D sees, once (`Trick.d_input(x, which)`:
instance noise, DiffAugment, APA, in list order). Those very tensors go to D's loss, to every penalty and to
G's loss:

    fake = view(G(z), "fake"); seen = Seen(real=view(real, "real"), fake=fake, ...)   # once per iteration
    D step: d_objective(loss, tricks, seen.for_d())        # fakes detached; D runs once per tensor
    G step: g_objective(loss, tricks, seen.for_g())        # a fresh cache: logits from the updated D

`Seen.logits(which)` and `Seen.features(which, layer)` run D at most once per tensor per step and share
the result, so a loss, a penalty and a G-side term that all need D(real) pay for one forward.
"""

from dataclasses import dataclass, field
from functools import partial

import torch
from torch import nn

from gan.errors import ConfigError
from gan.losses import GANLoss, Targets

FEATURES = "features"  # the input of D's last layer: its penultimate features, in every model


def feature_head(discriminator: nn.Module) -> nn.Module:
    """The layer whose input is D's `features`: the module D names in `feature_head` (a dotted name: a
    wrapper that adds its own layers names its inner D's head, e.g. "inner.fc"), else D's last leaf layer."""
    name = getattr(discriminator, "feature_head", None)
    if name is not None:
        return dict(discriminator.named_modules())[name]
    return _leaf_layers(discriminator)[-1][1]


def _leaf_layers(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """Layers without sublayers; a spectral-normed layer is one layer, not its parametrization."""
    return [
        (n, m)
        for n, m in module.named_modules()
        if n
        and "parametrizations" not in n.split(".")
        and not [c for name, c in m.named_children() if name != "parametrizations"]
    ]


def resolve_layer(discriminator: nn.Module, layer: str) -> None:
    """Fail at start-up when `layer` names nothing in D."""
    if layer == FEATURES:
        return
    names = dict(discriminator.named_modules())
    if layer not in names or not layer:
        listing = ", ".join(n for n, _ in _leaf_layers(discriminator))
        raise ConfigError(
            f"layer={layer!r} does not exist in the discriminator ({type(discriminator).__name__}); "
            f"use '{FEATURES}' (its penultimate features) or one of: {listing}"
        )


class FeatureTaps:
    """Forward hooks that record named intermediate outputs of D, only while `record` runs."""

    def __init__(self, discriminator: nn.Module, layers: list[str]):
        self.layers = sorted(set(layers))
        self._store: dict[str, torch.Tensor] | None = None
        for layer in self.layers:
            resolve_layer(discriminator, layer)
            if layer == FEATURES:
                head = feature_head(discriminator)
                head.register_forward_pre_hook(partial(self._record_input, layer))
            else:
                module = dict(discriminator.named_modules())[layer]
                module.register_forward_hook(partial(self._record_output, layer))

    def _record_input(self, layer, module, args):
        if self._store is not None:
            self._store[layer] = args[0]

    def _record_output(self, layer, module, args, output):
        if self._store is not None:
            self._store[layer] = output

    def run(self, discriminator: nn.Module, x: torch.Tensor, cond) -> tuple[torch.Tensor, dict]:
        if not self.layers:
            return discriminator(x, cond), {}
        self._store = {}
        try:
            logits = discriminator(x, cond)
            return logits, self._store
        finally:
            self._store = None


@dataclass
class Seen:
    """The batch as D sees it this iteration, and D's answers on it (computed once, then shared).

    `real`, `fake`: D's inputs after the input tricks; in the D step `fake` is detached, in the G step it
    carries G's graph. `cond`: what D is conditioned on. `critic(x)`: D with `cond` bound, for penalties
    that need D on other inputs (interpolates, inputs that require grad).
    """

    real: torch.Tensor
    fake: torch.Tensor
    cond: torch.Tensor | None
    discriminator: nn.Module
    taps: FeatureTaps
    targets: Targets | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    def for_d(self) -> "Seen":
        return Seen(self.real, self.fake.detach(), self.cond, self.discriminator, self.taps)

    def for_g(self, targets: Targets | None) -> "Seen":
        return Seen(self.real, self.fake, self.cond, self.discriminator, self.taps, targets)

    def critic(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminator(x, self.cond)

    def _run(self, which: str) -> tuple[torch.Tensor, dict]:
        if which not in self._cache:
            x = {"real": self.real, "fake": self.fake}[which]
            self._cache[which] = self.taps.run(self.discriminator, x, self.cond)
        return self._cache[which]

    def logits(self, which: str) -> torch.Tensor:
        """D's logits on `real` or `fake`, from the first call of this step."""
        return self._run(which)[0]

    def features(self, which: str, layer: str) -> torch.Tensor:
        """D's output at `layer` (declared in a component's `feature_layers`) on `real` or `fake`."""
        features = self._run(which)[1]
        if layer not in features:
            raise RuntimeError(f"layer {layer!r} was not declared in any component's feature_layers")
        return features[layer]


def d_objective(loss: GANLoss, tricks: list, seen: Seen, penalties: bool) -> torch.Tensor:
    """D's loss on `seen` plus the loss's and the tricks' penalties (when D steps); sets `seen.targets`."""
    real_logits, fake_logits = seen.logits("real"), seen.logits("fake")
    targets = Targets.default(real_logits)
    for trick in tricks:
        targets = trick.targets(targets)
    seen.targets = targets
    total = loss.d_loss(real_logits, fake_logits, targets)
    if penalties:
        terms = [loss.d_penalty(seen)] + [t.d_penalty(seen) for t in tricks]
        total = total + sum(t for t in terms if t is not None)
    return total


def g_objective(loss: GANLoss, tricks: list, seen: Seen) -> torch.Tensor:
    """G's adversarial loss (unless a trick replaces it), on the fakes the tricks select, plus every G-side
    term."""
    terms = [t.g_penalty(seen) for t in tricks]
    if not any(t.replaces_g_loss for t in tricks):
        real_logits = seen.logits("real") if loss.g_uses_real else None
        fake_logits, targets = seen.logits("fake"), seen.targets
        for trick in tricks:
            index = trick.g_samples(fake_logits)
            if index is not None:
                fake_logits, targets = fake_logits[index], targets.select(index)
        terms.append(loss.g_loss(fake_logits, targets, real_logits))
    return sum(t for t in terms if t is not None)
