"""Every preset in tests/data/presets.json (each experiment, each option of every config group) resolves to
exactly the config stored there: a failure lists each key that changed as {key: (snapshot, now)}.

A change you meant (a new default, a renamed key): re-take the snapshot and name the change in the commit:

    uv run python -m tests.make_presets        # rewrites tests/data/presets.json (about 20 s)

A preset added after the snapshot (a new model, trick or experiment) is compared once the snapshot is
re-taken; until then its own tests cover it, so adding one edits no existing file.
"""

import json

import pytest

from tests.conftest import make_cfg
from tests.make_presets import ENV, MISSING, OUTPUT, SNAPSHOT, expand, flatten, presets, resolved

pytestmark = pytest.mark.slow  # every preset composed: not in the fast tier

SNAP = json.loads(SNAPSHOT.read_text())


def changes(preset: str, *overrides: str) -> dict:
    """{key: (snapshot's value, today's)} for every key where `preset` (with `overrides`) differs."""
    now = flatten(resolved(make_cfg(preset, *overrides, output_dir=OUTPUT)))
    was = expand(SNAP, preset)
    differ = [
        key for key in sorted(was.keys() | now.keys()) if was.get(key, MISSING) != now.get(key, MISSING)
    ]
    return {key: (was.get(key, "<unset>"), now.get(key, "<unset>")) for key in differ}


@pytest.fixture(autouse=True)
def no_machine_paths(monkeypatch):
    for key in ENV:
        monkeypatch.delenv(key, raising=False)


@pytest.mark.parametrize("preset", list(SNAP))
def test_preset_resolves_as_in_the_snapshot(preset):
    assert changes(preset) == {}, "re-take the snapshot if you meant it: uv run python -m tests.make_presets"


def test_every_preset_in_the_snapshot_still_exists():
    assert set(SNAP) <= set(presets())


def test_a_changed_value_a_new_key_and_a_dropped_one_are_each_caught():
    assert changes("experiment=shoes_ex4", "trick.d_pause.ratio=0.5") == {"trick.d_pause.ratio": (0.7, 0.5)}
    assert changes("", "+extra=1") == {"extra": ("<unset>", 1)}
    assert changes("", "~callbacks.health") == {
        key: (value, "<unset>") for key, value in SNAP[""].items() if key.startswith("callbacks.health.")
    }
