"""init_from: G, D and EMA start from another run's weights; counters and optimizers start fresh; a
different image size is refused; layers of another shape keep their initialisation and are named."""

import pytest
import torch

from gan.build import build_module
from gan.checkpoint import load_checkpoint
from gan.errors import ConfigError
from gan.run.train import train
from gan.run.transfer import transfer
from tests.conftest import smoke

SMALL = ["data.image_size=16", "model.generator.ngf=8", "model.discriminator.ndf=8"]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    out = tmp_path_factory.mktemp("source")
    train(smoke(*SMALL, "trick=ema", output_dir=out))
    return out / "checkpoints" / "last.ckpt"


def test_matching_tensors_are_copied_and_others_named(source, tmp_path, caplog):
    module = build_module(
        smoke(*SMALL, "model=cdcgan", "data.num_classes=3", "trick=ema", output_dir=tmp_path)
    )
    with caplog.at_level("INFO"):
        done = transfer(module, str(source))
    theirs, ours = load_checkpoint(source)["state_dict"], module.state_dict()
    assert done["copied"] and all(torch.equal(ours[k], theirs[k]) for k in done["copied"])
    assert any(k.startswith("tricks.ema.average.") for k in done["copied"])
    # label maps enter G's and D's first layers as extra channels: those shapes differ
    differ = {d.split(" ")[0] for d in done["differ"]}
    assert differ == {
        "generator.net.0.weight",
        "discriminator.net.0.weight",
        "tricks.ema.average.net.0.weight",
    }
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(said) == 1 and "generator.net.0.weight [100, 16, 4, 4] vs [150, 16, 4, 4]" in said[0]


def test_another_image_size_is_refused_with_the_reason(source, tmp_path):
    module = build_module(smoke("data.image_size=32", output_dir=tmp_path))
    with pytest.raises(ConfigError, match="trained at 16x16 px, this run is 32x32"):
        transfer(module, str(source))


@pytest.mark.slow
def test_a_run_from_a_checkpoint_starts_its_own_counters(source, tmp_path):
    train(smoke(*SMALL, "loss=lsgan", f"init_from={source}", output_dir=tmp_path))
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["gan"]["iteration"] == 2 and ckpt["config"]["init_from"] == str(source)
    assert all(
        s["step"] == 2 for opt in ckpt["optimizer_states"] for s in opt["state"].values()
    )  # fresh Adam
