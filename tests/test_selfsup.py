"""The self-supervised feature space (gan/metrics/selfsup.py) and the copying test (gan/metrics/copying.py):
an encoder cached by data and settings that leaves training's RNG alone, a degradation ladder that
increases on a small set, C_T telling copies from new images, the folders' held-out split, and the
offline fallback in training. About 60 s on 2 cores, most of it two small encoders and one short run."""

import json

import pytest
import torch

import gan.metrics.selfsup as selfsup_module
from gan.build import build_datamodule
from gan.errors import ConfigError
from gan.metrics.copying import CopyingTest
from gan.metrics.selfsup import LADDER, Recipe, embed, fit_encoder, ladder, selfsup_encoder, training_images
from gan.run.train import train
from tests.conftest import SHARED, make_cfg, require

STEPS = 150  # a small encoder budget: ~10 s at 32 px on 2 cores


def folder(tmp_path, name: str, root, *overrides: str):
    cfg = make_cfg(f"data={name}", f"data.root={root}", "data.image_size=32", *overrides, output_dir=tmp_path)
    datamodule = build_datamodule(cfg)
    datamodule.setup()
    return datamodule


@pytest.fixture(scope="module")
def faces_encoder(tmp_path_factory):
    out = tmp_path_factory.mktemp("faces")
    datamodule = folder(out, "celeba", require(SHARED / "celeba-1k", "shared CelebA faces"))
    torch.manual_seed(1234)
    state = torch.random.get_rng_state()
    features = selfsup_encoder(datamodule, out / "cache", steps=STEPS)
    return datamodule, features, out, state


@pytest.mark.slow  # trains or searches for seconds: the full suite, not the fast tier
def test_encoder_leaves_the_rng_alone_and_stores_its_validation(faces_encoder):
    datamodule, features, out, state = faces_encoder
    assert torch.equal(torch.random.get_rng_state(), state)  # training's stream goes on as if never trained
    (saved,) = (out / "cache" / "selfsup").glob("*.pt")
    beside = json.loads(saved.with_suffix(".json").read_text())
    assert beside["validation"] == features.validation and beside["recipe"]["steps"] == STEPS
    assert set(LADDER) <= set(features.validation["fd"]) and features.validation["increasing"] is True
    assert 0.2 < features.validation["view_retrieval"] <= 1 and features.num_features == 128


class Retrained(Exception):
    pass


@pytest.mark.slow  # trains or searches for seconds: the full suite, not the fast tier
def test_encoder_is_cached_and_keyed_by_data_and_settings(faces_encoder, monkeypatch):
    datamodule, features, out, _ = faces_encoder

    def retrain(*args, **kwargs):
        raise Retrained

    monkeypatch.setattr(selfsup_module, "fit_encoder", retrain)
    again = selfsup_encoder(datamodule, out / "cache", steps=STEPS)
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    assert again.name == features.name and torch.equal(again(images), features(images))
    with pytest.raises(Retrained):
        selfsup_encoder(datamodule, out / "cache", steps=STEPS + 1)
    fewer = folder(out, "celeba", datamodule.root, "data.held_out=0.2")
    with pytest.raises(Retrained):
        selfsup_encoder(fewer, out / "cache", steps=STEPS)


@pytest.mark.slow
def test_blur_ladder_increases_on_a_small_set(tmp_path):
    shoes = require(SHARED / "shoes256", "shared Zappos shoes")
    datamodule = folder(tmp_path, "sneakers", shoes)
    features = selfsup_encoder(datamodule, tmp_path / "cache", steps=STEPS)
    images, _ = training_images(datamodule)
    assert len(images) > 1000  # ~530 against ~530: 300 against 300 leaves blur 0.5 px within sampling noise
    for seed in range(3):  # three ways of halving the set
        fds = ladder(features, images.float() / 127.5 - 1, seed=seed)
        values = [fds[k] for k in LADDER]  # real half, blur 0.5, 1, 2 px, noise 0.3
        assert all(a < b for a, b in zip(values, values[1:], strict=False)), fds
        assert values[-1] > 5 * values[0]


@pytest.mark.slow  # trains or searches for seconds: the full suite, not the fast tier
def test_copying_separates_copies_from_new_images(faces_encoder):
    datamodule, features, _, _ = faces_encoder
    images, _ = training_images(datamodule)
    x = images.float() / 127.5 - 1
    train, test, new = x[:600], x[600:750], x[750:]  # the "generator" trained on the first 600 only
    noise = torch.Generator().manual_seed(0)
    copies = (
        train[torch.randint(600, (400,), generator=noise)]
        + 0.05 * torch.randn(400, *x.shape[1:], generator=noise)
    ).clamp(-1, 1)
    copying = CopyingTest(embed(features, train), embed(features, test))
    assert copying(embed(features, copies)) < -5  # closer to the training images than unseen images are
    assert abs(copying(embed(features, new))) < 2.5  # new real images: as far as the held-out ones


