"""A domain feature space for any image folder, learned without labels: a small conv encoder trained
self-supervised on the run's own training images, for FD, KID, precision/recall and the copying test.

    python train.py data=celeba data.root=../shared/data/celeba-1k callbacks.fid.feature.name=selfsup

It is also what FID uses offline on an image folder when the Inception weights are missing.

Method: SimCLR (Chen, Kornblith, Norouzi and Hinton 2020, "A Simple Framework for Contrastive Learning of
Visual Representations"): two augmented views of each image, an NT-Xent loss that makes each view pick its
partner out of the batch. Following Morozov et al. 2021 ("On Self-Supervised Image Representations for GAN
Evaluation"), the features are the encoder's pooled output, not the projector's. VICReg (Bardes, Ponce and
LeCun 2022) is here too (`method=vicreg`), and `random` (the untrained encoder) as a control:
`benchmarks/selfsup.py` measured them, and the augmentation strengths, against a domain classifier on
Fashion-MNIST and on degradation ladders of shoes and faces (docs/metrics.md).

The augmentations are crops, flips, mild colour changes and faint noise (std up to 0.05), never blur:
the features must stay sensitive to the defects GAN samples have (the faint noise keeps the contrastive
task from living on pixel-level grain, which made noise outweigh every other defect). Images above 64 px
are seen at 64 px (the CPU budget). Training runs in its own RNG fork (the run's stream is untouched),
once per dataset and settings: the encoder is cached under `.cache/selfsup/` keyed by a hash of the
training images and the Recipe, with its validation numbers (a ladder on its own images: FD of one half
against the other half, blurred, noised; and how often an augmented view finds its own image) printed
once and stored beside it in a .json file. Numbers in this space compare runs on the same data within this
project only.
"""

import hashlib
import json
import logging
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gan.data.device import materialize
from gan.pixels import as_rgb_uint8
from gan.run.clock import Ticker

log = logging.getLogger(__name__)
MAX_SIZE = 64  # larger images are seen at this size: the encoder's CPU budget
METHODS = ("vicreg", "simclr", "random")  # random: the untrained encoder, a control for the benchmark
VERSION = 1


def widths_for(size: int, width: int) -> list[int]:
    """Stride-2 stages down to 4x4 or less, doubling to `width` channels (32 px: 32, 64, 128)."""
    stages = max(1, math.ceil(math.log2(size / 4)))
    return [max(8, width >> (stages - 1 - i)) for i in range(stages)]


class Encoder(nn.Module):
    """Stride-2 3x3 convs with BatchNorm and ReLU, global average pooling: ~1-4 MFLOPs per image."""

    def __init__(self, channels: int, size: int, width: int = 128):
        super().__init__()
        self.size = min(size, MAX_SIZE)
        layers, previous = [], channels
        for stage in widths_for(self.size, width):
            layers += [nn.Conv2d(previous, stage, 3, 2, 1), nn.BatchNorm2d(stage), nn.ReLU()]
            previous = stage
        self.net = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.num_features = previous

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] images of the data's size."""
        if x.shape[-1] > self.size:
            x = F.interpolate(x, size=self.size, mode="area")
        return self.net(x)


class SelfSupFeatures(nn.Module):
    """The metric's view of the encoder: uint8 RGB [N, 3, H, W] in, its pooled features out (eval mode)."""

    def __init__(self, encoder: Encoder, channels: int, validation: dict, name: str):
        super().__init__()
        self.encoder, self.channels = encoder.eval().requires_grad_(False), channels
        self.validation, self.name, self.num_features = validation, name, encoder.num_features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images[:, : self.channels].float() / 127.5 - 1)

    def train(self, mode: bool = True):
        return super().train(False)


# ---- augmentations: batched on tensors, drawn from an explicit generator ----


def uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, min_scale: float = 0.35) -> torch.Tensor:
    """SimCLR's random resized crop (area in [min_scale, 1], aspect 3/4-4/3) and a horizontal flip."""
    n = len(x)
    area, ratio = uniform(n, min_scale, 1, generator), torch.exp(uniform(n, -0.288, 0.288, generator))
    w, h = (area * ratio).sqrt().clamp(max=1), (area / ratio).sqrt().clamp(max=1)
    tx, ty = uniform(n, -1, 1, generator) * (1 - w), uniform(n, -1, 1, generator) * (1 - h)
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = w * flip, tx, h, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def colour_jitter(x: torch.Tensor, generator: torch.Generator, strength: float = 0.3) -> torch.Tensor:
    """Brightness, contrast and (RGB) saturation scaled by 1 +- strength, on [-1, 1] images."""
    n = len(x)

    def factor():
        return uniform(n, 1 - strength, 1 + strength, generator)[:, None, None, None]

    x = (x + 1) * factor() - 1
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * factor() + mean
    if x.shape[1] == 3:
        grey = x.mean(dim=1, keepdim=True)
        x = (x - grey) * factor() + grey
    return x.clamp(-1, 1)


def augment(
    x: torch.Tensor,
    generator: torch.Generator,
    min_scale: float = 0.35,
    jitter: float = 0.3,
    noise: float = 0.0,
) -> torch.Tensor:
    x = colour_jitter(random_crop_flip(x, generator, min_scale), generator, jitter)
    if noise > 0:
        sigma = uniform(len(x), 0, noise, generator)[:, None, None, None]
        x = (x + sigma * torch.randn(x.shape, generator=generator)).clamp(-1, 1)
    return x


# ---- objectives ----


def vicreg_loss(a: torch.Tensor, b: torch.Tensor, sim: float = 25.0, var: float = 25.0, cov: float = 1.0):
    """Bardes et al. 2022, eq. 6: invariance (MSE), variance (hinge on each dimension's std), covariance."""
    invariance = F.mse_loss(a, b)
    a, b = a - a.mean(0), b - b.mean(0)
    std_a, std_b = (a.var(0) + 1e-4).sqrt(), (b.var(0) + 1e-4).sqrt()
    variance = F.relu(1 - std_a).mean() / 2 + F.relu(1 - std_b).mean() / 2
    n, d = a.shape

    def off_diagonal_sq(z):
        c = z.T @ z / (n - 1)
        return (c.pow(2).sum() - c.diagonal().pow(2).sum()) / d

    return sim * invariance + var * variance + cov * (off_diagonal_sq(a) + off_diagonal_sq(b))


