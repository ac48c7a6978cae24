"""A domain FID that works offline: the features of a small classifier trained on the dataset itself.

    python train.py data=fashion_mnist callbacks.fid.feature.name=classifier

The FID maintainers advise a domain classifier for MNIST-like data, where Inception's ImageNet features mean
little. The classifier is trained once on the whole training split (all classes, seeded, a few epochs), its
test accuracy printed and stored with it, and cached under `.cache/classifier/` keyed by the dataset and
these settings. FID/KID/precision/recall use its 128-d penultimate features. The numbers compare runs
within this project only: they are not comparable with published (Inception) FIDs.
"""

import hashlib
import json
import logging
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from gan.data.device import materialize
from gan.pixels import from_uint8
from gan.run.clock import Ticker

log = logging.getLogger(__name__)
NUM_FEATURES = 128


class DomainClassifier(nn.Module):
    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.body = nn.Sequential(  # strided convs: a 1-minute budget on 2 CPU cores for 60k images
            nn.Conv2d(channels, 32, 3, 2, 1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, 2, 1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(7),
            nn.Flatten(),
            nn.Linear(64 * 49, NUM_FEATURES),
            nn.ReLU(),
        )
        self.head = nn.Linear(NUM_FEATURES, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class ClassifierFeatures(nn.Module):
    """The metric's view of the classifier: uint8 RGB [N, 3, H, W] in, 128 features out (eval mode)."""

    def __init__(self, classifier: DomainClassifier, channels: int, accuracy: float, name: str):
        super().__init__()
        self.classifier, self.channels = classifier.eval().requires_grad_(False), channels
        self.accuracy, self.name, self.num_features = accuracy, name, NUM_FEATURES

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = from_uint8(images[:, : self.channels])
        return self.classifier.body(x)

    def train(self, mode: bool = True):
        return super().train(False)


def accuracy(model: nn.Module, dataset, batch_size: int = 512) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in DataLoader(dataset, batch_size=batch_size):
            correct += int((model(x).argmax(1) == y).sum())
            total += len(y)
    return correct / max(1, total)


def fit_classifier(train_set, test_set, channels: int, num_classes: int, epochs: int, seed: int):
    with torch.random.fork_rng(devices=[]):  # training's RNG stream is left exactly as it was
        torch.manual_seed(seed)
        return _fit(train_set, test_set, channels, num_classes, epochs, seed)


def _fit(train_set, test_set, channels: int, num_classes: int, epochs: int, seed: int):
    images, labels, uint8 = materialize(train_set)
    model = DomainClassifier(channels, num_classes)
    steps = epochs * (len(images) // 128)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    order = torch.Generator().manual_seed(seed)
    model.train()
    tick = Ticker("Domain classifier for FID, epochs", epochs, every=0)
    for epoch in range(epochs):
        tick(epoch)
        for index in torch.randperm(len(images), generator=order)[: steps // epochs * 128].split(128):
            x = from_uint8(images[index]) if uint8 else images[index]
            loss = F.cross_entropy(model(x), labels[index])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
    return model, accuracy(model, test_set if test_set is not None else train_set)


def recipe(datamodule, epochs: int, seed: int) -> dict:
    keys = ("image_size", "channels", "num_classes", "resize", "pixel_range", "preprocess", "root")
    data = {k: str(getattr(datamodule, k)) for k in keys if hasattr(datamodule, k)}
    return {"type": type(datamodule).__name__, **data, "epochs": epochs, "seed": seed, "version": 2}


def domain_classifier(datamodule, cache_dir: str | Path | None, epochs: int = 4, seed: int = 0):
    """The trained (or cached) classifier for `datamodule`'s dataset, as a feature network."""
    settings = recipe(datamodule, epochs, seed)
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache_dir or ".cache") / "classifier" / f"{digest}.pt"
    channels, num_classes = datamodule.channels, max(1, datamodule.num_classes)
    if path.is_file():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model = DomainClassifier(channels, num_classes)
        model.load_state_dict(saved["state_dict"])
        accuracy_ = saved["accuracy"]
        log.info("Domain classifier from the cache (%s): test accuracy %.4f", path, accuracy_)
    else:
        log.info("Training the domain classifier for FID (%d epochs; once per dataset, then cached; counts "
                 "against trainer.max_time)", epochs)  # fmt: skip
        start = time.perf_counter()
        full = datamodule.build_dataset()  # every class: richer features than the selected few
        held_out = datamodule.held_out_dataset()
        test = getattr(held_out, "dataset", held_out)  # all classes of the held-out split when subset
        model, accuracy_ = fit_classifier(full, test, channels, num_classes, epochs, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": model.state_dict(), "accuracy": accuracy_, "recipe": settings}, path)
        log.info(
            "Trained the domain classifier in %.0f s: test accuracy %.4f (cached in %s)",
            time.perf_counter() - start,
            accuracy_,
            path,
        )
    return ClassifierFeatures(model, channels, accuracy_, f"classifier-{digest}")
