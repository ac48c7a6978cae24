"""Principal directions of a generator's latent space (GANSpace, Härkönen et al. 2020), cached beside the
checkpoint so they are computed once per generator.

    directions = load_or_compute(ckpt_path, generator, identity, prior, latent_dim, conditions)

GANSpace for a generator fed z directly (their BigGAN and ProGAN recipe, `decomposition.py`): draw latents
from the prior, record G's activations at an early layer, take their principal components, and map the
components back to the latent by least squares (`linreg_lstsq`): direction k is the latent change that moves
the activations along component k. The layer here is the first one whose output is not an affine function of
z (for DCGAN the 4x4 ReLU; for the residual models the first whole block or stage at that resolution), found
by probing every module, so any generator works without naming its layers; for a conditional G the
activations are centred per class (or conditioning image) first. A step of s sigma along direction
k adds `s * sigma_k * v_k` to z, sigma_k being the prior's spread along v_k (1 for a Gaussian).

The PCA differs from ganspace's (github.com/harskish/ganspace): their default estimator is sklearn's
IncrementalPCA over 300,000 samples (`--est ipca`; `pca` is sklearn's full SVD); ours is a seeded randomized
SVD of 2,000-10,000, as an exact SVD of the studio's 4096 x 8192 activations takes minutes on 2 cores. Its
settings (`OVERSAMPLE`, `POWER_ITERATIONS`) were raised until it agrees with an exact SVD: on a trained 64 px
shoe G all 20 directions within cosine 0.999 (the old 10 and 4 matched the top 4 only, 2 s faster), and
tests/test_references.py bounds it (cosine > 0.99) on a fixed sample. IncrementalPCA at our sample size
matched the top 3 only.

The cache is `<checkpoint>.directions-<digest>.json` next to the checkpoint (`digest`: the weights' digest
from `gan.checkpoint.identity`, so new weights never meet old directions); designers' names for the
directions are saved in it too.
"""

import contextlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from gan.priors import prior_std, sample_latent

COMPONENTS, SEED, FORMAT = 20, 0, 1
OVERSAMPLE, POWER_ITERATIONS = 40, 12  # 10 and 4 before issue 39: only the top 4 of 20 matched an exact SVD
MAX_ACTIVATION_FLOATS = 2**25  # samples x features held for the PCA (128 MB of float32)


@dataclass
class Directions:
    vectors: torch.Tensor  # [K, latent_dim], unit rows
    sigmas: torch.Tensor  # [K]: the prior's standard deviation along each vector
    variance: list[float]  # share of the layer's variance each component explains
    names: list[str]
    method: dict = field(default_factory=dict)

    def as_json(self, generator: dict) -> dict:
        return {
            "format": FORMAT,
            "generator": generator,
            "method": self.method,
            "directions": [
                {"index": k, "name": self.names[k], "variance": self.variance[k], "sigma": s, "vector": v}
                for k, (v, s) in enumerate(zip(self.vectors.tolist(), self.sigmas.tolist(), strict=True))
            ],
        }

    @classmethod
    def from_json(cls, data: dict) -> "Directions":
        rows = data["directions"]
        return cls(
            vectors=torch.tensor([r["vector"] for r in rows], dtype=torch.float32),
            sigmas=torch.tensor([r["sigma"] for r in rows], dtype=torch.float32),
            variance=[float(r["variance"]) for r in rows],
            names=[str(r.get("name") or "") for r in rows],
            method=data.get("method", {}),
        )


class _Stop(Exception):
    """Raised by a forward hook once the layer's output is recorded: the rest of G need not run."""


def _modules(generator: nn.Module) -> dict[str, nn.Module]:
    return {n: m for n, m in generator.named_modules() if n and "parametrizations" not in n.split(".")}


