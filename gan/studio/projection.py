"""Start from a photo: the latent (and class) whose design is closest to it, found by optimisation.

    result = project(generator, discriminator, photo, prior, latent_dim, options)

The loss is pixels plus D's features: the mean squared error of the design to the photo at full resolution
and at a quarter of it (colour and silhouette, which G can always approach), plus a distance between D's
activations on the two images (Larsen et al. 2016's learned similarity: D's layers are the one feature
network trained on this very data, and they see texture and shape where pixels see only colour; LPIPS-style,
each layer unit-normalised over channels). As StyleGAN2-ADA's `projector.py` (Karras et al. 2020) it runs
Adam on the latent with its learning-rate schedule (`learning_rate`: up over the first 5% of the steps, from
0, down along a half cosine over the last 25%; github.com/NVlabs/stylegan2-ada-pytorch, pinned in
tests/test_references.py); it starts from the best few of 256 random latents (the start decides much of an
inversion, Abdal et al. 2019), and for conditional models those cover every class (or conditioning image),
so the class is chosen too. After every step the latent is put back where the prior's draws lie
(`onto_prior`), so the design stays one the studio can vary, steer and interpolate.
"""

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gan.models.minibatch import MinibatchDiscrimination, MinibatchStd
from gan.priors import sample_latent


@dataclass
class Settings:
    candidates: int = 256  # random latents scored before optimising
    starts: int = 2  # the best of them optimised together
    steps: int = 60
    lr: float = 0.2  # chosen on 6 training shoes; with projector's ramps 0.2 beat 0.1 too (docs/studio.md)
    feature_weight: float = 1.0
    seconds: float = 30.0  # the search stops here with what it has, however many steps are left
    seed: int = 0


@dataclass
class Result:
    z: torch.Tensor
    option: int  # index into `options`: the chosen class or conditioning image
    loss: float
    steps: int
    seconds: float
    stopped: str | None  # why it ended early: "time" or "cancelled"; None when all steps ran


class DFeatures:
    """D's activations at the end of each resolution it works at (the last output of each run of equal
    shapes), before any minibatch layer (those mix the batch) and without its final logit."""

    def __init__(self, discriminator: nn.Module, example: torch.Tensor, cond):
        leaves = [
            (n, m)
            for n, m in discriminator.named_modules()
            if n and not list(m.children()) and "parametrizations" not in n.split(".")
        ]
        taps = []
        for name, module in leaves[:-1]:  # the last layer is D's logit
            if isinstance(module, MinibatchStd | MinibatchDiscrimination):
                break
            if not isinstance(module, nn.Embedding):  # a label's embedding does not see the image
                taps.append((name, module))
        self._store: dict[str, torch.Tensor] | None = None
        self._handles = [m.register_forward_hook(self._record(n)) for n, m in taps]
        self.discriminator = discriminator
        shapes = {n: tuple(o.shape[1:]) for n, o in self.run(example, cond).items()}
        order = [n for n, _ in taps if n in shapes]
        self.layers = [
            n for i, n in enumerate(order) if i + 1 == len(order) or shapes[order[i + 1]] != shapes[n]
        ]

    def _record(self, name):
        def hook(module, args, output):
            if self._store is not None and isinstance(output, torch.Tensor):
                self._store.setdefault(name, output)

        return hook

    def run(self, x: torch.Tensor, cond) -> dict[str, torch.Tensor]:
        self._store = {}
        try:
            self.discriminator(x, cond)
            return self._store
        finally:
            self._store = None

    def __call__(self, x: torch.Tensor, cond) -> list[torch.Tensor]:
        out = self.run(x, cond)
        return [unit(out[n]) for n in self.layers]

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


def unit(features: torch.Tensor) -> torch.Tensor:
    """Each position's channel vector scaled to unit length (LPIPS's normalisation)."""
    return features / (features.square().sum(1, keepdim=True).sqrt() + 1e-8)


