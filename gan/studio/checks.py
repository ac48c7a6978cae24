"""The studio's request checks: every value a request sends, checked against one model, and the sentence
(a 4xx answer, shown on the page as is) for each one it cannot use.

    checks = Checks(studio)          # reads the studio's model: prior, latent size, classes, directions
    design = checks.design({"z": [...], "label": 1, "psi": 0.5, "steps": [{"direction": 0, "sigma": 2}]})

A design is `{"z": [...], "label": int | None, "image": int | None, "psi": 1.0, "steps": [{"direction": k,
"sigma": s}]}` (gan/designs.py); `design` returns it as a `Design`.
"""

import math
import re
from dataclasses import dataclass, field

import torch

from gan.designs import TRUNCATABLE

MAX_COUNT, MAX_STEPS, MAX_SEED = 64, 32, 2**32 - 1
MAX_SIGMA, MAX_NAME = 5.0, 40  # the page's sliders span +-3 sigma; a file may hold up to +-5
MAX_Z = 1000.0  # a latent coordinate: draws lie within +-6 (Gaussian) or sqrt(dim) (sphere); G stays finite


class BadRequest(ValueError):
    """A request the studio cannot serve; the message is shown on the page as is."""


class Busy(RuntimeError):
    """The studio cannot take this request now (its queue is full); the page says to try again."""


def shown(value) -> str:
    """A value as a sentence quotes it: its repr, cut to 40 characters (the page shows the sentence)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def whole(value, name: str, least: int, most: int) -> int:
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]{1,20}\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
        raise BadRequest(f"{name} must be a whole number from {least} to {most}, not {shown(value)}")
    return value


def number(value, name: str, least: float, most: float) -> float:
    try:
        x = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError, OverflowError):
        x = math.nan
    if not least <= x <= most:  # also refuses NaN
        raise BadRequest(f"{name} must be a number from {least:g} to {most:g}, not {shown(value)}")
    return x


def fraction(value, name: str) -> float:
    return number(value, name, 0.0, 1.0)


@dataclass
class Design:
    z: torch.Tensor
    cond: dict
    psi: float = 1.0
    steps: list[dict] = field(default_factory=list)  # [{"direction": k, "sigma": s}], one per direction

    def but(self, **changes) -> "Design":
        return Design(**{**self.__dict__, **changes})


class Checks:
    """What a request may name for one studio's model (read from the studio at each call): its classes or
    conditioning images, latents of its size, a truncation its prior allows, steps along its principal
    directions (computed on first use, so only a design with steps asks for them)."""

    def __init__(self, studio):
        self.studio = studio

    def conditions(self, count: int, label, image) -> list[dict]:
        """`count` conditions: the chosen class or image, or each in turn."""
        studio = self.studio
        if studio.condition == "label":
            chosen = [self.label(label)] if label not in (None, "") else studio.classes
            return [{"label": chosen[i % len(chosen)]} for i in range(count)]
        if studio.condition == "image":
            n = len(studio.cond_images)
            chosen = [whole(image, "image", 0, n - 1)] if image not in (None, "") else range(n)
            return [{"image": chosen[i % len(chosen)]} for i in range(count)]
        return [{}] * count

    def label(self, label) -> int:
        label = whole(label, "class", 0, MAX_SEED)
        if label not in self.studio.classes:
            names = ", ".join(f"{c}={n}" for c, n in self.studio.class_names.items())
            raise BadRequest(f"class {label} is not one this model was trained on ({names})")
        return label

    def psi(self, psi) -> float:
        psi = 1.0 if psi in (None, "") else fraction(psi, "truncation psi")
        if psi != 1.0 and self.studio.prior not in TRUNCATABLE:
            raise BadRequest(self.no_truncation())
        return psi

    def no_truncation(self) -> str:
        prior = self.studio.prior
        return (
            f"truncation is for Gaussian and uniform priors; this model's {prior} prior puts every "
            "latent at the same norm, so pulling latents toward its centre would leave what G was trained on"
        )

    def design(self, design) -> Design:
        if not isinstance(design, dict) or not isinstance(design.get("z"), list):
            raise BadRequest("a design needs its latent vector z (pick one on the page)")
        dim = self.studio.latent_dim
        numbers = all(isinstance(v, int | float) and abs(v) <= MAX_Z for v in design["z"])
        if len(design["z"]) != dim or not numbers:
            raise BadRequest(f"a design's z must be {dim} numbers from -{MAX_Z:g} to {MAX_Z:g}")
        z = torch.tensor(design["z"], dtype=torch.float32)
        cond = self.conditions(1, design.get("label"), design.get("image"))[0]
        return Design(z, cond, self.psi(design.get("psi")), self.steps(design.get("steps")))

    def steps(self, steps) -> list[dict]:
        if steps in (None, []):
            return []
        count = len(self.studio.loaded_directions()[0].names)
        if not isinstance(steps, list) or len(steps) > count or not all(isinstance(s, dict) for s in steps):
            raise BadRequest(f"a design's steps are at most {count} of {{direction, sigma}}")
        out = {}
        for s in steps:
            k = whole(s.get("direction"), "a step's direction", 0, count - 1)
            out[k] = number(s.get("sigma"), "a step's sigma", -MAX_SIGMA, MAX_SIGMA)
        return [{"direction": k, "sigma": v} for k, v in sorted(out.items()) if v != 0]
