"""What the studio does, without the web server: pages, variations, interpolations, steering along principal
directions, truncation, starting from a photo and a design's nearest training images.

Every request arrives as plain JSON values; each is checked here and a bad one raises `BadRequest` with a
sentence the page shows. A design is `{"z": [...], "label": int | None, "image": int | None, "psi": 1.0,
"steps": [{"direction": k, "sigma": s}]}` (gan/designs.py); G draws `latent_of(design)`.
"""

import base64
import io
import json
import math
import re
import statistics
import threading
import zipfile
from dataclasses import dataclass, field

import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from gan.checkpoint import has_ema, identity, load_checkpoint, load_discriminator, load_generator, model_name
from gan.conditioning import condition_of
from gan.designs import PNG_KEY, TRUNCATABLE, between, latent_of, neighbours, png_bytes, render_one
from gan.pixels import as_saved_pixels
from gan.priors import sample_latent
from gan.studio.directions import load_or_compute, save
from gan.studio.nearest import NearestImages, Unavailable
from gan.studio.photo import MAX_PHOTO_BYTES, MAX_SEARCH_STEPS, PhotoError, Search, decode_upload, prepare
from gan.studio.projection import Settings, project

MAX_COUNT, MAX_STEPS, MAX_SEED = 64, 32, 2**32 - 1
MAX_SIGMA, MAX_NAME = 5.0, 40  # the page's sliders span +-3 sigma; a file may hold up to +-5
MAX_Z = 1000.0  # a latent coordinate: draws lie within +-6 (Gaussian) or sqrt(dim) (sphere); G stays finite
SCALES = (1, 4)  # PNG downloads: the model's size, or 4x by Lanczos resampling
REFERENCE_DESIGNS = 4  # the model's own designs a photo's match is read against
FAR_RATIO = 8.0  # this many times farther than the own designs' median is "far": measured, docs/studio.md
DECODE_WAIT = 10.0  # seconds a photo waits for the one decoder before it is told to try again
KEPT_SEARCHES = 8  # searches whose status stays readable after a newer photo replaced them
PREVIEW_SIGMAS, SHOWN = (-2.0, -1.0, 0.0, 1.0, 2.0), 8  # each strip; directions shown on the page


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


