"""Is this design a copy? Its nearest training images in the run's offline folder space (ImageNet's
MobileNetV2 by default, gan/metrics/judges.py; or the self-supervised encoder, gan/metrics/selfsup.py, for
runs that asked for it, ran before 2026-12-06 or had FID off: the space of `val/fid` and `val/copying` on
image folders offline), with a reference a
designer can read: how far new real photos (the held-out images of `data.held_out`, never trained on) are
from their own nearest training image.

Everything comes from the checkpoint: the datamodule is rebuilt from its saved `data` config and the encoder
is the one its `callbacks.fid.selfsup` settings name, read from the cache the run (or the studio's
`build_encoder=true`, at start-up) wrote. A request never trains an encoder: without one it is a sentence.
The index (every training image's features, and the reference distances) is built once, on first use; a
request then costs one forward of G and of the encoder and one row of distances.
"""

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import OmegaConf

from gan.data.device import materialize
from gan.errors import ConfigError, instantiate
from gan.metrics.judges import MobileNetJudge
from gan.metrics.selfsup import SelfSupFeatures, selfsup_encoder
from gan.pixels import as_rgb_uint8, from_uint8

SHOWN = 6  # nearest training images per design
MAX_INDEX = 200_000  # training images indexed at most: 100 MB of 128-d features
MAX_REFERENCE = 2_000  # reference images (held-out, or a fixed sample of training images)
BATCH = 500
LIKELY_COPY, CLOSE = 0.01, 0.10  # shares of reference images at least as close (the verdict's thresholds)


class Unavailable(Exception):
    """Why this checkpoint's designs cannot be compared with its training images: one sentence."""


class NoEncoder(Unavailable):
    """No encoder in the cache for these images and settings (a request never trains one)."""


def uses_mobilenet(config: dict) -> bool:
    """The run's offline folder space is ImageNet's MobileNetV2 (`callbacks.fid.folder_feature`, the default
    since 2026-12-06): pretrained, nothing to train or cache. Runs that asked for selfsup, runs from before
    (no such key: their FID trained and cached the encoder) and runs with FID off keep the encoder."""
    fid = (config.get("callbacks") or {}).get("fid") or {}
    name = (fid.get("feature") or {}).get("name")
    return fid.get("folder_feature") == "mobilenet" and name not in ("selfsup", "classifier")


def encoder_settings(config: dict) -> tuple[Path, dict]:
    """Where the run cached its encoder and with which settings: beside the FID cache as the FID callback
    does, else under `paths.cache_dir` with the defaults (a run with FID off, e.g. debug=smoke)."""
    fid = (config.get("callbacks") or {}).get("fid") or {}
    if fid.get("cache_dir"):
        return Path(fid["cache_dir"]).parent, dict(fid.get("selfsup") or {})
    return Path((config.get("paths") or {}).get("cache_dir") or ".cache"), dict(fid.get("selfsup") or {})


def training_data(config: dict):
    """The run's datamodule, rebuilt from the checkpoint's data config, with its images loaded."""
    try:
        datamodule = instantiate(OmegaConf.create(config.get("data") or {}))
        datamodule.setup()
    except (ConfigError, OSError) as err:
        raise Unavailable(
            f"The training images are not here to compare with ({err}): the studio reads them where the run "
            "found them, so run it on the machine that trained the checkpoint or put the folder back there."
        ) from None
    return datamodule


def no_encoder(config: dict, cache: Path) -> str:
    fid = (config.get("callbacks") or {}).get("fid")
    used = (fid.get("feature") or {}).get("name", "inception") if fid else None
    why = f"the run measured FID with {used} features" if used else "the run had FID off"
    return (
        f"No self-supervised encoder is cached for this run's training images and settings in "
        f"{cache}/selfsup ({why}, or the cache stayed on another machine): restart the studio with "
        "build_encoder=true to train it once at start-up (then every later studio and training run on this "
        "data reuses it)."
    )


@torch.no_grad()
def features_of(encoder: SelfSupFeatures, dataset, limit: int | None = None):
    """(features [N, D] float64, uint8 RGB images [N, 3, H, W]) of a dataset, as FID's path feeds it."""
    images, _, uint8 = materialize(dataset)
    images = images[:limit] if limit else images
    rgb = torch.cat([as_rgb_uint8(from_uint8(p) if uint8 else p) for p in images.split(BATCH)])
    return torch.cat([encoder(p) for p in rgb.split(BATCH)]).double(), rgb


def nearest(queries: torch.Tensor, points: torch.Tensor, k: int, skip: torch.Tensor | None = None):
    """(distances, indices) of each query's k nearest points, nearest first; `skip[i]` is a point query
    i may not match (itself). Exact Euclidean distances: no matrix-product shortcut, so a copy reads 0."""
    found = []
    for rows in torch.arange(len(queries)).split(BATCH):
        d = torch.cdist(queries[rows], points, compute_mode="donot_use_mm_for_euclid_dist")
        if skip is not None:
            d[torch.arange(len(rows)), skip[rows]] = float("inf")
        found.append(d.topk(min(k, d.shape[1]), largest=False))
    return torch.cat([f.values for f in found]), torch.cat([f.indices for f in found])


