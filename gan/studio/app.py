"""What the studio does, without the web server: pages, variations, interpolations, steering along principal
directions, truncation, starting from a photo and a design's nearest training images.

    studio = Studio("logs/train/runs/<run>/checkpoints/last.ckpt")
    studio.page(seed=5, count=16, psi=0.7)          # JSON-ready answers; gan/studio/server.py serves them

`Studio` is the composition: its parts are the request checks (gan/studio/checks.py: every value a
request sends, and the sentence a bad one gets, `BadRequest`), the photo searches (gan/studio/searches.py)
and the downloads (gan/studio/downloads.py: PNG, ZIP, latents files). The page's random draw goes through
the studio's sampler (gan/samplers/, `sampler=` on the command line; the page's variety slider is its psi).
A design is `{"z": [...], "label": int | None, "image": int | None, "psi": 1.0, "steps": [{"direction": k,
"sigma": s}]}` (gan/designs.py); G draws `latent_of(design)`.
"""

import threading

import torch

from gan.checkpoint import has_ema, identity, load_checkpoint, load_discriminator, load_generator, model_name
from gan.conditioning import condition_of
from gan.designs import TRUNCATABLE, between, latent_of, neighbours, png_bytes
from gan.errors import ConfigError
from gan.pixels import as_saved_pixels
from gan.samplers import Models, Sampler
from gan.samplers.plain import Plain
from gan.studio.checks import (
    MAX_COUNT,
    MAX_NAME,
    MAX_SEED,
    MAX_SIGMA,
    MAX_STEPS,
    BadRequest,
    Busy,
    Checks,
    Design,
    fraction,
    whole,
)
from gan.studio.directions import load_or_compute, save
from gan.studio.downloads import SCALES, Downloads, data_url
from gan.studio.nearest import NearestImages, Unavailable
from gan.studio.photo import MAX_PHOTO_BYTES, MAX_SEARCH_STEPS, PhotoError, decode_upload, prepare
from gan.studio.projection import Settings
from gan.studio.searches import FAR_RATIO, PhotoSearches

__all__ = ["BadRequest", "Busy", "Design", "Studio"]

DECODE_WAIT = 10.0  # seconds a photo waits for the one decoder before it is told to try again
PREVIEW_SIGMAS, SHOWN = (-2.0, -1.0, 0.0, 1.0, 2.0), 8  # each strip; directions shown on the page