def _outputs(generator: nn.Module, z: torch.Tensor, cond) -> dict[str, torch.Tensor]:
    """Every module's first output for this batch, in the order the modules finished."""
    seen: dict[str, torch.Tensor] = {}

    def record(name):
        def hook(module, args, output):
            if isinstance(output, torch.Tensor) and output.shape[:1] == z.shape[:1] and name not in seen:
                seen[name] = output.detach().clone()  # an in-place ReLU next would change it

        return hook

    handles = [m.register_forward_hook(record(n)) for n, m in _modules(generator).items()]
    try:
        generator(z, cond)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def _same_place(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Outputs at the same resolution (feature maps) or of the same width (vectors)."""
    if a.ndim != b.ndim:
        return False
    return a.shape[2:] == b.shape[2:] if a.ndim == 4 else a.shape[1:] == b.shape[1:]


@torch.no_grad()
def probe_layer(generator: nn.Module, prior: str, latent_dim: int, cond) -> str:
    """The first module output that is not affine in z (checked at a midpoint), widened to its outermost
    enclosing module that ends at the same resolution (a whole block rather than its inner activation)."""
    gen = torch.Generator().manual_seed(SEED)
    a, b = sample_latent(prior, 2, latent_dim, generator=gen)
    z = torch.stack([a, b, (a + b) / 2])
    outputs = _outputs(generator, z, None if cond is None else cond.expand(3, *cond.shape[1:]))
    first = None
    for name, out in outputs.items():
        ends = (out[0] - out[1]).norm()
        if ends > 0 and (out[2] - (out[0] + out[1]) / 2).norm() > 1e-3 * ends:
            first = name
            break
    if first is None:
        return next(reversed(outputs))
    parts = first.split(".")
    for depth in range(1, len(parts)):  # outermost first
        outer = ".".join(parts[:depth])
        if outer in outputs and _same_place(outputs[outer], outputs[first]):
            return outer
    return first


@torch.no_grad()
def activations(generator: nn.Module, layer: str, z: torch.Tensor, cond, batch: int = 500) -> torch.Tensor:
    """[N, features] outputs of `layer`, running G only up to it."""
    module, store = _modules(generator)[layer], []

    def hook(module, args, output):
        store.append(output.detach().flatten(1))
        raise _Stop

    handle = module.register_forward_hook(hook)
    try:
        for i in range(0, len(z), batch):
            with contextlib.suppress(_Stop):
                generator(z[i : i + batch], None if cond is None else cond[i : i + batch])
    finally:
        handle.remove()
    return torch.cat(store)


def centred(x: torch.Tensor, cond) -> torch.Tensor:
    """Activations less their mean under each condition: for a conditional G the components are then
    what z changes within a class, not the differences between classes, which z cannot steer."""
    if cond is None:
        return x - x.mean(0)
    groups = torch.unique(cond.flatten(1) if cond.ndim > 1 else cond, dim=0, return_inverse=True)[1]
    means = torch.zeros(int(groups.max()) + 1, x.shape[1]).index_add_(0, groups, x)
    return x - (means / torch.bincount(groups)[:, None])[groups]


def principal_components(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The top k singular values and right singular vectors ([features, k]) of the centred activations, by
    a seeded randomized SVD (Halko et al. 2011) with enough sketch columns and power iterations to agree with
    an exact SVD where the spectrum is flat (see the module docstring)."""
    with torch.random.fork_rng(devices=[]):  # svd_lowrank draws its sketch from the global RNG
        torch.manual_seed(SEED)
        _, s, v = torch.svd_lowrank(x, q=min(k + OVERSAMPLE, *x.shape), niter=POWER_ITERATIONS)
    return s[:k], v[:, :k]


@torch.no_grad()
def compute(generator: nn.Module, prior: str, latent_dim: int, conditions, components: int = COMPONENTS):
    """Directions for this generator, seeded: `conditions(n)` gives G's condition for n samples (None,
    classes in turn, or conditioning images in turn)."""
    start = time.perf_counter()
    layer = probe_layer(generator, prior, latent_dim, conditions(1))
    gen = torch.Generator().manual_seed(SEED)
    width = activations(generator, layer, sample_latent(prior, 1, latent_dim, generator=gen), conditions(1))
    n = int(min(10_000, max(2_000, MAX_ACTIVATION_FLOATS // width.shape[1])))
    z, cond = sample_latent(prior, n, latent_dim, generator=gen), conditions(n)
    x = centred(activations(generator, layer, z, cond), cond)
    k = min(components, latent_dim, x.shape[1], n - 1)
    s, v = principal_components(x, k)
    total = x.square().sum().item()
    coords = x @ v / (s / math.sqrt(n - 1))  # unit-variance coordinates on each component
    latents = z - z.mean(0)
    m = torch.linalg.lstsq(coords, latents).solution  # [k, latent_dim]: coords @ m ~ z (GANSpace's M)
    vectors = m / m.norm(dim=1, keepdim=True)
    vectors = vectors * vectors.gather(1, vectors.abs().argmax(1, keepdim=True)).sign()  # a fixed sign
    sigmas = torch.full((k,), prior_std(prior))  # not the sample's: PCA picks its widest directions
    method = {
        "layer": layer,
        "samples": n,
        "features": x.shape[1],
        "seed": SEED,
        "seconds": round(time.perf_counter() - start, 2),
    }
    variance = (s.square() / total).tolist()
    return Directions(vectors.contiguous(), sigmas, variance, [""] * k, method)


def cache_path(ckpt_path: str | Path, digest: str) -> Path:
    ckpt = Path(ckpt_path)
    return ckpt.with_name(f"{ckpt.name}.directions-{digest}.json")


def load_or_compute(ckpt_path, generator, identity: dict, prior: str, latent_dim: int, conditions):
    """(directions, the cache file, whether it was read from disk, the reason it could not be written or
    None). A cache made for other weights is never read: its digest is in its name and inside it."""
    path = cache_path(ckpt_path, identity["digest"])
    if path.is_file():
        try:
            data = json.loads(path.read_text())
            if data.get("format") == FORMAT and data["generator"]["digest"] == identity["digest"]:
                return Directions.from_json(data), path, True, None
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged cache is recomputed, and rewritten below
    directions = compute(generator, prior, latent_dim, conditions)
    return directions, path, False, save(directions, path, identity)


def save(directions: Directions, path: Path, identity: dict) -> str | None:
    """Write the cache atomically; None, or why it could not be written (a read-only run folder)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(directions.as_json(identity), indent=1))
        os.replace(tmp, path)
    except OSError as err:
        return f"{path}: {err.strerror}"
    return None
