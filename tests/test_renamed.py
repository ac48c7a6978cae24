"""Old names keep working (gan/renamed.py): `trick=d_freeze` on the command line runs `d_pause`, a checkpoint
written before issue 39 (trick.d_freeze, DFreeze's buffers, perf.precision, no default_epochs) loads as if
written today, the configs of main at 8b91865 read in today's names, and the old precision key names the new
one. The resume of an old checkpoint is in tests/test_resume.py."""

import copy
import inspect
import json
from pathlib import Path

import pytest
import torch
from hydra.errors import ConfigCompositionException, MissingConfigException
from hydra.utils import get_object

from gan.build import build_module
from gan.checkpoint import load_checkpoint
from gan.cli import one_line
from gan.module import GANModule
from gan.renamed import upgrade, upgrade_overrides, upgrade_state
from tests.conftest import make_cfg, smoke
from tests.make_presets import expand, flatten

NOTE = "trick=d_freeze is now trick=d_pause: read as d_pause"


@pytest.mark.parametrize(
    ("given", "read"),
    [
        ("trick=d_freeze", "trick=d_pause"),
        ("trick=[label_smoothing,d_freeze]", "trick=[label_smoothing,d_pause]"),
        ("trick=[d_freeze, ema]", "trick=[d_pause, ema]"),
        ("trick=d_freeze,ema", "trick=d_pause,ema"),  # a sweep
        ("trick.d_freeze.ratio=0.5", "trick.d_pause.ratio=0.5"),
        ("+trick.d_freeze.momentum=0.5", "+trick.d_pause.momentum=0.5"),
        ("~trick.d_freeze", "~trick.d_pause"),
    ],
)
def test_the_old_option_name_on_the_command_line_is_read_as_todays(given, read):
    assert upgrade_overrides(["-m", given, "seed=1"]) == (["-m", read, "seed=1"], [NOTE])


@pytest.mark.parametrize(
    "kept",
    [
        "trick=freeze_d",  # FreezeD: the trick the rename is about, untouched
        "trick=[ema,freeze_d]",
        "data.root=/photos/d_freeze",
        "hydra.run.dir=logs/d_freeze",
        "trick.d_freeze_other.x=1",
        "experiment=d_freeze",
    ],
)
def test_other_words_are_left_alone(kept):
    assert upgrade_overrides([kept]) == ([kept], [])


def test_the_note_is_said_once_per_old_name():
    read, notes = upgrade_overrides(
        ["trick=[d_freeze]", "trick.d_freeze.ratio=0.5", "trick.d_freeze.momentum=0"]
    )
    assert read == ["trick=[d_pause]", "trick.d_pause.ratio=0.5", "trick.d_pause.momentum=0"]
    assert notes == [NOTE]


def test_the_old_option_in_a_yaml_file_names_the_new_one():
    err = MissingConfigException("missing", missing_cfg_file="trick/d_freeze", options=["d_pause", "ema"])
    assert one_line(err) == "trick=d_freeze is now called d_pause: write d_pause"


def as_before_issue_39(ckpt: dict) -> dict:
    """A checkpoint as the code before issue 39 wrote it: trick.d_freeze (DFreeze, its `frozen` buffer),
    perf.precision beside trainer.precision, no default_epochs."""
    old = copy.deepcopy(ckpt)
    config = old["config"]
    config["trick"] = {
        ("d_freeze" if name == "d_pause" else name): node for name, node in config["trick"].items()
    }
    config["trick"]["d_freeze"]["_target_"] = "gan.tricks.d_freeze.DFreeze"
    config["perf"]["precision"] = None
    del config["default_epochs"]
    prefix = "tricks.d_pause."
    old["state_dict"] = {
        (
            f"tricks.d_freeze.{k[len(prefix) :]}".replace(".paused", ".frozen") if k.startswith(prefix) else k
        ): v
        for k, v in ckpt["state_dict"].items()
    }
    return old


def test_a_checkpoint_from_before_the_rename_loads_as_if_written_today(tmp_path):
    module = build_module(smoke("trick=[d_pause,ema]", output_dir=tmp_path))
    pause = module.tricks["d_pause"]
    for buffer, value in ((pause.seen, 2), (pause.paused, 1), (pause.d_mean, 0.25)):  # not a fresh DPause's
        buffer.fill_(value)
    today = {"config": module.config, "state_dict": module.state_dict(), "gan": {"iteration": 2}}
    assert {"tricks.d_pause.paused", "tricks.d_pause.d_mean"} <= today["state_dict"].keys()
    old = as_before_issue_39(today)
    assert "tricks.d_freeze.frozen" in old["state_dict"] and "d_freeze" in old["config"]["trick"]
    torch.save(old, tmp_path / "old.ckpt")
    loaded = load_checkpoint(tmp_path / "old.ckpt")
    assert loaded["config"] == {k: v for k, v in today["config"].items() if k != "default_epochs"}
    assert list(loaded["config"]["trick"]) == ["d_pause", "ema"]  # the order the tricks apply in
    assert loaded["state_dict"].keys() == today["state_dict"].keys()
    module = GANModule.load_from_checkpoint(tmp_path / "old.ckpt")
    for key, value in today["state_dict"].items():
        assert torch.equal(module.state_dict()[key], value), key
    assert (module.tricks["d_pause"].seen.item(), module.tricks["d_pause"].paused.item()) == (2, 1)


