"""Names changed since checkpoints were first written, and how an old one is read today.

- An older checkpoint's config and state are read in today's names: `upgrade` (config keys, config-group
  options, moved classes) and `upgrade_state` (a trick's buffers), from gan/checkpoint.py and from Lightning's
  resume (GANModule.on_load_checkpoint).
- On the command line (gan/cli.py), a renamed option is read as today's with a one-line note
  (`trick=d_freeze` runs `trick=d_pause`, `trick.d_freeze.ratio=0.5` sets `trick.d_pause.ratio`:
  `upgrade_overrides`); an old key is answered with its new name (RENAMED), since some changed meaning.
"""

import re

#: old dotted key -> today's (one meaning per name)
RENAMED = {
    "num_samples": "grid_images",
    "data.num_samples": "data.dataset_size",
    "data.normalize": "data.pixel_range",
    "callbacks.fid.num_samples": "callbacks.fid.num_images",
    "trick.instance_noise.anneal_steps": "trick.instance_noise.anneal_iterations",
    # issue 39: one precision key; perf.precision (null: trainer's) was set over trainer.precision
    "perf.precision": "trainer.precision",
}
#: config-group options renamed, group -> {old option: today's}; an option's config is at `<group>.<option>`
OPTIONS = {
    "trick": {"d_freeze": "d_pause"},  # issue 39: one transposition from freeze_d (FreezeD), unrelated
}
#: classes that moved (a module named for what it holds, a renamed trick): an old `_target_` -> today's
MOVED = {
    "gan.data.tensor.DigitsDataModule": "gan.data.digits.DigitsDataModule",
    "gan.data.tensor.SyntheticDataModule": "gan.data.synthetic.SyntheticDataModule",
    "gan.tricks.d_freeze.DFreeze": "gan.tricks.d_pause.DPause",
}
#: state_dict keys renamed, old prefix -> today's; the first that matches a key renames it
STATE = {
    "tricks.d_freeze.frozen": "tricks.d_pause.paused",
    "tricks.d_freeze.": "tricks.d_pause.",
}

#: data keys the datamodules no longer take: the built datamodule knows them (synthetic data still takes its
#: own number of classes)
DERIVED = ("num_classes",)


def _parent(config: dict, dotted: str, make: bool = False) -> tuple[dict | None, str]:
    *parents, key = dotted.split(".")
    node = config
    for part in parents:
        if make and isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            node = node.get(part) if isinstance(node, dict) else None
    return (node if isinstance(node, dict) else None), key


def _new_value(old: str, value):
    """A renamed key's value in its new meaning."""
    if old == "data.normalize":
        return [-1, 1] if value else [0, 1]
    return value


def _targets(node) -> None:
    if isinstance(node, dict):
        if node.get("_target_") in MOVED:
            node["_target_"] = MOVED[node["_target_"]]
        for value in node.values():
            _targets(value)


def upgrade(config: dict) -> dict:
    """`config` (a resolved run config, changed in place) in today's names: keys (RENAMED; values are kept,
    but `data.normalize`'s boolean becomes the range it meant, and a null `perf.precision` leaves
    `trainer.precision` as it was), options (OPTIONS, in their order), `_target_`s (MOVED); the DERIVED data
    keys go."""
    for old, new in RENAMED.items():
        node, key = _parent(config, old)
        if node is None or key not in node:
            continue
        value = _new_value(old, node.pop(key))
        if value is not None or old != "perf.precision":  # null meant "trainer.precision's": it stays
            target, new_key = _parent(config, new, make=True)
            target[new_key] = value
    for group, renames in OPTIONS.items():
        node = config.get(group)
        if isinstance(node, dict) and renames.keys() & node.keys():
            items = [(renames.get(key, key), value) for key, value in node.items()]
            node.clear()
            node.update(items)
    _targets(config)
    data = config.get("data")
    if isinstance(data, dict) and not str(data.get("_target_")).endswith("SyntheticDataModule"):
        for key in DERIVED:
            data.pop(key, None)
    return config


def upgrade_state(state_dict: dict) -> dict:
    """A checkpoint's `state_dict` (changed in place) in today's names (STATE)."""
    for key in [k for k in state_dict if any(k.startswith(old) for old in STATE)]:
        old = next(old for old in STATE if key.startswith(old))
        state_dict[STATE[old] + key[len(old) :]] = state_dict.pop(key)
    return state_dict


def _option_pattern(old: str) -> re.Pattern:
    return re.compile(rf"(?<![\w./-]){re.escape(old)}(?![\w./-])")


def upgrade_overrides(argv: list[str]) -> tuple[list[str], list[str]]:
    """Command-line overrides with renamed options in today's names (`trick=[ema,d_freeze]`,
    `trick.d_freeze.ratio=0.5`, `~trick.d_freeze`), and one note per renamed option used."""
    out, notes = [], {}
    for arg in argv:
        sign = arg[: len(arg) - len(arg.lstrip("+~"))]
        key, eq, value = arg[len(sign) :].partition("=")
        for group, renames in OPTIONS.items():
            for old, new in renames.items():
                if key == group and eq and _option_pattern(old).search(value):
                    value = _option_pattern(old).sub(new, value)
                elif key == f"{group}.{old}" or key.startswith(f"{group}.{old}."):
                    key = f"{group}.{new}" + key[len(group) + 1 + len(old) :]
                else:
                    continue
                notes[(group, old)] = f"{group}={old} is now {group}={new}: read as {new}"
        out.append(sign + key + eq + value)
    return out, list(notes.values())