def simclr_loss(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """Chen et al. 2020: NT-Xent, each view's partner is its positive, the other 2N-2 views negatives."""
    z = F.normalize(torch.cat([a, b]), dim=1)
    logits = z @ z.T / temperature
    logits.fill_diagonal_(float("-inf"))
    n = len(a)
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(logits, targets)


def projector(num_features: int, method: str) -> nn.Module:
    hidden, out = (1024, 1024) if method == "vicreg" else (512, 128)
    return nn.Sequential(
        nn.Linear(num_features, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, out)
    )


# ---- training ----


def as_float(images: torch.Tensor, index: torch.Tensor, uint8: bool) -> torch.Tensor:
    batch = images[index]
    return batch.float() / 127.5 - 1 if uint8 else batch.float()


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the encoder besides the images (`callbacks.fid.selfsup.*`): the cache key."""

    method: str = "simclr"
    steps: int = 1000
    batch_size: int = 128
    lr: float = 2e-3
    width: int = 128
    min_scale: float = 0.35  # random resized crop: smallest share of the area kept
    jitter: float = 0.3  # brightness, contrast, saturation: factors in 1 +- jitter
    noise: float = 0.05  # additive Gaussian noise, std uniform in [0, noise] (measured: docs/metrics.md)
    seed: int = 0

    @classmethod
    def of(cls, **settings) -> "Recipe":
        from gan.errors import ConfigError

        names = [f.name for f in fields(cls)]
        unknown = sorted(set(settings) - set(names))
        if unknown:
            raise ConfigError(f"callbacks.fid.selfsup: unknown {unknown}; allowed: {names}")
        recipe = cls(**settings)
        if not isinstance(recipe.steps, int) or recipe.steps < 3:  # one-cycle needs a warm-up step
            raise ConfigError(f"callbacks.fid.selfsup.steps={recipe.steps!r}: a whole number >= 3")
        if recipe.method not in METHODS:
            raise ConfigError(f"callbacks.fid.selfsup.method={recipe.method!r}: allowed are {list(METHODS)}")
        return recipe


def fit_encoder(images: torch.Tensor, uint8: bool, recipe: Recipe = Recipe()) -> Encoder:
    """Train an encoder on `images` ([N, C, H, W], uint8 or [-1, 1] floats) in its own RNG fork."""
    with torch.random.fork_rng(devices=[]):  # training's RNG stream is left exactly as it was
        torch.manual_seed(recipe.seed)
        encoder = Encoder(images.shape[1], images.shape[-1], recipe.width)
        if recipe.method != "random":
            _train(encoder, images, uint8, recipe)
    return encoder.eval()


def _train(encoder: Encoder, images: torch.Tensor, uint8: bool, r: Recipe) -> None:
    head = projector(encoder.num_features, r.method)
    params = [*encoder.parameters(), *head.parameters()]
    opt = torch.optim.AdamW(params, lr=r.lr, weight_decay=1e-4)
    warm_up = max(0.1, 2 / r.steps)  # at least two steps: a shorter warm-up divides by zero
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=r.lr, total_steps=r.steps, pct_start=warm_up)
    loss_fn = vicreg_loss if r.method == "vicreg" else simclr_loss
    rng = torch.Generator().manual_seed(r.seed)
    encoder.train()
    tick = Ticker("Self-supervised FID encoder, steps", r.steps)
    for step in range(r.steps):
        tick(step)
        index = torch.randint(len(images), (min(r.batch_size, len(images)),), generator=rng)
        x = as_float(images, index, uint8)
        if x.shape[-1] > encoder.size:
            x = F.interpolate(x, size=encoder.size, mode="area")
        views = [augment(x, rng, r.min_scale, r.jitter, r.noise) for _ in range(2)]
        a, b = head(encoder(torch.cat(views))).chunk(2)
        loss = loss_fn(a, b)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()


# ---- validation: what the feature space sees, on its own images ----


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur with standard deviation `sigma` pixels (reflect padding), on [-1, 1] images."""
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    x = F.pad(x, [radius] * 4, mode="reflect")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, kernel.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def with_noise(x: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    return (x + sigma * torch.randn(x.shape, generator=generator)).clamp(-1, 1)


@torch.no_grad()
def embed(features: nn.Module, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Features of [-1, 1] images, through the same uint8 RGB path as G's samples."""
    return torch.cat([features(as_rgb_uint8(part)) for part in images.split(batch_size)]).double()


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """FD between Gaussians fitted to two feature sets, as torchmetrics computes it (float64; the trace of
    the matrix square root from the eigenvalues of the covariances' product). Here for many sets against
    one reference without re-embedding it."""
    a, b = a.double(), b.double()
    mean = a.mean(0) - b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    root_trace = torch.linalg.eigvals(cov_a @ cov_b).real.clamp(min=0).sqrt().sum()
    return float(mean.dot(mean) + cov_a.trace() + cov_b.trace() - 2 * root_trace)


BLUR, NOISE = (0.5, 1.0, 2.0), (0.1, 0.3)
LADDER = ("real", *(f"blur {s:g}" for s in BLUR), f"noise {NOISE[-1]:g}")  # should increase strictly


def degraded(images: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    """The images, blurred at three strengths (px) and noised at two (std on [-1, 1]), as the ladder."""
    rng = torch.Generator().manual_seed(seed)
    sets = {"real": images, **{f"blur {s:g}": blur(images, s) for s in BLUR}}
    sets.update({f"noise {s:g}": with_noise(images, s, rng) for s in NOISE})
    return sets


def ladder(features: nn.Module, images: torch.Tensor, seed: int = 0) -> dict[str, float]:
    """FD of one half of `images` against the other half, real, blurred and noised."""
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    half = len(images) // 2
    reference = embed(features, images[order[:half]])
    sets = degraded(images[order[half : 2 * half]], seed)
    return {name: frechet_distance(reference, embed(features, x)) for name, x in sets.items()}


def increasing(fds: dict[str, float]) -> bool:
    values = [fds[k] for k in LADDER]
    return all(a < b for a, b in zip(values, values[1:], strict=False))


@torch.no_grad()
def view_retrieval(features: nn.Module, images: torch.Tensor, seed: int = 0) -> float:
    """Share of augmented views whose nearest original (of these images) is their own image."""
    rng = torch.Generator().manual_seed(seed)
    originals = embed(features, images)
    views = embed(features, augment(images, rng))
    return float((torch.cdist(views, originals).argmin(1) == torch.arange(len(images))).float().mean())


def validate(features: nn.Module, images: torch.Tensor, seed: int = 0) -> dict:
    fds = ladder(features, images, seed)
    return {
        "fd": fds,
        "increasing": increasing(fds),
        "view_retrieval": view_retrieval(features, images[:1000], seed),
        "images": len(images),
    }


# ---- the cached encoder for a datamodule ----


def training_images(datamodule) -> tuple[torch.Tensor, bool]:
    """Every training image, uint8 for folders (a copy: the cache is a read-only memory map)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        images, _, uint8 = materialize(datamodule.train_set)
    return images.clone(), uint8


def fingerprint(images: torch.Tensor) -> str:
    """A hash of the training images themselves: a changed folder or split is another encoder."""
    digest = hashlib.sha1(str((tuple(images.shape), str(images.dtype))).encode())
    digest.update(images.contiguous().numpy().tobytes())
    return digest.hexdigest()


def selfsup_encoder(
    datamodule, cache_dir: str | Path | None, train: bool = True, **settings
) -> SelfSupFeatures | None:
    """The trained (or cached) self-supervised encoder for `datamodule`'s training images; `settings` are
    Recipe's fields. `train=False` only reads the cache: None when this encoder was never trained."""
    recipe = Recipe.of(**settings)
    datamodule.setup()
    images, uint8 = training_images(datamodule)
    key = {"data": fingerprint(images), **asdict(recipe), "version": VERSION}
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache_dir or ".cache") / "selfsup" / f"{digest}.pt"
    channels = datamodule.channels
    if path.is_file():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        encoder = Encoder(channels, images.shape[-1], recipe.width)
        encoder.load_state_dict(saved["state_dict"])
        validation = saved["validation"]
        log.info("Self-supervised encoder from the cache (%s): %s", path, summary(validation))
    elif not train:
        return None
    else:
        log.info(
            "Training the self-supervised FID encoder on %d images (%d steps; once per folder and recipe, "
            "then cached; counts against trainer.max_time)", len(images), recipe.steps
        )  # fmt: skip
        start = time.perf_counter()
        encoder = fit_encoder(images, uint8, recipe)
        seconds = time.perf_counter() - start
        floats = images[:2000].float() / 127.5 - 1 if uint8 else images[:2000].float()
        validation = {
            **validate(SelfSupFeatures(encoder, channels, {}, ""), floats),
            "train_seconds": seconds,
        }
        save(path, {"state_dict": encoder.state_dict(), "validation": validation, "recipe": key})
        log.info(
            "Trained the self-supervised encoder (%s, %d steps, %d images) in %.0f s: %s (cached in %s)",
            recipe.method,
            recipe.steps,
            len(images),
            seconds,
            summary(validation),
            path,
        )
    return SelfSupFeatures(encoder, channels, validation, f"selfsup-{digest}")


def save(path: Path, state: dict) -> None:
    """The encoder and, beside it, its recipe and validation as JSON; each written whole, then moved into
    place, so sweep jobs or DDP ranks training the same encoder at once never leave a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    torch.save(state, temporary)
    os.replace(temporary, path)
    beside = {"recipe": state["recipe"], "validation": state["validation"]}
    temporary.write_text(json.dumps(beside, indent=1))
    os.replace(temporary, path.with_suffix(".json"))


def summary(validation: dict) -> str:
    ladder_ = ", ".join(f"{k} {v:.3g}" for k, v in validation["fd"].items())
    verdict = "increasing" if validation["increasing"] else "NOT increasing: treat its numbers with care"
    retrieval = validation["view_retrieval"]
    return f"FD to a real half: {ladder_} ({verdict}); augmented views find their image {retrieval:.2f}"
