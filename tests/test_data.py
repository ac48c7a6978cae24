"""Datamodules on the real data of this machine, on broken files, and the decode cache."""

import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from gan.build import build_datamodule, instantiate
from gan.data.folder import ImageFolderDataModule, ZapposDataModule
from gan.data.images import to_mode
from gan.errors import ConfigError
from gan.run.train import train
from tests.conftest import make_cfg, smoke


def batch_of(dm):
    dm.setup()
    images, labels = next(iter(dm.train_dataloader()))
    return images, labels


def test_fashion_mnist_found_in_debian_package_with_class_subset(fashion_mnist, tmp_path):
    dm = instantiate(
        make_cfg(
            "data=fashion_mnist",
            f"data.root={tmp_path}/none",
            "data.download=false",
            "data.classes=[5,7,9]",
            output_dir=tmp_path,
        ).data
    )
    images, labels = batch_of(dm)
    assert images.shape == (64, 1, 32, 32) and -1 <= images.min() < 0 < images.max() <= 1  # padded 28 -> 32
    assert set(labels.tolist()) <= {5, 7, 9} and len(dm.train_set) == 18_000


def test_class_names_are_accepted_and_bad_classes_listed(fashion_mnist, tmp_path):
    cfg = make_cfg("data=fashion_mnist", "data.classes=[Sandal,Sneaker]", output_dir=tmp_path)
    assert instantiate(cfg.data).classes == [5, 7]
    with pytest.raises(ConfigError, match="valid classes: 0=T-shirt/top.*9=Ankle boot"):
        instantiate(make_cfg("data=fashion_mnist", "data.classes=[Loafer]", output_dir=tmp_path).data)


@pytest.mark.parametrize(
    "data, channels, num_classes",
    [("digits", 1, 10), ("mnist", 1, 10), ("celeba", 3, 0), ("heels", 3, 0), ("synthetic", 3, 10)],
)
def test_channels_and_classes_come_from_the_dataset(data, channels, num_classes, tmp_path):
    cfg = make_cfg(f"data={data}", output_dir=tmp_path)
    assert "num_classes" not in cfg.data or data == "synthetic"  # no yaml types what the data knows
    dm = instantiate(cfg.data)
    assert (dm.channels, dm.num_classes) == (channels, num_classes)
    assert instantiate(make_cfg(f"data={data}", "data.channels=3", output_dir=tmp_path).data).channels == 3


def test_pixel_range_zero_one_and_bad_ranges(tmp_path):
    def images(*overrides):
        cfg = make_cfg("data=synthetic", "data.dataset_size=32", *overrides, output_dir=tmp_path)
        return batch_of(build_datamodule(cfg))[0]

    signed, unit = images(), images("data.pixel_range=[0,1]")
    assert signed.min() < -0.9 and signed.max() > 0.9
    assert 0 <= unit.min() < 0.1 and 0.9 < unit.max() <= 1 and torch.allclose(unit, (signed + 1) / 2)
    with pytest.raises(ConfigError, match=r"data.pixel_range=\[0, 255\]: allowed values are \[-1, 1\] or"):
        images("data.pixel_range=[0,255]")


def test_mnist_missing_files_say_where(tmp_path):
    dm = instantiate(
        make_cfg("data=mnist", f"data.root={tmp_path}/m", "data.download=false", output_dir=tmp_path).data
    )
    with pytest.raises(ConfigError, match="train-images-idx3-ubyte.*data.root"):
        dm.setup()


@pytest.mark.slow  # trains or searches for seconds: the full suite, not the fast tier
def test_shared_shoes_as_sneakers_and_heels(shoes, tmp_path):
    for name, size in (("sneakers", 64), ("heels", 256)):
        dm = instantiate(make_cfg(f"data={name}", f"data.root={shoes}", output_dir=tmp_path).data)
        images, _ = batch_of(dm)
        assert images.shape[1:] == (3, size, size)
        assert len(dm.train_set) + len(dm.held_out_dataset()) == 1190  # data.held_out: ~10% never trained on
        assert images[:, :, 0, 0].mean() > 0.9  # the white catalog background survives padding


def test_zappos_tree_picks_subcategory(shoes, tmp_path):
    files = sorted(shoes.glob("*.jpg"))
    tree = tmp_path / "ut-zap50k-images-square"
    for sub, chunk in (
        ("Shoes/Sneakers and Athletic Shoes/Nike", files[:20]),
        ("Shoes/Heels/Brand", files[20:50]),
    ):
        (tree / sub).mkdir(parents=True)
        for f in chunk:
            os.symlink(f, tree / sub / f.name)
    heels = ZapposDataModule(str(tmp_path), ["Heels"], image_size=32, batch_size=8)
    heels.setup()
    assert len(heels.train_set) == 30
    with pytest.raises(ConfigError, match="no subcategory folder named.*Heels.*Sneakers and Athletic Shoes"):
        ZapposDataModule(str(tmp_path), ["Boat Shoes"], image_size=32, batch_size=8).setup()