@dataclass
class Index:
    encoder: SelfSupFeatures | MobileNetJudge
    features: torch.Tensor  # [N, D] every training image's
    images: torch.Tensor  # [N, 3, H, W] uint8: what the page shows
    reference: torch.Tensor  # sorted: each reference image's distance to its nearest training image
    held_out: bool  # the reference is held-out real images (else training images, leaving themselves out)
    seconds: float
    files: list[str] | None = None  # each training image's file under data.root (folders)

    def space(self) -> str:
        if isinstance(self.encoder, MobileNetJudge):
            return (
                f"ImageNet's MobileNetV2 ({self.encoder.num_features}-d features, pretrained, nothing "
                "trained on these images: the space of val/fid and val/copying on image folders offline)"
            )
        v = self.encoder.validation
        return (
            f"the self-supervised encoder {self.encoder.name} ({self.encoder.num_features}-d features, "
            f"trained on {v.get('images', len(self.features))} training images: the space of val/fid and "
            "val/copying)"
        )

    def reference_text(self) -> str:
        median = float(self.reference.median())
        if self.held_out:
            return (
                f"new real photos (the {len(self.reference)} held-out images, never trained on) are "
                f"typically {median:.3g} from their nearest training image (median)"
            )
        return (
            f"the run held no images out (data.held_out=0), so the reference is training images: typically "
            f"{median:.3g} from their nearest other training image (median of {len(self.reference)})"
        )

    def verdict(self, distance: float) -> tuple[float, str]:
        """The share of reference images at least as close to a training image, and what it says."""
        share = float((self.reference <= distance).double().mean())
        others = "new real photos" if self.held_out else "training images"
        if share <= LIKELY_COPY:
            return (
                share,
                f"closer to training image #1 than {1 - share:.0%} of {others} are to theirs: likely a copy",
            )
        if share <= CLOSE:
            return (
                share,
                f"closer than {1 - share:.0%} of {others} are to theirs: compare it with #1 (a near-copy?)",
            )
        if share >= 1 - CLOSE:
            return share, f"farther from the training images than {share:.0%} of {others} are: not a copy"
        return share, f"as close as {others} typically are ({share:.0%} are closer): no sign of copying"

    def answer(self, image: torch.Tensor, k: int = SHOWN) -> dict:
        """The k nearest training images of one [-1, 1] image [1, C, H, W], with the reference."""
        start = time.perf_counter()
        with torch.no_grad():
            query = self.encoder(as_rgb_uint8(image)).double()
        distances, indices = nearest(query, self.features, k)
        share, verdict = self.verdict(float(distances[0, 0]))
        return {
            "images": [
                {
                    "rank": r + 1,
                    "index": int(i),
                    "file": self.files[i] if self.files else None,
                    "distance": float(d),
                    "pixels": self.images[i].permute(1, 2, 0),
                }
                for r, (d, i) in enumerate(zip(distances[0], indices[0], strict=True))
            ],
            "reference": {
                "kind": "held_out" if self.held_out else "training",
                "count": len(self.reference),
                "median": float(self.reference.median()),
                "text": self.reference_text(),
            },
            "closer_share": share,
            "verdict": verdict,
            "space": self.space(),
            "index_seconds": self.seconds,
            "seconds": time.perf_counter() - start,
        }


def reference_distances(encoder, datamodule, features: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """Held-out images' distances to their nearest training image; without a held-out split, a fixed
    sample of training images' distances to their nearest other one."""
    held_out = datamodule.held_out_dataset()
    if held_out is not None and len(held_out) > 0:
        queries, _ = features_of(encoder, held_out, MAX_REFERENCE)
        return nearest(queries, features, 1)[0][:, 0].sort().values, True
    chosen = torch.randperm(len(features), generator=torch.Generator().manual_seed(0))[:MAX_REFERENCE]
    return nearest(features[chosen], features, 1, skip=chosen)[0][:, 0].sort().values, False


def build_index(config: dict, train: bool = False) -> Index:
    """The index of a checkpoint's training images; `train=True` trains a missing encoder (start-up only)."""
    start = time.perf_counter()
    datamodule = training_data(config)
    if len(datamodule.train_set) > MAX_INDEX:
        raise Unavailable(
            f"The run trained on {len(datamodule.train_set)} images; the studio indexes at most {MAX_INDEX}."
        )
    cache, settings = encoder_settings(config)
    try:
        encoder = (
            MobileNetJudge()
            if uses_mobilenet(config)
            else selfsup_encoder(datamodule, cache, train=train, **settings)
        )
    except (ConfigError, OSError, RuntimeError, KeyError) as err:
        raise Unavailable(f"The cached encoder in {cache}/selfsup could not be used ({err}).") from None
    if encoder is None:
        raise NoEncoder(no_encoder(config, cache))
    features, images = features_of(encoder, datamodule.train_set)
    reference, held_out = reference_distances(encoder, datamodule, features)
    files = datamodule.files_of(datamodule.train_set) if hasattr(datamodule, "files_of") else None
    return Index(encoder, features, images, reference, held_out, time.perf_counter() - start, files)


class NearestImages:
    """The studio's lazily built index; a missing encoder is remembered (the studio must restart to build
    one), missing images are looked for again on the next request."""

    def __init__(self, config: dict):
        self.config = config
        self.index: Index | None = None
        self.missing: str | None = None

    def ready(self, train: bool = False) -> Index:
        if self.missing and not train:
            raise Unavailable(self.missing)
        if self.index is None:
            try:
                self.index = build_index(self.config, train)
            except NoEncoder as err:
                self.missing = str(err)
                raise
        return self.index