class Studio:
    def __init__(self, ckpt_path: str, use_ema: bool = True, search_steps: int = Settings.steps):
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
        self.lock = threading.RLock()  # one generator: one use at a time (requests and the photo search)
        self._directions = None  # (Directions, file, read from disk, why not saved), on first use
        self._discriminator = None
        self._told_directions = False
        self.searches: dict[int, Search] = {}  # the latest photo's search last; older ones stopped
        self.search_lock = threading.Lock()  # guards `searches` and the discriminator's loading
        self.decoding = threading.Lock()  # one photo decoded at a time, outside the generator's lock
        self.search_steps = search_steps
        self._reference: dict[int, list[float]] = {}  # search steps -> the own designs' distances
        self.shape = self.image_shape()
        self.neighbours = NearestImages(config)  # its index is built on the first "nearest" request

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
            "truncation_note": None if self.prior in TRUNCATABLE else self.no_truncation(),
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

    def no_truncation(self) -> str:
        return (
            f"truncation is for Gaussian and uniform priors; this model's {self.prior} prior puts every "
            "latent at the same norm, so pulling latents toward its centre would leave what G was trained on"
        )

    # ---- requests -----------------------------------------------------------------------------------

    def page(self, seed, count, label=None, image=None, psi=1.0) -> dict:
        """`count` designs from the prior with this seed: the latents `gan.generate seed=... num_images=...
        psi=...` draws. Conditions are the chosen class/image, or each in turn."""
        seed, count = whole(seed, "seed", 0, MAX_SEED), whole(count, "count", 1, MAX_COUNT)
        psi = self.check_psi(psi)
        z = sample_latent(self.prior, count, self.latent_dim, generator=torch.Generator().manual_seed(seed))
        conds = self.conditions(count, label, image)
        return {
            "seed": seed,
            "designs": self.draw([Design(zi, c, psi) for zi, c in zip(z, conds, strict=True)]),
        }

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
        """One design rendered alone, at the model's size or 4x by Lanczos resampling (the pixels G drew,
        smoothed, no detail invented); its latents file rides in the PNG and redraws the model-size one."""
        d, scale = self.parse(design), 1 if scale in (None, "") else whole(scale, "scale", 1, max(SCALES))
        if scale not in SCALES:
            raise BadRequest(
                f"a PNG is downloaded at {' or '.join(f'{s}x' for s in SCALES)} the model's size"
            )
        latents = self.latents_file([{**self.normal(d), "name": file_name(design, "design") + ".png"}])
        pixels = render_one(self.generator, self.latent(d), self.tensor(d.cond))
        if scale == 1:
            return png_bytes(pixels, latents)
        return upscaled_png(
            pixels, scale, {**latents, "upscaled": {"factor": scale, "resampling": "Lanczos"}}
        )

    def zip(self, designs) -> bytes:
        """The pins as PNGs named after the pins ("photo 1" is photo_1.png) and one latents.json."""
        if not isinstance(designs, list) or not designs or len(designs) > 256:
            raise BadRequest("pin at least one design (at most 256) to download a set")
        out, entries, taken = io.BytesIO(), [], set()
        with zipfile.ZipFile(out, "w") as archive:
            for i, design in enumerate(designs):
                d = self.parse(design)
                name = unique(file_name(design, f"design_{i:03d}"), taken) + ".png"
                title = design.get("name") if isinstance(design.get("name"), str) else None
                entries.append({**self.normal(d), "name": name, **({"title": title[:80]} if title else {})})
                pixels = render_one(self.generator, self.latent(d), self.tensor(d.cond))
                archive.writestr(entries[-1]["name"], png_bytes(pixels, self.latents_file(entries[-1:])))
            archive.writestr("latents.json", json.dumps(self.latents_file(entries), indent=1))
        return out.getvalue()

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
        with self.search_lock:
            for old in self.searches.values():
                old.stop.set()
            if self._discriminator is None:
                self._discriminator = load_discriminator(self.ckpt)
            search = Search(lambda search: self.find(search, target, steps), steps)
            self.searches[search.number] = search
            for number in sorted(self.searches)[:-KEPT_SEARCHES]:
                del self.searches[number]
            search.start()
        return {**search.status(), "photo": data_url(png_bytes(as_saved_pixels(target[None])[0]))}

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
        number = whole(search, "search", 1, MAX_SEED)
        with self.search_lock:
            found, latest = self.searches.get(number), max(self.searches, default=0)
        if found is None:
            raise BadRequest(f"no photo search {number} is running (the latest is {latest})")
        return {**found.status(), "replaced": number != latest}

    def cancel(self, search) -> dict:
        status = self.search_status(search)
        self.searches[status["search"]].stop.set()
        return self.search_status(search)

    def find(self, search: Search, target: torch.Tensor, steps: int) -> dict:
        def told(step, total, loss, image):
            search.told(step, total, loss, data_url(png_bytes(as_saved_pixels(image[None])[0])))

        result = self.search_for(target, steps, search, told)
        cond = {}
        if self.condition == "label":
            cond = {"label": self.classes[result.option]}
        elif self.condition == "image":
            cond = {"image": result.option}
        with self.lock:
            [design] = self.draw([Design(result.z, cond)])
        loss = result.loss if math.isfinite(result.loss) else None
        found = {"design": design, "loss": loss, "stopped": result.stopped}
        search.phase = "comparing"
        return {**found, "match": self.match(loss, steps, search)}

    def search_for(self, target: torch.Tensor, steps: int, search: Search, told=None):
        if self.condition == "label":
            options = torch.tensor(self.classes)
        else:
            options = self.cond_images if self.condition == "image" else None
        return project(
            self.generator,
            self._discriminator,
            target,
            self.prior,
            self.latent_dim,
            options,
            Settings(steps=steps),
            progress=told,
            cancelled=search.stop.is_set,
            lock=lambda: self.lock,
        )

    def match(self, loss: float | None, steps: int, search: Search) -> dict | None:
        """How close the photo's match is, read against the same search run on the model's own designs
        (measured once per launch and step count): "far from anything this model makes" past FAR_RATIO."""
        own = self.own_distances(steps, search)
        if loss is None or not own:
            return None
        typical = statistics.median(own)
        ratio = loss / max(typical, 1e-6)
        return {"distance": loss, "own": own, "typical": typical, "ratio": ratio, "far": ratio > FAR_RATIO}

    def own_distances(self, steps: int, search: Search) -> list[float] | None:
        """The search's distance on REFERENCE_DESIGNS of the model's own designs (seeded), each saved as a
        PNG's pixels would be: what a photo the model could have made reaches. None when stopped."""
        if steps in self._reference:
            return self._reference[steps]
        gen = torch.Generator().manual_seed(MAX_SEED)
        z = sample_latent(self.prior, REFERENCE_DESIGNS, self.latent_dim, generator=gen)
        distances = []
        for zi, cond in zip(z, self.conditions(REFERENCE_DESIGNS, None, None), strict=True):
            with self.lock:
                pixels = render_one(self.generator, zi, self.tensor(cond))
            target = pixels.permute(2, 0, 1).float() / 127.5 - 1
            result = self.search_for(target, steps, search)
            if result.stopped == "cancelled":
                return None
            distances.append(round(result.loss, 4))
        self._reference[steps] = sorted(distances)
        return self._reference[steps]

    def image_shape(self) -> tuple[int, int]:
        """(channels, size) of G's designs: one forward at start-up."""
        with self.lock, torch.no_grad():
            d = Design(torch.zeros(self.latent_dim), self.conditions(1, None, None)[0])
            x = self.generator(d.z[None], None if not d.cond else self.tensor(d.cond)[None])
        return x.shape[1], x.shape[-1]

    # ---- designs in and out -------------------------------------------------------------------------

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

    def condition_batch(self, n: int):
        c = [self.tensor(cond) for cond in self.conditions(n, None, None)]
        return None if c[0] is None else torch.stack(c)

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

    def check_psi(self, psi) -> float:
        psi = 1.0 if psi in (None, "") else fraction(psi, "truncation psi")
        if psi != 1.0 and self.prior not in TRUNCATABLE:
            raise BadRequest(self.no_truncation())
        return psi

    def parse(self, design) -> Design:
        if not isinstance(design, dict) or not isinstance(design.get("z"), list):
            raise BadRequest("a design needs its latent vector z (pick one on the page)")
        numbers = all(isinstance(v, int | float) and abs(v) <= MAX_Z for v in design["z"])
        if len(design["z"]) != self.latent_dim or not numbers:
            raise BadRequest(f"a design's z must be {self.latent_dim} numbers from -{MAX_Z:g} to {MAX_Z:g}")
        z = torch.tensor(design["z"], dtype=torch.float32)
        cond = self.conditions(1, design.get("label"), design.get("image"))[0]
        return Design(z, cond, self.check_psi(design.get("psi")), self.check_steps(design.get("steps")))

    def check_steps(self, steps) -> list[dict]:
        if steps in (None, []):
            return []
        count = len(self.loaded_directions()[0].names)
        if not isinstance(steps, list) or len(steps) > count or not all(isinstance(s, dict) for s in steps):
            raise BadRequest(f"a design's steps are at most {count} of {{direction, sigma}}")
        out = {}
        for s in steps:
            k = whole(s.get("direction"), "a step's direction", 0, count - 1)
            out[k] = number(s.get("sigma"), "a step's sigma", -MAX_SIGMA, MAX_SIGMA)
        return [{"direction": k, "sigma": v} for k, v in sorted(out.items()) if v != 0]

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
        names = self._directions[0].names if self._directions else []
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
        c = [self.tensor(d.cond) for d in designs]
        cond = None if c[0] is None else torch.stack(c)
        pixels = as_saved_pixels(self.generator(torch.stack([self.latent(d) for d in designs]), cond))
        return [
            {**self.normal(d), "src": data_url(png_bytes(p))} for d, p in zip(designs, pixels, strict=True)
        ]

    def latents_file(self, designs: list[dict]) -> dict:
        data = {
            "format": 2,
            "checkpoint": self.ckpt_path,
            "generator": self.identity,
            "use_ema": self.use_ema,
            "prior": self.prior,
            "latent_dim": self.latent_dim,
            "designs": designs,
        }
        used = {s["direction"] for d in designs for s in d.get("steps") or []}
        if self._directions is not None:
            found = self._directions[0]
            keep = sorted(used | {k for k, n in enumerate(found.names) if n})
            data["directions"] = [
                {
                    "index": k,
                    "name": found.names[k],
                    "sigma": found.sigmas[k].item(),
                    "vector": found.vectors[k].tolist(),
                }
                for k in keep
            ]
        return data