class Studio:
    """One checkpoint's studio: the page's requests, each answered as plain JSON values or file bytes."""

    def __init__(
        self,
        ckpt_path: str,
        use_ema: bool = True,
        search_steps: int = Settings.steps,
        sampler: Sampler | None = None,
    ):
        ckpt = load_checkpoint(ckpt_path)
        self.ckpt, self.ckpt_path = ckpt, ckpt_path
        self.use_ema = use_ema and has_ema(ckpt)  # what is used, not what was asked for
        self.generator = load_generator(ckpt, use_ema).requires_grad_(False)
        self.identity = identity(ckpt, use_ema)
        config, state = ckpt["config"], ckpt["state_dict"]
        self.config = config
        self.prior, self.latent_dim = config["model"]["prior"], config["model"]["latent_dim"]
        self.condition = condition_of(self.generator)
        self.classes = state["fixed_labels"].unique().tolist() if self.condition == "label" else []
        names = config.get("class_names") or []
        self.class_names = {c: names[c] if c < len(names) else str(c) for c in self.classes}
        self.cond_images = state["fixed_images"] if self.condition == "image" else torch.zeros(0)
        self.model = model_name(config)
        self.checks = Checks(self)
        self.sampler = self.checked_sampler(sampler or Plain())
        self.lock = threading.RLock()  # one generator: one use at a time (requests and the photo search)
        self._directions = None  # (Directions, file, read from disk, why not saved), on first use
        self._discriminator = None
        self.loading = threading.Lock()  # D is loaded once (for a photo search or the sampler)
        self._told_directions = False
        self.photos, self.downloads = PhotoSearches(self), Downloads(self)
        self.decoding = threading.Lock()  # one photo decoded at a time, outside the generator's lock
        self.search_steps = search_steps
        self.shape = self.image_shape()
        self.neighbours = NearestImages(config)  # its index is built on the first "nearest" request

    def checked_sampler(self, sampler: Sampler) -> Sampler:
        if sampler.psi != 1 and self.prior not in TRUNCATABLE:
            raise ConfigError(f"sampler.psi={sampler.psi:g}: {self.checks.no_truncation()}")
        return sampler

    # ---- what the page needs to know ----------------------------------------------------------------

    def info(self) -> dict:
        return {
            "checkpoint": self.ckpt_path,
            "generator": self.identity["digest"],  # the page keeps its pins per generator
            "model": self.model,
            "prior": self.prior,
            "latent_dim": self.latent_dim,
            "use_ema": self.use_ema,
            "condition": self.condition,
            "classes": [{"id": c, "name": self.class_names[c]} for c in self.classes],
            "images": [data_url(png_bytes(p)) for p in as_saved_pixels(self.cond_images)]
            if self.cond_images.ndim == 4
            else [],
            "size": self.shape[1],
            "channels": self.shape[0],
            "data": self.data_name(),
            "truncation": self.prior in TRUNCATABLE,
            "truncation_note": None if self.prior in TRUNCATABLE else self.checks.no_truncation(),
            "limits": {
                "count": MAX_COUNT,
                "steps": MAX_STEPS,
                "seed": MAX_SEED,
                "sigma": MAX_SIGMA,
                "name": MAX_NAME,
                "search_steps": MAX_SEARCH_STEPS,
                "photo_bytes": MAX_PHOTO_BYTES,
            },
            "previews": list(PREVIEW_SIGMAS),
            "scales": list(SCALES),
            "far_ratio": FAR_RATIO,
            "shown_directions": SHOWN,
        }

    def data_name(self) -> str:
        """What the model was trained on, in a designer's words: the folder's or the dataset's name."""
        data = self.config.get("data") or {}
        root = str(data.get("root") or "").rstrip("/")
        return (
            root.rsplit("/", 1)[-1]
            if root
            else str(data.get("name") or data.get("_target_", "").rsplit(".")[-1])
        )

    # ---- requests -----------------------------------------------------------------------------------

    def page(self, seed, count, label=None, image=None, psi=None) -> dict:
        """`count` designs drawn by the studio's sampler with this seed: the latents `gan.generate seed=...
        num_images=... psi=...` draws (psi: the sampler's when the request has none). Conditions are the
        chosen class/image, or each in turn."""
        seed, count = whole(seed, "seed", 0, MAX_SEED), whole(count, "count", 1, MAX_COUNT)
        sampler = self.sampler if psi in (None, "") else self.sampler.but(psi=self.checks.psi(psi))
        conds = self.conditions(count, label, image)
        rng = torch.Generator().manual_seed(seed)
        z = sampler.draw(self.models(sampler), count, rng, self.stacked(conds))
        designs = [Design(zi, c, sampler.psi) for zi, c in zip(z, conds, strict=True)]
        return {"seed": seed, "designs": self.draw(designs)}

    def variations(self, design, strength, seed, count) -> dict:
        """Designs around this one's z; each keeps its truncation and steps."""
        d = self.parse(design)
        strength, seed = fraction(strength, "how different"), whole(seed, "seed", 0, MAX_SEED)
        count = whole(count, "count", 1, MAX_COUNT)
        near = neighbours(self.prior, d.z, strength, count, torch.Generator().manual_seed(seed))
        return {"designs": self.draw([d.but(z=z) for z in near])}

    def interpolate(self, a, b, steps) -> dict:
        """Latents from a to b (and each step's sigma and psi, linearly); the condition is a's for the
        first half of the path, b's for the rest."""
        a, b = self.parse(a), self.parse(b)
        steps = whole(steps, "steps", 2, MAX_STEPS)
        path, designs = between(self.prior, a.z, b.z, steps), []
        for i, z in enumerate(path):
            t = i / (steps - 1)
            sigmas = {s["direction"]: (1 - t) * s["sigma"] for s in a.steps}
            for s in b.steps:
                sigmas[s["direction"]] = sigmas.get(s["direction"], 0.0) + t * s["sigma"]
            walk = [{"direction": k, "sigma": v} for k, v in sorted(sigmas.items())]
            cond = a.cond if i < steps // 2 else b.cond
            designs.append(Design(z, cond, (1 - t) * a.psi + t * b.psi, walk))
        return {"designs": self.draw(designs)}

    def render(self, designs) -> dict:
        """The designs as they are now (after a slider moved): one batch."""
        if not isinstance(designs, list) or not 1 <= len(designs) <= MAX_COUNT:
            raise BadRequest(f"send 1 to {MAX_COUNT} designs to draw")
        return {"designs": self.draw([self.parse(d) for d in designs])}

    def directions(self) -> dict:
        """The principal directions (computed on first use, then read from the cache beside the
        checkpoint) and their names."""
        found, path, cached, unsaved = self.loaded_directions()
        fresh, self._told_directions = not cached and not self._told_directions, True
        return {
            "directions": [
                {"index": k, "name": found.names[k], "variance": found.variance[k]}
                for k in range(len(found.names))
            ],
            "method": found.method,
            "file": str(path),
            "cached": cached,
            "fresh": fresh,  # computed for this answer (a reloaded page is told they were ready)
            "unsaved": unsaved,
        }

    def name(self, direction, name) -> dict:
        """A designer's name for a direction ("heel height"), saved in the cache file."""
        found, path, _, _ = self.loaded_directions()
        k = whole(direction, "direction", 0, len(found.names) - 1)
        if not isinstance(name, str) or len(name.strip()) > MAX_NAME or not name.isprintable():
            raise BadRequest(f"a direction's name is at most {MAX_NAME} printable characters")
        found.names[k] = name.strip()
        self._directions = (found, path, True, save(found, path, self.identity))
        return self.directions()

    def strips(self, design, directions=None) -> dict:
        """For each direction, the design with that direction's slider at -2 .. +2 sigma (the others as
        they are): the previews beside the sliders, drawn in one batch with the design itself."""
        d, found = self.parse(design), self.loaded_directions()[0]
        count = len(found.names)
        if directions is None:
            directions = list(range(min(SHOWN, count)))
        if not isinstance(directions, list) or not 1 <= len(directions) <= count:
            raise BadRequest(f"ask for 1 to {count} directions' previews")
        chosen = [whole(k, "direction", 0, count - 1) for k in directions]
        designs = [d.but(steps=with_step(d.steps, k, s)) for k in chosen for s in PREVIEW_SIGMAS]
        drawn, n = self.draw([d, *designs]), len(PREVIEW_SIGMAS)
        strips = [
            {"direction": k, "designs": drawn[1 + i * n : 1 + (i + 1) * n]} for i, k in enumerate(chosen)
        ]
        return {"design": drawn[0], "sigmas": list(PREVIEW_SIGMAS), "strips": strips}

    def png(self, design, scale=1) -> bytes:
        return self.downloads.png(design, scale)

    def zip(self, designs) -> bytes:
        return self.downloads.zip(designs)

    def nearest(self, design) -> dict:
        """The design's nearest training images in the self-supervised encoder's feature space, with
        distances and the reference that reads them ("is this a copy?")."""
        d = self.parse(design)
        with torch.no_grad():
            cond = self.tensor(d.cond)
            image = self.generator(self.latent(d)[None], None if cond is None else cond[None])
        building = self.neighbours.index is None
        try:
            found = {**self.neighbours.ready().answer(image), "built_index": building}
        except Unavailable as err:
            raise BadRequest(str(err)) from None
        for entry in found["images"]:
            entry["src"] = data_url(png_bytes(entry.pop("pixels")))
        return found

    # ---- starting from a photo ----------------------------------------------------------------------

    def project(self, photo, steps=None) -> dict:
        """Check the photo now (a bad one is a sentence), then search in the background; a new photo
        stops the previous search. The page polls `search_status`. Called without the generator's lock:
        decoding a large photo never holds up another page's request."""
        steps = self.search_steps if steps in (None, "") else whole(steps, "steps", 1, MAX_SEARCH_STEPS)
        target = self.photo_target(photo)
        status = self.photos.start(target, steps)
        return {**status, "photo": data_url(png_bytes(as_saved_pixels(target[None])[0]))}

    def photo_target(self, photo) -> torch.Tensor:
        """The photo as the model sees it: decoded one at a time (a bounded queue), checked first."""
        if not self.decoding.acquire(timeout=DECODE_WAIT):
            raise Busy("the studio is busy reading another photo, try again in a few seconds")
        try:
            data = self.config.get("data", {})
            channels, size = self.shape
            kind = data.get("preprocess") or "resize_crop"
            return prepare(decode_upload(photo), channels, size, kind, data.get("crop"))
        except PhotoError as err:
            raise BadRequest(str(err)) from None
        finally:
            self.decoding.release()

    def search_status(self, search) -> dict:
        return self.photos.status(search)

    def cancel(self, search) -> dict:
        return self.photos.cancel(search)

    @property
    def searches(self) -> dict:
        return self.photos.searches

    def discriminator(self):
        """D, loaded on first use: by a photo search, or by a sampler that reads it."""
        with self.loading:
            if self._discriminator is None:
                self._discriminator = load_discriminator(self.ckpt)
        return self._discriminator

    def image_shape(self) -> tuple[int, int]:
        """(channels, size) of G's designs: one forward at start-up."""
        with self.lock, torch.no_grad():
            d = Design(torch.zeros(self.latent_dim), self.conditions(1, None, None)[0])
            x = self.generator(d.z[None], None if not d.cond else self.tensor(d.cond)[None])
        return x.shape[1], x.shape[-1]

    # ---- designs in and out -------------------------------------------------------------------------

    def models(self, sampler: Sampler) -> Models:
        """What the sampler may look at (gan/samplers/base.py)."""
        discriminator = self.discriminator() if sampler.uses_discriminator else None
        return Models(self.generator, self.prior, self.latent_dim, discriminator)

    def loaded_directions(self):
        if self._directions is None:
            self._directions = load_or_compute(
                self.ckpt_path,
                self.generator,
                self.identity,
                self.prior,
                self.latent_dim,
                self.condition_batch,
            )
        return self._directions

    @property
    def known_directions(self):
        """The principal directions if some request has loaded them, else None."""
        return self._directions[0] if self._directions is not None else None

    def condition_batch(self, n: int):
        return self.stacked(self.conditions(n, None, None))

    def stacked(self, conds: list[dict]) -> torch.Tensor | None:
        """G's `cond` for a batch of designs' conditions (None for an unconditional model)."""
        c = [self.tensor(cond) for cond in conds]
        return None if c[0] is None else torch.stack(c)

    def conditions(self, count: int, label, image) -> list:
        return self.checks.conditions(count, label, image)

    def parse(self, design) -> Design:
        return self.checks.design(design)

    def latent(self, d: Design) -> torch.Tensor:
        table = {}
        if d.steps:
            found = self.loaded_directions()[0]
            table = {
                s["direction"]: (found.vectors[s["direction"]], found.sigmas[s["direction"]].item())
                for s in d.steps
            }
        return latent_of(self.prior, d.z, d.psi, d.steps, table)

    def tensor(self, cond: dict) -> torch.Tensor | None:
        if "label" in cond:
            return torch.tensor(cond["label"])
        return self.cond_images[cond["image"]] if "image" in cond else None

    def normal(self, d: Design) -> dict:
        names = self.known_directions.names if self.known_directions else []
        steps = [{**s, "name": names[s["direction"]] if names else ""} for s in d.steps]
        return {
            "z": d.z.tolist(),
            "label": d.cond.get("label"),
            "image": d.cond.get("image"),
            "psi": d.psi,
            "steps": steps,
        }

    @torch.no_grad()
    def draw(self, designs: list[Design]) -> list[dict]:
        """The page's pictures, one batch; downloads are re-rendered one by one (`render_one`)."""
        cond = self.stacked([d.cond for d in designs])
        pixels = as_saved_pixels(self.generator(torch.stack([self.latent(d) for d in designs]), cond))
        return [
            {**self.normal(d), "src": data_url(png_bytes(p))} for d, p in zip(designs, pixels, strict=True)
        ]


def with_step(steps: list[dict], direction: int, sigma: float) -> list[dict]:
    """`steps` with this direction's sigma set (0 removes it)."""
    kept = [s for s in steps if s["direction"] != direction]
    return sorted(
        kept + ([{"direction": direction, "sigma": sigma}] if sigma else []), key=lambda s: s["direction"]
    )
