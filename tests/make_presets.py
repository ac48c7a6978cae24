"""Snapshot of every preset's resolved config: each experiment, and each option of every config group alone.

    uv run python -m tests.make_presets        # rewrites tests/data/presets.json (about 20 s)

tests/test_presets.py composes the same list and compares it with the snapshot, so a config refactor that
changes a value fails there. Retake the snapshot only for a deliberate change, and say which in the commit.
The committed one was taken after issue 39's renames (d_pause, trainer.precision, default_epochs); the
configs of main at 8b91865 (what older checkpoints hold) are kept in tests/data/configs_8b91865.json for
tests/test_renamed.py.
"""

import json
import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from tests.conftest import CONF, ROOT, make_cfg

SNAPSHOT = Path(__file__).with_name("data") / "presets.json"
#: the config groups whose options are presets (perf since issue 39: perf=fast sets trainer.precision)
GROUPS = [
    "experiment",
    "data",
    "model",
    "loss",
    "trick",
    "optim",
    "trainer",
    "perf",
    "logger",
    "callbacks",
    "debug",
]
#: environment that would leak this machine's paths into the resolved config
ENV = ("DATA_DIR", "FID_WEIGHTS", "GAN_CACHE_DIR")
OUTPUT = "/tmp/gan-presets"
MISSING = object()


def presets() -> list[str]:
    """The defaults (""), then `group=option` for every option of every group, and hparams_search=optuna."""
    found = [""]
    for group in GROUPS:
        found += [f"{group}={p.stem}" for p in sorted((CONF / group).glob("*.yaml"))]
    return [*found, "hparams_search=optuna"]


def compose(preset: str) -> DictConfig:
    return make_cfg(preset, output_dir=OUTPUT)


def resolved(cfg: DictConfig) -> dict:
    """The job config `python train.py <preset> --cfg job --resolve` prints, with machine paths replaced."""
    text = json.dumps(OmegaConf.to_container(cfg, resolve=True), sort_keys=True)
    return json.loads(text.replace(str(ROOT), "<root>"))


def flatten(node, prefix: str = "") -> dict:
    """{"data.batch_size": 64, ...}: dotted keys to leaves (lists and empty dicts are leaves)."""
    if not isinstance(node, dict) or not node:
        return {prefix: node}
    out = {}
    for key, value in node.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else key))
    return out


def snapshot() -> dict[str, dict]:
    """The defaults' flattened config under "", every other preset as its difference from it."""
    for key in ENV:
        os.environ.pop(key, None)
    base = flatten(resolved(compose("")))
    out = {"": base}
    for preset in presets()[1:]:
        flat = flatten(resolved(compose(preset)))
        changed = {key: value for key, value in flat.items() if base.get(key, MISSING) != value}
        out[preset] = {"set": changed, "unset": sorted(base.keys() - flat.keys())}
    return out


def expand(snap: dict, preset: str) -> dict:
    """A preset's whole flattened config from the snapshot."""
    if preset == "":
        return dict(snap[""])
    diff = snap[preset]
    return {**{k: v for k, v in snap[""].items() if k not in diff["unset"]}, **diff["set"]}


if __name__ == "__main__":
    SNAPSHOT.parent.mkdir(exist_ok=True)
    SNAPSHOT.write_text(json.dumps(snapshot(), indent=1, sort_keys=True) + "\n")
    print(f"Wrote {SNAPSHOT}")
