"""The studio's "Nearest training images" (gan/studio/nearest.py): a design that is a training image finds
itself first at distance 0, six sorted neighbours with a reference over HTTP, and a sentence (a 400) when the
encoder is not cached or the training folder is gone; `build_encoder=true` trains it at start-up. The
checkpoint is conftest's `folder_ckpt` (160 shared shoes, a 20-step encoder cached by its run)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from gan.checkpoint import load_checkpoint
from gan.data.images import preprocess
from gan.errors import ConfigError
from gan.metrics.selfsup import training_images
from gan.studio.app import BadRequest, Studio
from gan.studio.nearest import SHOWN, Index, nearest, training_data
from gan.studio.server import serve
from tests.test_studio import pixels, running, send


class Shows(nn.Module):
    """A "generator" that draws one fixed image for every latent: a design that is that image."""

    def __init__(self, image: torch.Tensor):
        super().__init__()
        self.image = image

    def forward(self, z, cond=None):
        return self.image.expand(len(z), *self.image.shape)


@pytest.fixture(scope="module")
def studio(folder_ckpt):
    return Studio(str(folder_ckpt))


def with_config(ckpt_path, tmp_path, change) -> str:
    """A copy of the checkpoint whose saved config `change` edited."""
    ckpt = dict(load_checkpoint(ckpt_path))
    change(ckpt["config"])
    path = tmp_path / "changed.ckpt"
    torch.save(ckpt, path)
    return str(path)


def test_a_design_that_is_a_training_image_finds_it_first_at_distance_zero(studio):
    images, _ = training_images(training_data(studio.config))
    k = 17
    studio.generator = Shows(images[k].float() / 127.5 - 1)
    found = studio.nearest({"z": [0.0] * studio.latent_dim})
    distances = [n["distance"] for n in found["images"]]
    assert len(found["images"]) == SHOWN and found["images"][0]["index"] == k
    assert distances[0] < 1e-5 < 1e-2 < distances[1]  # itself (float32 rounding of a batch), then others
    assert distances == sorted(distances) and [n["rank"] for n in found["images"]] == [1, 2, 3, 4, 5, 6]
    assert (pixels(found["images"][0]["src"]) == images[k].permute(1, 2, 0).numpy()).all()
    photo = Image.open(Path(studio.config["data"]["root"]) / found["images"][0]["file"]).convert("RGB")
    assert (np.asarray(preprocess(photo, "resize_crop", 32)) == images[k].permute(1, 2, 0).numpy()).all()
    reference = found["reference"]
    assert reference["kind"] == "held_out" and reference["count"] == 37  # the held-out shoes
    assert reference["median"] > 1e-3 and "held-out images" in reference["text"]
    assert found["closer_share"] == 0 and "likely a copy" in found["verdict"]
    assert "self-supervised encoder selfsup-" in found["space"] and "123 training images" in found["space"]


def test_six_sorted_neighbours_and_the_reference_over_http(folder_ckpt):
    with running(folder_ckpt) as server:
        _, page = send(server, "/api/page", {"seed": 3, "count": 2})
        status, found = send(server, "/api/nearest", {"design": page["designs"][1]})
        assert status == 200 and found["built_index"] is True
        distances = [n["distance"] for n in found["images"]]
        assert len(distances) == SHOWN and distances == sorted(distances) and distances[0] > 0
        assert len({n["index"] for n in found["images"]}) == SHOWN
        assert all(pixels(n["src"]).shape == (32, 32, 3) for n in found["images"])
        assert found["reference"]["median"] > 0 and 0 <= found["closer_share"] <= 1
        again = send(server, "/api/nearest", {"design": page["designs"][1]})[1]
        assert again["built_index"] is False and [n["distance"] for n in again["images"]] == distances
        assert send(server, "/api/nearest", {"design": {"z": [1.0]}}) == (
            400,
            {"error": "a design's z must be 100 numbers from -1000 to 1000"},
        )


def test_no_cached_encoder_is_a_sentence_until_build_encoder_trains_one(folder_ckpt, tmp_path):
    def elsewhere(config):  # FID used Inception, selfsup offline: no encoder in this (empty) cache
        config["callbacks"]["fid"]["cache_dir"] = str(tmp_path / "cache" / "fid")
        config["callbacks"]["fid"]["feature"]["name"] = "inception"
        config["callbacks"]["fid"]["folder_feature"] = "selfsup"

    path = with_config(folder_ckpt, tmp_path, elsewhere)
    studio, design = Studio(path), {"z": [0.0] * 100}
    sentence = (
        f"No self-supervised encoder is cached for this run's training images and settings in "
        f"{tmp_path / 'cache'}/selfsup (the run measured FID with inception features, or the cache stayed on "
        "another machine): restart the studio with build_encoder=true to train it once at start-up"
    )
    for _ in range(2):  # remembered: the second request does not look again
        with pytest.raises(BadRequest, match=r"^" + sentence.replace("(", r"\(").replace(")", r"\)")):
            studio.nearest(design)
    assert not (tmp_path / "cache" / "selfsup").exists()  # nothing trained inside a request
    server = serve({"ckpt_path": path, "port": 0, "build_encoder": True})
    try:
        assert len(list((tmp_path / "cache" / "selfsup").glob("*.pt"))) == 1
        assert len(server.RequestHandlerClass.studio.nearest(design)["images"]) == SHOWN
    finally:
        server.server_close()


def test_a_missing_training_folder_is_a_sentence(folder_ckpt, tmp_path):
    def moved(config):
        config["data"]["root"] = str(tmp_path / "shoes")

    studio = Studio(with_config(folder_ckpt, tmp_path, moved))
    with pytest.raises(BadRequest, match=r"^The training images are not here to compare with \(data.root="):
        studio.nearest({"z": [0.0] * 100})
    with pytest.raises(ConfigError, match="build_encoder=true: The training images are not here"):
        serve({"ckpt_path": str(tmp_path / "changed.ckpt"), "port": 0, "build_encoder": True})


def test_nearest_is_exact_and_can_leave_each_point_out():
    points = torch.randn(300, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    brute = torch.cdist(points, points, compute_mode="donot_use_mm_for_euclid_dist")
    d, i = nearest(points, points, 3)
    assert (i[:, 0] == torch.arange(300)).all() and (d[:, 0] == 0).all()
    d, i = nearest(points, points, 1, skip=torch.arange(300))
    brute.fill_diagonal_(float("inf"))
    assert torch.equal(i[:, 0], brute.argmin(1)) and torch.allclose(d[:, 0], brute.min(1).values)


@pytest.mark.parametrize(
    ("distance", "share", "words"),
    [
        (0.0, 0.0, "likely a copy"),
        (0.05, 0.05, "a near-copy?"),
        (0.5, 0.5, "no sign"),
        (2.0, 1.0, "not a copy"),
    ],
)
def test_verdict_reads_the_distance_against_the_reference(distance, share, words):
    index = Index(None, torch.zeros(0), torch.zeros(0), torch.arange(1, 101).double() / 100, True, 0.0)
    found, text = index.verdict(distance)  # reference: 0.01, 0.02, ..., 1.00
    assert found == pytest.approx(share) and words in text


def test_a_run_whose_folder_space_is_mobilenet_finds_its_training_images_in_it(folder_ckpt, tmp_path):
    """Since 2026-12-06 a folder run's offline FID space is MobileNetV2: nothing is trained or cached for the
    studio either (the checkpoint's config is changed to what a default run saves)."""

    def default_run(config):
        config["callbacks"]["fid"]["feature"]["name"] = "inception"
        config["callbacks"]["fid"]["folder_feature"] = "mobilenet"

    studio = Studio(with_config(folder_ckpt, tmp_path, default_run))
    images, _ = training_images(training_data(studio.config))
    studio.generator = Shows(images[17].float() / 127.5 - 1)
    found = studio.nearest({"z": [0.0] * studio.latent_dim})
    distances = [n["distance"] for n in found["images"]]
    assert found["images"][0]["index"] == 17 and distances[0] < 1e-3 * distances[1]
    assert "ImageNet's MobileNetV2 (1280-d features, pretrained" in found["space"]
    assert found["reference"]["kind"] == "held_out" and "likely a copy" in found["verdict"]