def with_step(steps: list[dict], direction: int, sigma: float) -> list[dict]:
    """`steps` with this direction's sigma set (0 removes it)."""
    kept = [s for s in steps if s["direction"] != direction]
    return sorted(
        kept + ([{"direction": direction, "sigma": sigma}] if sigma else []), key=lambda s: s["direction"]
    )


def file_name(design, fallback: str) -> str:
    """A pin's name as a file name: "photo 1" is photo_1; no name, or nothing usable in it, is `fallback`."""
    name = design.get("name") if isinstance(design, dict) else None
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:60] if isinstance(name, str) else ""
    return stem or fallback


def unique(stem: str, taken: set) -> str:
    """`stem`, or `stem_2`, `stem_3`...: the first not yet in `taken` (compared ignoring case), now taken."""
    name, k = stem, 1
    while name.lower() in taken:
        k, name = k + 1, f"{stem}_{k + 1}"
    taken.add(name.lower())
    return name


def upscaled_png(pixels: torch.Tensor, factor: int, text: dict) -> bytes:
    """uint8 [H, W, C] pixels as a PNG `factor` times larger, by Lanczos resampling, `text` in its chunk."""
    array = pixels.numpy()
    image = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    image = image.resize((image.width * factor, image.height * factor), Image.Resampling.LANCZOS)
    info = PngInfo()
    info.add_text(PNG_KEY, json.dumps(text, allow_nan=False))
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()