def test_celeba_crop_scales_to_small_images(faces, tmp_path):
    dm = instantiate(make_cfg("data=celeba", f"data.root={faces}", output_dir=tmp_path).data)
    images, _ = batch_of(dm)
    assert images.shape == (64, 3, 64, 64) and len(dm.train_set) + len(dm.held_out_dataset()) == 1000


def test_missing_and_empty_roots_name_the_path(tmp_path):
    with pytest.raises(ConfigError, match=f"data.root={tmp_path}/nope does not exist"):
        ImageFolderDataModule(str(tmp_path / "nope")).setup()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="has no images"):
        ImageFolderDataModule(str(tmp_path / "empty")).setup()
    with pytest.raises(ConfigError, match="ut-zap50k-images-square.zip"):
        ZapposDataModule(str(tmp_path / "nope"), ["Heels"]).setup()


def write_odd_images(folder):
    folder.mkdir()
    rgb = np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(folder / "rgb.jpg")
    Image.fromarray(rgb[:, :, 0]).save(folder / "gray.png")
    rgba = Image.new("RGBA", (20, 20), (255, 0, 0, 0))  # fully transparent red -> white
    rgba.save(folder / "rgba.png")
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(rgb).convert("P").save(folder / "palette.png")
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("not an image")
    data = (folder / "rgb.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])


def test_odd_modes_converted_and_broken_files_skipped_and_listed(tmp_path, caplog):
    write_odd_images(tmp_path / "imgs")
    dm = ImageFolderDataModule(
        str(tmp_path / "imgs"), image_size=16, batch_size=2, cache_dir=str(tmp_path / "c")
    )
    dm.setup()
    assert len(dm.train_set) == 5
    assert sorted(os.path.basename(p) for p in dm.bad_files) == ["text.jpg", "truncated.jpg", "zero.jpg"]
    assert "3 unreadable image file(s)" in caplog.text and "truncated.jpg" in caplog.text
    images = torch.stack([dm.train_set[i][0] for i in range(5)])
    assert images.shape == (5, 3, 16, 16)
    assert np.asarray(to_mode(Image.open(tmp_path / "imgs" / "rgba.png"), 3))[0, 0].tolist() == [
        255,
        255,
        255,
    ]
    strict = ImageFolderDataModule(str(tmp_path / "imgs"), image_size=16, batch_size=2, strict=True)
    with pytest.raises(ConfigError, match="(?s)3 unreadable.*zero.jpg"):
        strict.setup()


@pytest.mark.slow
def test_cache_hit_on_reuse_and_invalidated_when_a_file_changes(faces, tmp_path):
    folder = tmp_path / "faces"
    shutil.copytree(faces, folder, ignore=lambda d, names: sorted(names)[40:])

    def load():
        dm = ImageFolderDataModule(
            str(folder), image_size=32, batch_size=8, cache_dir=str(tmp_path / "cache")
        )
        dm.setup()
        return dm

    first, second = load(), load()
    assert first.cache_hit is False and second.cache_hit is True
    assert torch.equal(first.train_set[3][0], second.train_set[3][0])
    Image.new("RGB", (89, 109), (0, 0, 0)).save(folder / "000001.jpg")
    third = load()
    assert third.cache_hit is False and third.train_set[0][0].max() == -1  # the new black image


@pytest.mark.parametrize("data", ["sneakers", "celeba", "image_folder", "deepfashion", "blouses"])
@pytest.mark.slow
def test_smoke_training_on_real_folders(data, shoes, faces, tmp_path):
    root = faces if data in ("celeba", "image_folder", "deepfashion") else shoes
    extra = ["data.image_size=64"] if data == "blouses" else []
    train(
        make_cfg(
            "debug=smoke",
            f"data={data}",
            f"data.root={root}",
            "data.batch_size=8",
            *extra,
            "callbacks=none",
            output_dir=tmp_path,
        )
    )


@pytest.mark.slow
def test_smoke_training_on_fashion_mnist(fashion_mnist, tmp_path):
    train(make_cfg("debug=smoke", "data=fashion_mnist", "callbacks=none", output_dir=tmp_path))


@pytest.mark.slow
def test_design_card_command_runs_as_is(shoes, tmp_path):
    """`python train.py model=dcgan256 data=heels trick=instance_noise`, data where the user keeps it."""
    overrides = ["model=dcgan256", "data=heels", "trick=instance_noise", f"data.root={shoes}"]
    train(make_cfg(*overrides, "debug=smoke", "data.batch_size=4", "callbacks=none", output_dir=tmp_path))


@pytest.mark.parametrize(
    "data", ["digits", "synthetic", pytest.param("fashion_mnist", marks=pytest.mark.slow)]
)
def test_on_device_batches_equal_the_dataloader_batches(data, tmp_path, fashion_mnist):
    def batches(*extra):
        cfg = make_cfg(
            f"data={data}", "data.batch_size=32", "data.classes=[5,7,9]", *extra, output_dir=tmp_path
        )
        dm = build_datamodule(cfg)
        dm.setup()
        loader = dm.train_dataloader()
        loader.sampler.set_epoch(1)  # what Lightning calls each epoch, through `.sampler`
        return list(loader)[:5], len(loader)

    (plain, n_plain), (device, n_device) = batches(), batches("data.on_device=true")
    assert n_plain == n_device
    for (x, y), (xd, yd) in zip(plain, device, strict=True):
        assert torch.allclose(x, xd, atol=1e-6) and torch.equal(y, yd)


@pytest.mark.slow
def test_on_device_uint8_folder_cache_and_training(tmp_path, shoes):
    cfg = smoke(
        "data=image_folder",
        f"data.root={shoes}",
        "data.image_size=32",
        "data.on_device=true",
        output_dir=tmp_path,
    )
    dm = build_datamodule(cfg)
    dm.setup()
    loader = dm.train_dataloader()
    assert loader.uint8 and loader.images.dtype == torch.uint8
    images, _ = next(iter(loader))
    assert images.dtype == torch.float32 and images.min() >= -1 and images.max() <= 1
    train(cfg)


def folder_of(root, *names, size=(24, 24)):
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.new("RGB", size, (10, 20, 30)).save(root / name)
    return root


def setup_folder(root, **kwargs):
    dm = ImageFolderDataModule(str(root), image_size=16, batch_size=1, **kwargs)
    dm.setup()
    return dm


def test_symlinked_folders_are_followed_once_and_loops_end(tmp_path):
    folder_of(tmp_path / "elsewhere" / "boots", "a.png", "b.png")
    root = folder_of(tmp_path / "data" / "sandals", "c.png").parent
    (root / "boots").symlink_to(tmp_path / "elsewhere" / "boots", target_is_directory=True)
    (root / "sandals" / "loop").symlink_to(root, target_is_directory=True)  # a link back up the tree
    dm = setup_folder(root, labels_from_subfolders=True)
    assert dm.class_names == ("boots", "sandals") and len(dm.train_set) == 3
    assert sorted(dm.train_set[i][1] for i in range(3)) == [0, 0, 1]


def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path):
    gradient = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    (tmp_path / "imgs").mkdir()
    Image.fromarray(gradient).save(tmp_path / "imgs" / "g16.png")
    assert Image.open(tmp_path / "imgs" / "g16.png").mode.startswith("I")
    dm = setup_folder(tmp_path / "imgs", channels=1)
    mean = (dm.train_set[0][0].mean().item() + 1) * 127.5
    assert abs(mean - 127.5) < 3  # PIL's convert("L") gave 254.7: nearly all white