def feature_distance(a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
    """[N]: mean over layers of the squared distance of unit channel vectors, averaged over positions."""
    per_layer = [(x - y).square().sum(1).flatten(1).mean(1) for x, y in zip(a, b, strict=True)]
    return torch.stack(per_layer).mean(0)


def pixel_distance(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """[N]: squared error at full resolution plus at a quarter of it."""
    full = (x - target).square().flatten(1).mean(1)
    small = F.avg_pool2d(x, 4) - F.avg_pool2d(target, 4) if x.shape[-1] >= 16 else x - target
    return full + small.square().flatten(1).mean(1)


def onto_prior(prior: str, z: torch.Tensor) -> torch.Tensor:
    """Latents back on the prior's support after a step: onto the sphere, into the cube, and for the
    Gaussian into the shell where 99.7% of its draws lie (norm sqrt(dim) +- 3 x its spread, 1/sqrt(2)),
    so a found design is a typical latent that varies, steers and interpolates like a drawn one."""
    if prior == "sphere":
        return z / z.norm(dim=1, keepdim=True).clamp_min(1e-8) * math.sqrt(z.shape[1])
    if prior == "uniform":
        return z.clamp(-1, 1)
    norm, typical, spread = (
        z.norm(dim=1, keepdim=True).clamp_min(1e-8),
        math.sqrt(z.shape[1]),
        3 / math.sqrt(2),
    )
    return z * (norm.clamp(typical - spread, typical + spread) / norm)


class Adam:
    """Adam (Kingma & Ba 2015) on one tensor, as torch.optim.Adam computes it (tested against it). By hand
    because importing torch.optim pulls in torch._dynamo: 6-10 s of CPU on a designer's first photo."""

    def __init__(self, param: torch.Tensor, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.param, self.lr, self.betas, self.eps, self.t = param, lr, betas, eps, 0
        self.m, self.v = torch.zeros_like(param), torch.zeros_like(param)

    @torch.no_grad()
    def step(self) -> None:
        (b1, b2), g = self.betas, self.param.grad
        self.t += 1
        self.m.lerp_(g, 1 - b1)
        self.v.mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = (self.v / (1 - b2**self.t)).sqrt_().add_(self.eps)
        self.param.addcdiv_(self.m, denom, value=-self.lr / (1 - b1**self.t))


def learning_rate(base: float, step: int, steps: int, rampdown: float = 0.25, rampup: float = 0.05) -> float:
    """StyleGAN2-ADA projector.py's schedule at `step` of `steps` (its lr_rampdown/rampup_length)."""
    t = step / steps
    down = 0.5 - 0.5 * math.cos(min(1.0, (1.0 - t) / rampdown) * math.pi)
    return base * down * min(1.0, t / rampup)


def batched(cond, index: torch.Tensor):
    return None if cond is None else cond[index]


def project(
    generator: nn.Module,
    discriminator: nn.Module,
    photo: torch.Tensor,
    prior: str,
    latent_dim: int,
    options: torch.Tensor | None,
    settings: Settings = Settings(),  # noqa: B008 - a frozen default, never mutated
    progress: Callable[[int, int, float, torch.Tensor], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    lock: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> Result:
    """The latent whose design is nearest `photo` ([C, H, W] in [-1, 1]) under the loss above. `options`
    holds G's possible conditions (class ids, or conditioning images), None for an unconditional G.
    `progress(step, steps, loss, best image)` is told after every step; `lock` guards every use of G and D."""
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(settings.seed)
    n_opt = 1 if options is None else len(options)
    target = photo[None]
    every = torch.arange(n_opt)
    with lock(), torch.no_grad():
        features = DFeatures(discriminator, target, batched(options, every[:1]))
        # the photo's features under each condition (a conditional D sees the class too), once
        goal = features(target.expand(n_opt, *target.shape[1:]), batched(options, every))
    try:

        def loss_of(z, which):
            cond = batched(options, which)
            x = generator(z, cond)
            d = feature_distance(features(x, cond), [g[which] for g in goal])
            return pixel_distance(x, target) + settings.feature_weight * d, x

        # 1. score random latents (every condition in turn) and keep the best few
        z = sample_latent(prior, settings.candidates, latent_dim, generator=gen)
        which = torch.arange(settings.candidates) % n_opt
        scores = []
        with torch.no_grad():
            for i in range(0, len(z), 64):
                with lock():
                    scores.append(loss_of(z[i : i + 64], which[i : i + 64])[0])
        scores = torch.cat(scores)
        best = scores.argsort()[: settings.starts]
        first = (z[best[0]].clone(), int(which[best[0]]), float(scores[best[0]]))
        z, which = z[best].clone().requires_grad_(True), which[best]
        optimizer = Adam(z, lr=settings.lr)
        # 2. optimise them together (the first step, at lr 0, only starts Adam's moments, as projector.py)
        done, stopped, losses, images = 0, None, None, None
        for step in range(settings.steps):
            if cancelled():
                stopped = "cancelled"
                break
            if time.perf_counter() - start > settings.seconds:
                stopped = "time"
                break
            optimizer.lr = learning_rate(settings.lr, step, settings.steps)
            with lock():
                losses, images = loss_of(z, which)
                z.grad = None
                losses.sum().backward()
            optimizer.step()
            with torch.no_grad():
                z.copy_(onto_prior(prior, z))
            done = step + 1
            if progress is not None:
                k = int(losses.argmin())
                progress(done, settings.steps, float(losses[k].detach()), images[k].detach())
        with torch.no_grad(), lock():  # the final latents, scored once more (the last step moved them)
            losses, _ = loss_of(z, which)
        k = int(losses.argmin())
        found = (z[k].detach().clone(), int(which[k]), float(losses[k]))
        if found[2] > first[2]:  # the optimisation made it worse (it may stop after one step): keep the start
            found = first
        return Result(*found, done, time.perf_counter() - start, stopped)
    finally:
        features.close()
