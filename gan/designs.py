"""Designs: a latent vector plus its condition, rendered to PNG the same way by `gan.generate` and the studio.

A design travels as JSON, `{"z": [...], "label": 3 | null, "image": 0 | null, "psi": 1.0, "steps": [...]}`
(`image`: index into the run's conditioning images, for FashionGen-style models). G draws
`latent_of(design) = psi * z + sum of steps`: `psi` is the truncation (1: none), each step
`{"direction": k, "sigma": s}` moves s standard deviations along principal direction k
(gan/studio/directions.py).
`z` is the design as drawn (or found from a photo) and the steps are kept apart, so a file says what a
designer did and stays editable; a design without `psi` and `steps` (every file before them) is its `z`.

A latents file is `{"checkpoint": ..., "generator": {...}, "use_ema": true, "prior": ..., "latent_dim": 100,
"designs": [{"name": ..., ...}], "directions": [{"index": k, "name": ..., "sigma": ..., "vector": [...]}]}`
(`directions`: those the designs step along or a designer named). The studio writes one beside every
download and inside every PNG (text chunk `gan-design`), and
`python -m gan.generate ckpt_path=... latents=<file.json or design.png>` recreates those images bit for bit.
"""

import io
import json
import math
from pathlib import Path

import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from gan.errors import ConfigError
from gan.pixels import as_saved_pixels
from gan.priors import sample_latent, slerp

PNG_KEY = "gan-design"


def png_bytes(pixels: torch.Tensor, text: dict | None = None) -> bytes:
    """One uint8 [H, W, C] image as PNG bytes, with `text` as JSON in the `gan-design` chunk."""
    array = pixels.numpy()
    image = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    info = PngInfo()
    if text is not None:
        info.add_text(PNG_KEY, json.dumps(text))
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


@torch.no_grad()
def render_one(generator, z: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
    """One design as uint8 [H, W, C], alone in its batch: the same bits wherever it is drawn."""
    return as_saved_pixels(generator(z[None], None if cond is None else cond[None]))[0]


def neighbours(prior: str, z: torch.Tensor, strength: float, n: int, gen: torch.Generator) -> torch.Tensor:
    """`n` latents around `z`; strength 0 is z itself, 1 an independent draw. Each stays on the prior's
    support and, for a Gaussian, has the prior's distribution when z does (variance-preserving mix)."""
    fresh = sample_latent(prior, n, z.numel(), generator=gen)
    if prior == "uniform":  # a convex mix of two points of the cube stays in the cube
        return (1 - strength) * z + strength * fresh
    mixed = math.sqrt(1 - strength**2) * z + strength * fresh
    if prior == "sphere":
        return mixed / mixed.norm(dim=1, keepdim=True).clamp_min(1e-8) * math.sqrt(z.numel())
    return mixed


def between(prior: str, a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
    """`steps` latents from a to b: slerp for Gaussian and sphere priors, a straight line in the cube."""
    t = torch.linspace(0, 1, steps)[:, None]
    a, b = a.expand(steps, -1), b.expand(steps, -1)
    return slerp(a, b, t) if prior in ("gaussian", "sphere") else (1 - t) * a + t * b


TRUNCATABLE = ("gaussian", "uniform")  # centred priors whose support holds psi * z; the sphere's does not


def truncate(prior: str, z: torch.Tensor, psi: float) -> torch.Tensor:
    """The truncation trick (Karras et al. 2019's psi; Brock et al. 2019): z pulled toward the prior's mean,
    0 for the Gaussian and the cube. On the sphere psi * z would leave the support G was trained on."""
    if psi == 1:
        return z
    if prior not in TRUNCATABLE:
        raise ValueError(f"truncation needs a Gaussian or uniform prior; this model's is {prior}")
    return z * psi


def latent_of(prior: str, z: torch.Tensor, psi: float, steps: list[dict], directions: dict) -> torch.Tensor:
    """What G draws for a design: `truncate(z, psi)` plus each step, in direction order, from `directions`
    ({index: (unit vector, sigma)}). The one formula of the studio and gan.generate, hence the same bits."""
    latent = truncate(prior, z, psi)
    for step in sorted(steps, key=lambda s: s["direction"]):
        vector, sigma = directions[step["direction"]]
        latent = latent + (float(step["sigma"]) * sigma) * vector
    return latent


def read_latents(path: str) -> dict:
    """A latents file written by the studio: its JSON, or the `gan-design` chunk of one of its PNGs."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"latents={path}: no such file")
    try:
        if file.suffix.lower() == ".png":
            text = Image.open(file).text.get(PNG_KEY)
            if text is None:
                raise ConfigError(f"latents={path}: this PNG has no design inside (not saved by the studio)")
            data = json.loads(text)
        else:
            data = json.loads(file.read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"latents={path}: not a latents file ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("designs"), list) or not data["designs"]:
        raise ConfigError(f"latents={path}: expected {{'designs': [{{'z': [...]}}, ...]}}")
    return data