def test_unlistable_folder_is_listed_with_unreadable_files(tmp_path, monkeypatch, caplog):
    root = folder_of(tmp_path / "imgs", "a.png", "b.png")
    folder_of(root / "locked", "c.png")
    scandir = os.scandir

    def refuse_locked(path="."):  # root ignores permission bits: refuse as the kernel would a user
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refuse_locked)
    dm = setup_folder(root)
    assert len(dm.train_set) == 2
    assert dm.bad_files == {
        str(root / "locked"): "PermissionError: cannot list this folder (Permission denied)"
    }
    assert "1 unreadable image file(s)" in caplog.text and "locked" in caplog.text


def test_a_file_fixed_in_place_is_read_again(tmp_path):
    root = folder_of(tmp_path / "imgs", "a.png")
    good = (root / "a.png").read_bytes()
    (root / "b.png").write_bytes(bytes(len(good)))  # unreadable, the size of the good file
    stamp = os.stat(root / "b.png")
    first = setup_folder(root, cache_dir=str(tmp_path / "cache"))
    assert len(first.train_set) == 1 and list(first.bad_files) == [str(root / "b.png")]
    (root / "b.png").write_bytes(good)  # repaired in place: same name, same size...
    os.utime(root / "b.png", ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # ...and its old mtime
    second = setup_folder(root, cache_dir=str(tmp_path / "cache"))
    assert second.cache_hit is False and len(second.train_set) == 2 and second.bad_files == {}


def test_far_from_square_and_small_images_warn_once(tmp_path, caplog):
    root = folder_of(tmp_path / "imgs", "wide.png", size=(90, 20))
    folder_of(root, "tiny.png", "tiny2.png", size=(6, 6))
    with caplog.at_level("WARNING"):
        setup_folder(root)
    assert "1 of 3 images are far from square (over 2:1)" in caplog.text and "wide.png (90x20)" in caplog.text
    assert "2 of 3 images are under half of data.image_size=16" in caplog.text
    assert caplog.text.count("far from square") == 1