def test_copying_statistic_by_construction():
    rng = torch.Generator().manual_seed(0)
    train, test = torch.randn(2000, 8, generator=rng), torch.randn(300, 8, generator=rng)
    copying = CopyingTest(train, test, cells=4)
    copies = train[:1000] + 0.01 * torch.randn(1000, 8, generator=rng)
    fresh = torch.randn(1000, 8, generator=rng)
    assert copying(copies) < -10 and abs(copying(fresh)) < 2.5 and copying(3 * fresh) > 10
    assert copying(fresh[:10]) is None  # fewer than 20 samples in every cell: no statistic


def test_folder_holds_out_a_fixed_share_of_files(tmp_path):
    faces = require(SHARED / "celeba-1k", "shared CelebA faces")
    datamodule = folder(tmp_path, "celeba", faces)
    held = datamodule.held_out_dataset()
    assert len(datamodule.train_set) + len(held) == 1000 and 70 < len(held) < 130
    train_ids, held_ids = set(datamodule.train_set.indices), set(held.indices)
    assert not train_ids & held_ids
    assert set(folder(tmp_path, "celeba", faces).held_out_dataset().indices) == held_ids  # same files again
    everything = folder(tmp_path, "celeba", faces, "data.held_out=0")
    assert everything.held_out_dataset() is None and len(everything.train_set) == 1000
    with pytest.raises(ConfigError, match="data.held_out=1.0"):
        folder(tmp_path, "celeba", faces, "data.held_out=1.0")


@pytest.mark.slow  # trains or searches for seconds: the full suite, not the fast tier
def test_offline_run_on_a_folder_logs_selfsup_fid_and_copying(tmp_path, caplog):
    faces = require(SHARED / "celeba-1k", "shared CelebA faces")
    cfg = make_cfg(
        "data=celeba",
        f"data.root={faces}",
        "data.image_size=32",
        "data.num_workers=0",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=3",
        "logger=csv",
        "callbacks.fid.num_images=300",
        "callbacks.fid.selfsup.steps=30",
        "callbacks.fid.folder_feature=selfsup",
        "callbacks.fid.feature.weights_path=/nonexistent/inception.pth",
        output_dir=tmp_path,
    )
    with caplog.at_level("INFO"):
        train(cfg)
    assert "self-supervised encoder trained on this folder's training images" in caplog.text
    metrics = json.loads((tmp_path / "summary.json").read_text())["metrics"]
    for key in ("val/fid", "val/precision", "val/recall", "val/copying"):
        assert key in metrics, key
    assert metrics["val/copying"] > 3  # 3 iterations: samples far from every real image


def test_feature_name_selfsup_on_any_data_and_bad_settings_in_one_line(tmp_path):
    from gan.callbacks.fid import FID
    from gan.metrics.features import build
    from gan.metrics.selfsup import SelfSupFeatures

    digits = build_datamodule(make_cfg("data=digits", output_dir=tmp_path))
    callback = FID(build("selfsup"), cache_dir=str(tmp_path / "fid"), selfsup={"steps": 5})
    callback.use_domain_classifier(digits)
    assert isinstance(callback.feature, SelfSupFeatures) and callback.domain_features
    assert list((tmp_path / "selfsup").glob("*.json"))  # beside the FID cache, like the classifier's
    for settings, message in (({"stpes": 5}, r"unknown \['stpes'\]"), ({"method": "byol"}, "allowed are")):
        bad = FID(build("selfsup"), cache_dir=str(tmp_path / "fid"), selfsup=settings)
        with pytest.raises(ConfigError, match=message):
            bad.use_domain_classifier(digits)


def test_short_encoder_recipes_train_and_too_short_ones_are_refused():
    images = torch.rand(32, 3, 32, 32) * 2 - 1
    for steps in (3, 10, 19):  # the one-cycle warm-up once divided by zero below 20 steps
        fit_encoder(images, False, Recipe.of(steps=steps, batch_size=8, width=16))
    with pytest.raises(ConfigError, match=r"callbacks.fid.selfsup.steps=2: a whole number >= 3"):
        Recipe.of(steps=2)
