"""What the studio does, without the web server: pages, variations and interpolations of designs.

Every request arrives as plain JSON values; each is checked here and a bad one raises `BadRequest` with a
sentence the page shows. A design is `{"z": [...], "label": int | None, "image": int | None}`
(gan/designs.py).
"""

import base64
import io
import json
import math
import zipfile

import torch

from gan.checkpoint import has_ema, identity, load_checkpoint, load_generator, model_name
from gan.conditioning import condition_of
from gan.designs import between, neighbours, png_bytes, render_one
from gan.pixels import as_saved_pixels
from gan.priors import sample_latent

MAX_COUNT, MAX_STEPS, MAX_SEED = 64, 32, 2**32 - 1


class BadRequest(ValueError):
    """A request the studio cannot serve; the message is shown on the page as is."""


def whole(value, name: str, least: int, most: int) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
        raise BadRequest(f"{name} must be a whole number from {least} to {most}, not {value!r}")
    return value


def fraction(value, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not 0.0 <= number <= 1.0:  # also refuses NaN
        raise BadRequest(f"{name} must be a number from 0 to 1, not {value!r}")
    return number


class Studio:
    def __init__(self, ckpt_path: str, use_ema: bool = True):
        ckpt = load_checkpoint(ckpt_path)
        self.ckpt_path, self.use_ema = ckpt_path, use_ema and has_ema(ckpt)  # what is used, not asked for
        self.generator = load_generator(ckpt, use_ema)
        self.identity = identity(ckpt, use_ema)
        config, state = ckpt["config"], ckpt["state_dict"]
        self.prior, self.latent_dim = config["model"]["prior"], config["model"]["latent_dim"]
        self.condition = condition_of(self.generator)
        self.classes = state["fixed_labels"].unique().tolist() if self.condition == "label" else []
        names = config.get("class_names") or []
        self.class_names = {c: names[c] if c < len(names) else str(c) for c in self.classes}
        self.cond_images = state["fixed_images"] if self.condition == "image" else torch.zeros(0)
        self.model = model_name(config)

    # ---- what the page needs to know ----------------------------------------------------------------

    def info(self) -> dict:
        return {
            "checkpoint": self.ckpt_path,
            "model": self.model,
            "prior": self.prior,
            "latent_dim": self.latent_dim,
            "use_ema": self.use_ema,
            "condition": self.condition,
            "classes": [{"id": c, "name": self.class_names[c]} for c in self.classes],
            "images": [data_url(png_bytes(p)) for p in as_saved_pixels(self.cond_images)]
            if self.cond_images.ndim == 4
            else [],
            "limits": {"count": MAX_COUNT, "steps": MAX_STEPS, "seed": MAX_SEED},
        }

    # ---- requests -----------------------------------------------------------------------------------

    def page(self, seed, count, label=None, image=None) -> dict:
        """`count` designs from the prior with this seed: the latents `gan.generate seed=... num_images=...`
        draws. Conditions are the chosen class/image, or each in turn."""
        seed, count = whole(seed, "seed", 0, MAX_SEED), whole(count, "count", 1, MAX_COUNT)
        z = sample_latent(self.prior, count, self.latent_dim, generator=torch.Generator().manual_seed(seed))
        return {"seed": seed, "designs": self.draw(z, self.conditions(count, label, image))}

    def variations(self, design, strength, seed, count) -> dict:
        z, cond = self.parse(design)
        strength, seed = fraction(strength, "how different"), whole(seed, "seed", 0, MAX_SEED)
        count = whole(count, "count", 1, MAX_COUNT)
        near = neighbours(self.prior, z, strength, count, torch.Generator().manual_seed(seed))
        return {"designs": self.draw(near, [cond] * count)}

    def interpolate(self, a, b, steps) -> dict:
        """Latents from a to b; the condition is a's for the first half of the path, b's for the rest."""
        (za, ca), (zb, cb) = self.parse(a), self.parse(b)
        steps = whole(steps, "steps", 2, MAX_STEPS)
        conds = [ca] * (steps // 2) + [cb] * (steps - steps // 2)
        return {"designs": self.draw(between(self.prior, za, zb, steps), conds)}

    def png(self, design) -> bytes:
        """One design at full resolution, rendered alone; its latents file rides in the PNG."""
        z, cond = self.parse(design)
        latents = self.latents_file([{**self.normal(z, cond), "name": "design.png"}])
        return png_bytes(render_one(self.generator, z, self.tensor(cond)), latents)

    def zip(self, designs) -> bytes:
        if not isinstance(designs, list) or not designs or len(designs) > 256:
            raise BadRequest("pin at least one design (at most 256) to download a set")
        out, entries = io.BytesIO(), []
        with zipfile.ZipFile(out, "w") as archive:
            for i, design in enumerate(designs):
                z, cond = self.parse(design)
                entries.append({**self.normal(z, cond), "name": f"design_{i:03d}.png"})
                pixels = render_one(self.generator, z, self.tensor(cond))
                archive.writestr(entries[-1]["name"], png_bytes(pixels, self.latents_file(entries[-1:])))
            archive.writestr("latents.json", json.dumps(self.latents_file(entries), indent=1))
        return out.getvalue()

    # ---- designs in and out -------------------------------------------------------------------------

    def conditions(self, count: int, label, image) -> list:
        if self.condition == "label":
            chosen = [self.check_label(label)] if label not in (None, "") else self.classes
            return [{"label": chosen[i % len(chosen)]} for i in range(count)]
        if self.condition == "image":
            n = len(self.cond_images)
            chosen = [whole(image, "image", 0, n - 1)] if image not in (None, "") else range(n)
            return [{"image": chosen[i % len(chosen)]} for i in range(count)]
        return [{}] * count

    def check_label(self, label) -> int:
        label = whole(label, "class", 0, MAX_SEED)
        if label not in self.classes:
            names = ", ".join(f"{c}={n}" for c, n in self.class_names.items())
            raise BadRequest(f"class {label} is not one this model was trained on ({names})")
        return label

    def parse(self, design) -> tuple[torch.Tensor, dict]:
        if not isinstance(design, dict) or not isinstance(design.get("z"), list):
            raise BadRequest("a design needs its latent vector z (pick one on the page)")
        numbers = all(isinstance(v, int | float) and math.isfinite(v) for v in design["z"])
        if len(design["z"]) != self.latent_dim or not numbers:
            raise BadRequest(f"a design's z must be {self.latent_dim} finite numbers")
        z = torch.tensor(design["z"], dtype=torch.float32)
        return z, self.conditions(1, design.get("label"), design.get("image"))[0]

    def tensor(self, cond: dict) -> torch.Tensor | None:
        if "label" in cond:
            return torch.tensor(cond["label"])
        return self.cond_images[cond["image"]] if "image" in cond else None

    def normal(self, z: torch.Tensor, cond: dict) -> dict:
        return {"z": z.tolist(), "label": cond.get("label"), "image": cond.get("image")}

    @torch.no_grad()
    def draw(self, z: torch.Tensor, conds: list[dict]) -> list[dict]:
        """The page's pictures, one batch; downloads are re-rendered one by one (`render_one`)."""
        c = [self.tensor(cond) for cond in conds]
        cond = None if c[0] is None else torch.stack(c)
        pixels = as_saved_pixels(self.generator(z, cond))
        return [
            {**self.normal(zi, ci), "src": data_url(png_bytes(p))}
            for zi, ci, p in zip(z, conds, pixels, strict=True)
        ]

    def latents_file(self, designs: list[dict]) -> dict:
        return {
            "checkpoint": self.ckpt_path,
            "generator": self.identity,
            "use_ema": self.use_ema,
            "prior": self.prior,
            "latent_dim": self.latent_dim,
            "designs": designs,
        }


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()
