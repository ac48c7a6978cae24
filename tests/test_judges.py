"""The pretrained judges (gan/metrics/judges.py) load offline from their wheels and give the features of their
reference implementations; the judges benchmark runs tiny."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from gan.data.images import preprocess
from gan.metrics import features as feature_nets
from gan.metrics.judges import IMAGENET_MEAN, IMAGENET_STD, FaceJudge, MobileNetJudge, mobilenet_weights
from tests.conftest import ROOT


def photos(folder, n: int, size: int, kind: str = "resize_crop") -> torch.Tensor:
    """The first n photos of a folder as uint8 [n, 3, size, size], preprocessed as the datamodules do."""
    files = sorted(folder.glob("*.jpg"))[:n]
    arrays = [np.asarray(preprocess(Image.open(f).convert("RGB"), kind, size)) for f in files]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def test_the_mobilenet_weights_are_torchvisions_imagenet_file():
    from torchvision.models import MobileNet_V2_Weights

    published = MobileNet_V2_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[1]
    assert mobilenet_weights().name == published  # and its SHA-256 starts as the name says (checked on load)


def test_mobilenet_judge_gives_torchvisions_pooled_features():
    from torchvision.models import mobilenet_v2

    reference = mobilenet_v2()
    reference.load_state_dict(torch.load(mobilenet_weights(), weights_only=True))
    reference.classifier = nn.Identity()
    images = torch.randint(
        0, 256, (4, 3, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8
    )
    x = F.interpolate(images.float() / 255, size=224, mode="bilinear", antialias=True)
    x = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        expected, got = reference.eval()(x), MobileNetJudge(size=224)(images)
    assert got.shape == (4, 1280)
    torch.testing.assert_close(got, expected, atol=2e-4, rtol=1e-4)


def test_mobilenet_judge_sees_shoes_in_the_shoe_photos(shoes):
    """ImageNet's classifier head on the judge's features: footwear in the top 5 of most shoe photos."""
    from torchvision.models import MobileNet_V2_Weights, mobilenet_v2

    head = mobilenet_v2().classifier
    state = torch.load(mobilenet_weights(), weights_only=True)
    head.load_state_dict(
        {k.removeprefix("classifier."): v for k, v in state.items() if k.startswith("classifier")}
    )
    categories = MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]
    footwear = {"running shoe", "Loafer", "sandal", "cowboy boot", "clog", "sock", "knee pad"} & set(
        categories
    )
    with torch.no_grad():
        top5 = head.eval()(MobileNetJudge()(photos(shoes, 20, 224))).topk(5).indices  # at their own 224 px
    hits = [bool(footwear & {categories[i] for i in row}) for row in top5.tolist()]
    assert sum(hits) >= 16, hits


def test_face_judge_gives_facenet_pytorchs_onet_answers():
    """Features: ONet's 256-d layer; probability: its face head, on MTCNN's own resampling of the box."""
    from facenet_pytorch.models.mtcnn import ONet
    from facenet_pytorch.models.utils.detect_face import imresample

    images = torch.randint(
        0, 256, (5, 3, 32, 32), generator=torch.Generator().manual_seed(1), dtype=torch.uint8
    )
    reference, seen = ONet(pretrained=True).eval(), {}
    reference.prelu5.register_forward_hook(lambda module, args, out: seen.update(features=out))
    box = images[:, :, 4:28, 4:28].float()  # the central 75%
    with torch.no_grad():
        _, _, probability = reference((imresample(box, (48, 48)) - 127.5) * 0.0078125)
        judge = FaceJudge()
        torch.testing.assert_close(judge(images), seen["features"], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(judge.face_probability(images), probability[:, 1], atol=1e-6, rtol=1e-5)


def test_face_judge_tells_faces_from_shoes(faces, shoes):
    judge = FaceJudge()
    assert float(judge.face_probability(photos(faces, 40, 32, "celeba")).mean()) > 0.95
    assert float(judge.face_probability(photos(shoes, 40, 32)).mean()) < 0.5


@pytest.mark.parametrize("name, width", [("mobilenet", 1280), ("face", 256)])
def test_callbacks_fid_feature_name_builds_each_judge(name, width):
    net = feature_nets.build(name)
    images = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)
    assert net.name == name and net(images).shape == (2, width) and not net.training


@pytest.mark.slow
def test_the_judges_benchmark_runs_tiny(faces, tmp_path):
    done = subprocess.run(
        [sys.executable, "benchmarks/judges.py", "score", "--tiny", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    fd = r"\d+(\.\d+)?(e-?\d+)? ± \d"
    assert re.search(rf"\| real: the other half \| {fd}.* \| {fd}.* \| {fd}.* \| 0\.\d+ \|", done.stdout)
    scores = json.loads((tmp_path / "scores-faces.json").read_text())
    noised = scores["generators"]["noised reals"]["fd"]
    for judge in ("mobilenet", "face"):  # noise sigma 0.2 is far from the real images in either
        assert min(noised[judge]) > 2 * max(scores["floor"][judge]), judge


@pytest.mark.slow
def test_the_panel_trains_samples_and_draws_blind_pairs_tiny(faces, tmp_path):
    def panel(*args):
        done = subprocess.run([sys.executable, "benchmarks/panel.py", *args, "--out", str(tmp_path)],
                              cwd=ROOT, capture_output=True, text=True, timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]

    panel("train", "--tiny", "--datasets", "faces", "--seeds", "0", "--recipes", "default")
    panel("sample", "--count", "70")
    panel("pairs", "--per-dataset", "2", "--datasets", "faces")
    kept = sorted(p.name for p in (tmp_path / "samples").iterdir())
    assert kept == ["faces-default-seed0-it3", "faces-default-seed0-it6", "faces-default-seed0-it9"]
    key = json.loads((tmp_path / "pairs_key.json").read_text())
    assert sorted(key) == ["faces/pair_001.png", "faces/pair_002.png"]
    for pair in key.values():
        assert pair["A"] != pair["B"] and {pair["A"], pair["B"]} <= set(kept)
    assert Image.open(tmp_path / "pairs" / "faces" / "pair_001.png").size == (
        2 * (2 * 265 + 12),
        2 * 265 + 28,
    )


def test_agreement_counts_the_lower_fd_as_the_judges_choice(tmp_path, capsys):
    from argparse import Namespace

    from benchmarks.judges import agree

    fd = {
        "good": {"x": [1.0, 1.2, 1.1], "y": [5.0, 5.0, 5.0]},
        "bad": {"x": [2.0, 2.0, 2.1], "y": [4.0, 4.0, 4.0]},
    }
    scores = {"generators": {name: {"fd": v, "face_probability": None} for name, v in fd.items()}}
    (tmp_path / "scores-faces.json").write_text(json.dumps(scores))
    key = {
        f"faces/pair_00{i}.png": {"A": a, "B": b}
        for i, (a, b) in enumerate([("good", "bad"), ("bad", "good")], 1)
    }
    (tmp_path / "key.json").write_text(json.dumps(key))
    people = [
        {"faces/pair_001.png": "A", "faces/pair_002.png": "B"},
        {"faces/pair_001.png": "A", "faces/pair_002.png": "same"},
    ]
    for i, choices in enumerate(people):
        (tmp_path / f"c{i}.json").write_text(json.dumps(choices))
    agree(
        Namespace(
            key=tmp_path / "key.json", out=tmp_path, choices=[tmp_path / "c0.json", tmp_path / "c1.json"]
        )
    )
    out = capsys.readouterr().out
    assert "| x | faces | 3/3 (100%) |" in out and "| y | faces | 0/3 (0%) |" in out
    assert "The two persons agree on 1/1 pairs both decided." in out


def test_folder_feature_picks_an_image_folders_offline_space(faces, tmp_path, caplog):
    from gan.build import build_datamodule
    from gan.callbacks.fid import FID
    from gan.errors import ConfigError
    from gan.metrics.judges import MobileNetJudge
    from tests.conftest import make_cfg

    folder = build_datamodule(
        make_cfg("data=celeba", f"data.root={faces}", "data.image_size=32", output_dir=tmp_path)
    )
    callback = FID(None, cache_dir=str(tmp_path / "fid"))  # no Inception weights: the folder default
    with caplog.at_level("INFO"):
        callback.use_domain_classifier(folder)
    assert isinstance(callback.feature, MobileNetJudge) and callback.domain_features
    assert "use ImageNet's MobileNetV2 features" in caplog.text
    with pytest.raises(
        ConfigError, match="callbacks.fid.folder_feature='inceptoin': allowed values are selfsup"
    ):
        FID(None, folder_feature="inceptoin")


def test_ablation_pairs_meet_at_equal_compute_per_seed():
    from benchmarks.panel import ablation_pairs

    runs = [("sd_no_diffaugment", 1000), ("sd_no_diffaugment", 3000), ("modern", 666),
            ("sd_lr2e4", 3000), ("modern", 2000), ("default", 2000)]  # fmt: skip
    names = {f"shoes-{r}-seed{s}-it{n}" for s in (0, 1) for r, n in runs}
    names.discard("shoes-sd_lr2e4-seed1-it3000")
    pairs = ablation_pairs(names, "shoes")
    assert ("shoes-sd_no_diffaugment-seed0-it1000", "shoes-modern-seed0-it666") in pairs  # perf=fast: 1.5x
    assert ("shoes-sd_no_diffaugment-seed0-it3000", "shoes-sd_lr2e4-seed0-it3000") in pairs  # both perf=fast
    assert ("shoes-modern-seed1-it2000", "shoes-default-seed1-it2000") in pairs
    assert not any("sd_lr2e4-seed1" in b for _, b in pairs)  # only where both were sampled
    assert len(pairs) == 2 * 2 + 1 + 2 + 2  # fp32 at two lengths per seed, lr at one, modern and the recipe
    assert ("shoes-sd_no_diffaugment-seed1-it3000", "shoes-default-seed1-it2000") in pairs  # vs the default