def test_the_old_precision_key_in_a_checkpoint_is_read_as_trainer_precision():
    def config(perf_precision):
        return {"perf": {"precision": perf_precision, "compile": False}, "trainer": {"precision": "32-true"}}

    assert upgrade(config(None)) == {"perf": {"compile": False}, "trainer": {"precision": "32-true"}}
    assert upgrade(config("auto")) == {"perf": {"compile": False}, "trainer": {"precision": "auto"}}


def test_state_keys_are_renamed_and_others_kept():
    state = {"tricks.d_freeze.frozen": 1, "tricks.d_freeze.seen": 2, "tricks.ema.average.w": 3, "g.w": 4}
    assert upgrade_state(state) == {
        "tricks.d_pause.paused": 1,
        "tricks.d_pause.seen": 2,
        "tricks.ema.average.w": 3,
        "g.w": 4,
    }


@pytest.mark.slow
def test_train_py_runs_the_old_name_with_a_note(tmp_path, train_cli):
    old = ("trick=[label_smoothing,d_freeze]", "trick.d_freeze.ratio=0.25")
    code, _, err = train_cli("debug=smoke", "data=synthetic", *old, f"hydra.run.dir={tmp_path}")
    assert code == 0, err[-2000:]
    assert err.count(f"note: {NOTE}") == 1
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert list(ckpt["config"]["trick"]) == ["label_smoothing", "d_pause"]
    assert ckpt["config"]["trick"]["d_pause"]["ratio"] == 0.25
    assert "tricks.d_pause.paused" in ckpt["state_dict"]
    assert "trick=[label_smoothing,d_pause]" in (tmp_path / ".hydra" / "overrides.yaml").read_text()


def test_the_old_precision_key_on_the_command_line_names_the_new_one(tmp_path):
    with pytest.raises(ConfigCompositionException) as caught:
        make_cfg("perf.precision=auto", output_dir=tmp_path)
    message = "perf.precision is now called trainer.precision: pass trainer.precision=... instead"
    assert one_line(caught.value) == message


#: every preset's config as main at 8b91865 resolved it (tests/make_presets.py's snapshot then): what the
#: checkpoints of that time hold
OLD = json.loads((Path(__file__).with_name("data") / "configs_8b91865.json").read_text())
MODULES = {"DigitsDataModule": "digits", "SyntheticDataModule": "synthetic"}
#: what `upgrade` must do to such a config: old key -> (today's key, old value -> today's, or None: as is)
SINCE_8B91865 = {
    "num_samples": ("grid_images", None),  # the sample grids' size, not a dataset's or FID's
    "data.num_samples": ("data.dataset_size", None),
    "callbacks.fid.num_samples": ("callbacks.fid.num_images", None),
    "data.normalize": ("data.pixel_range", lambda on: [-1, 1] if on else [0, 1]),  # false meant [0, 1]
    "trick.instance_noise.anneal_steps": ("trick.instance_noise.anneal_iterations", None),
    "data._target_": (
        "data._target_",
        lambda t: t.replace("gan.data.tensor.", f"gan.data.{MODULES.get(t.split('.')[-1], 'tensor')}."),
    ),
    "trick.d_freeze._target_": ("trick.d_pause._target_", lambda t: "gan.tricks.d_pause.DPause"),
    "trick.d_freeze.ratio": ("trick.d_pause.ratio", None),
    "trick.d_freeze.momentum": ("trick.d_pause.momentum", None),
}


def unflatten(flat: dict) -> dict:
    out = {}
    for key, value in flat.items():
        *parents, last = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


@pytest.mark.parametrize("preset", list(OLD))
def test_an_8b91865_config_reads_in_todays_names_and_todays_datamodules_take_it(preset):
    old = expand(OLD, preset)
    upgraded = upgrade(unflatten(old))
    expected = {}
    for key, value in old.items():
        new_key, convert = SINCE_8B91865.get(key, (key, None))
        expected[new_key] = convert(value) if convert else value
    if not str(expected.get("data._target_")).endswith("SyntheticDataModule"):
        expected.pop("data.num_classes", None)  # derived from the dataset since issue 21
    assert flatten(upgraded) == expected  # (the snapshot sorted its keys: the trick order is checked above)
    data = upgraded.get("data", {})
    accepted = set()
    for cls in inspect.getmro(get_object(data["_target_"])):
        if "__init__" in vars(cls):
            accepted |= set(inspect.signature(cls.__init__).parameters)
    assert set(data) - {"_target_"} <= accepted
