"""Every preset (each experiment, each option of every config group) resolves to the values it had when
tests/data/presets.json was taken (`uv run python -m tests.make_presets`), but for the changes listed here."""

import inspect
import json

import pytest
from hydra.utils import get_object, instantiate

from gan.build import DEFAULT_EPOCHS
from gan.renamed import upgrade
from tests.make_presets import ENV, SNAPSHOT, compose, expand, flatten, resolved

pytestmark = pytest.mark.slow  # subprocess or long training runs: not in the fast tier

SNAP = json.loads(SNAPSHOT.read_text())

#: keys renamed on purpose, old key -> (new key, old value -> new value, why)
MODULES = {"DigitsDataModule": "digits", "SyntheticDataModule": "synthetic"}
RENAMED: dict[str, tuple[str, object, str]] = {
    "num_samples": ("grid_images", None, "the sample grids' size, not a dataset's or FID's"),
    "data.num_samples": ("data.dataset_size", None, "the synthetic dataset's size"),
    "callbacks.fid.num_samples": ("callbacks.fid.num_images", None, "images FID compares per side"),
    "data.normalize": (
        "data.pixel_range",
        lambda on: [-1, 1] if on else [0, 1],
        "normalize=false meant images in [0, 1]",
    ),
    "trick.instance_noise.anneal_steps": (
        "trick.instance_noise.anneal_iterations",
        None,
        "counted in iterations, not optimizer steps",
    ),
    "data._target_": (
        "data._target_",
        lambda t: t.replace("gan.data.tensor.", f"gan.data.{MODULES.get(t.split('.')[-1], 'tensor')}."),
        "gan/data/tensor.py split into digits.py and synthetic.py",
    ),
}
#: values changed on purpose, key -> (old value -> new value, why)
CHANGED = {
    "trainer.max_epochs": (
        lambda epochs: None if epochs == DEFAULT_EPOCHS else epochs,
        "null: DEFAULT_EPOCHS unless the run names its length (gan.build.epoch_limit)",
    ),
    "callbacks.progress_bar._target_": (
        lambda target: "gan.callbacks.bar.IterationBar" if target.endswith("RichProgressBar") else target,
        "issue 40: Lightning's rich bar counting the whole run's iterations, off outside a terminal",
    ),
}
#: data values no yaml types: removed, or null in the base ("the dataset's own"); the built datamodule must
#: still have the old value
FROM_DATAMODULE = ("data.num_classes", "data.channels")
#: keys added on purpose after the snapshot, with the value that keeps the old behaviour, and why
ADDED = {
    "perf.precision": (None, "issue 24: null keeps trainer.precision"),
    "perf.compile_mode": ("default", "issue 24: torch.compile's mode, used only with perf.compile=true"),
    "callbacks.fid.selfsup.method": ("simclr", "issue 22: the self-supervised encoder's recipe"),
    "callbacks.fid.selfsup.steps": (1000, "issue 22: the self-supervised encoder's recipe"),
    "callbacks.model_summary._target_": (
        "gan.callbacks.model_summary.NetworkSummary",
        "the networks in one line, without Lightning's FLOPs column (0 for every GAN here)",
    ),
    "callbacks.progress_log._target_": (
        "gan.callbacks.progress.ProgressLines",
        "issue 40: progress lines in a log that is not a terminal",
    ),
    "callbacks.health.copy_tolerance": (0.03, "issue 40: a run collapsed before its first check is flagged"),
    "callbacks.fid.folder_feature": (
        "mobilenet",
        "issue 37: an image folder's offline FID space, ImageNet's MobileNetV2 (was the selfsup encoder)",
    ),
    "data.held_out": (0.1, "issue 22: folders keep ~10% of their files out of training for val/copying"),
}


def renamed(old: dict) -> dict:
    out = {}
    for key, value in old.items():
        new_key, convert, _why = RENAMED.get(key, (key, None, ""))
        out[new_key] = convert(value) if convert else value
    return out


def constructor_default(new: dict, key: str):
    """The default of the constructor argument `key` names (the nearest `_target_` above it)."""
    parent, _, name = key.rpartition(".")
    if f"{parent}._target_" not in new:
        return "<not a constructor argument>"
    target = get_object(new[f"{parent}._target_"])
    for cls in inspect.getmro(target) if inspect.isclass(target) else [target]:
        params = inspect.signature(cls.__init__ if inspect.isclass(target) else cls).parameters
        if name in params and params[name].default is not inspect.Parameter.empty:
            return params[name].default
    return "<no default>"


@pytest.mark.parametrize("preset", list(SNAP))
def test_preset_resolves_as_before(preset, monkeypatch):
    for key in ENV:
        monkeypatch.delenv(key, raising=False)
    cfg = compose(preset)
    old, new = renamed(expand(SNAP, preset)), flatten(resolved(cfg))
    old = {key: CHANGED[key][0](value) if key in CHANGED else value for key, value in old.items()}
    derived = [key for key in FROM_DATAMODULE if key in old and new.get(key) is None]
    if derived:
        datamodule = instantiate(cfg.data)
        for key in derived:
            assert getattr(datamodule, key.split(".")[-1]) == old.pop(key), key
            new.pop(key, None)
    for key in new.keys() - old.keys():  # a key a base config adds: the value the constructor used anyway
        expected = ADDED[key][0] if key in ADDED else constructor_default(new, key)
        assert new[key] == expected, f"{preset}: {key}={new[key]} is new"
        old[key] = new[key]
    differ = {k: (old.get(k, "<unset>"), new.get(k, "<unset>")) for k in old.keys() | new.keys()}
    assert {k: v for k, v in differ.items() if v[0] != v[1]} == {}


def unflatten(flat: dict) -> dict:
    out = {}
    for key, value in flat.items():
        *parents, last = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def test_an_older_checkpoints_config_reads_in_todays_names():
    """gan.checkpoint.load_checkpoint upgrades the config a checkpoint of dccd0d6 holds (the snapshot's),
    and today's datamodules take every data key it keeps (the studio rebuilds the data from it)."""
    for preset in SNAP:
        old = expand(SNAP, preset)
        upgraded = upgrade(unflatten(old))
        expected = renamed(old)
        if not str(expected.get("data._target_")).endswith("SyntheticDataModule"):
            expected.pop("data.num_classes", None)  # derived from the dataset since issue 21
        assert flatten(upgraded) == expected, preset
        data = upgraded.get("data", {})
        target = get_object(data["_target_"])
        accepted = set()
        for cls in inspect.getmro(target):
            if "__init__" in vars(cls):
                accepted |= set(inspect.signature(cls.__init__).parameters)
        assert set(data) - {"_target_"} <= accepted, (preset, set(data) - accepted)
