"""The studio's photo searches: the latent behind a photo, found in the background (gan/studio/projection.py).

    searches = PhotoSearches(studio)
    status = searches.start(target, steps)          # stops the previous photo's search
    searches.status(status["search"]); searches.cancel(status["search"])

One search runs at a time: a new photo stops the last one, and the latest KEPT_SEARCHES stay readable (a
replaced search says so). Each search shares the studio's generator lock step by step, so pages keep
drawing. Its match is read against the same search run on the model's own designs: "far from anything this
model makes" past FAR_RATIO times their median distance.
"""

import math
import statistics
import threading

import torch

from gan.designs import png_bytes, render_one
from gan.pixels import as_saved_pixels
from gan.priors import sample_latent
from gan.studio.checks import MAX_SEED, BadRequest, Design, whole
from gan.studio.downloads import data_url
from gan.studio.photo import Search
from gan.studio.projection import Settings, project

REFERENCE_DESIGNS = 4  # the model's own designs a photo's match is read against
FAR_RATIO = 8.0  # this many times farther than the own designs' median is "far": measured, docs/studio.md
KEPT_SEARCHES = 8  # searches whose status stays readable after a newer photo replaced them


class PhotoSearches:
    """The searches of one studio (its generator, D, lock and conditions), newest last."""

    def __init__(self, studio):
        self.studio = studio
        self.searches: dict[int, Search] = {}  # the latest photo's search last; older ones stopped
        self.lock = threading.Lock()  # guards `searches`
        self._reference: dict[int, list[float]] = {}  # search steps -> the own designs' distances

    def start(self, target: torch.Tensor, steps: int) -> dict:
        discriminator = self.studio.discriminator()
        with self.lock:
            for old in self.searches.values():
                old.stop.set()
            search = Search(lambda search: self.find(search, target, discriminator, steps), steps)
            self.searches[search.number] = search
            for number in sorted(self.searches)[:-KEPT_SEARCHES]:
                del self.searches[number]
            search.start()
        return search.status()

    def status(self, search) -> dict:
        number = whole(search, "search", 1, MAX_SEED)
        with self.lock:
            found, latest = self.searches.get(number), max(self.searches, default=0)
        if found is None:
            raise BadRequest(f"no photo search {number} is running (the latest is {latest})")
        return {**found.status(), "replaced": number != latest}

    def cancel(self, search) -> dict:
        status = self.status(search)
        self.searches[status["search"]].stop.set()
        return self.status(search)

    def find(self, search: Search, target: torch.Tensor, discriminator, steps: int) -> dict:
        def told(step, total, loss, image):
            search.told(step, total, loss, data_url(png_bytes(as_saved_pixels(image[None])[0])))

        studio = self.studio
        result = self.search_for(target, discriminator, steps, search, told)
        cond = {}
        if studio.condition == "label":
            cond = {"label": studio.classes[result.option]}
        elif studio.condition == "image":
            cond = {"image": result.option}
        with studio.lock:
            [design] = studio.draw([Design(result.z, cond)])
        loss = result.loss if math.isfinite(result.loss) else None
        found = {"design": design, "loss": loss, "stopped": result.stopped}
        search.phase = "comparing"
        return {**found, "match": self.match(loss, discriminator, steps, search)}

    def search_for(self, target: torch.Tensor, discriminator, steps: int, search: Search, told=None):
        studio = self.studio
        if studio.condition == "label":
            options = torch.tensor(studio.classes)
        else:
            options = studio.cond_images if studio.condition == "image" else None
        return project(
            studio.generator,
            discriminator,
            target,
            studio.prior,
            studio.latent_dim,
            options,
            Settings(steps=steps),
            progress=told,
            cancelled=search.stop.is_set,
            lock=lambda: studio.lock,
        )

    def match(self, loss: float | None, discriminator, steps: int, search: Search) -> dict | None:
        """How close the photo's match is, read against the same search run on the model's own designs
        (measured once per launch and step count): "far from anything this model makes" past FAR_RATIO."""
        own = self.own_distances(discriminator, steps, search)
        if loss is None or not own:
            return None
        typical = statistics.median(own)
        ratio = loss / max(typical, 1e-6)
        return {"distance": loss, "own": own, "typical": typical, "ratio": ratio, "far": ratio > FAR_RATIO}

    def own_distances(self, discriminator, steps: int, search: Search) -> list[float] | None:
        """The search's distance on REFERENCE_DESIGNS of the model's own designs (seeded), each saved as a
        PNG's pixels would be: what a photo the model could have made reaches. None when stopped."""
        if steps in self._reference:
            return self._reference[steps]
        studio = self.studio
        gen = torch.Generator().manual_seed(MAX_SEED)
        z = sample_latent(studio.prior, REFERENCE_DESIGNS, studio.latent_dim, generator=gen)
        distances = []
        for zi, cond in zip(z, studio.conditions(REFERENCE_DESIGNS, None, None), strict=True):
            with studio.lock:
                pixels = render_one(studio.generator, zi, studio.tensor(cond))
            target = pixels.permute(2, 0, 1).float() / 127.5 - 1
            result = self.search_for(target, discriminator, steps, search)
            if result.stopped == "cancelled":
                return None
            distances.append(round(result.loss, 4))
        self._reference[steps] = sorted(distances)
        return self._reference[steps]
