"""benchmarks/photos.py and benchmarks/selfsup.py run end to end at tiny sizes and print their tables
(their numbers are measurements, not asserted beyond being numbers). About 30 s on 2 cores."""

import re
import subprocess
import sys

import pytest
from PIL import Image

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # the benchmarks in subprocesses: not in the fast tier


def run(*args: str):
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_photos_benchmark_runs_tiny_with_a_named_recipe(faces, tmp_path):
    out = run("benchmarks/photos.py", "--tiny", "--runs", "plain", "ema=trick=[ema]", "--out", str(tmp_path))
    number = r"-?\d+(\.\d+)?(e-?\d+)?"
    for name in ("plain", "ema"):
        cells = rf"\| faces \| {name} \| 0 \| [1-9]\d* \|" + rf" {number} \|" * 5  # FD, KID, P, R, C_T
        assert re.search(cells, out), out
        assert Image.open(tmp_path / f"faces-32px-{name}-seed0.png").size == (8 * 34 + 2, 8 * 34 + 2)
    assert "| faces | floor: the " in out and "held-out real images" in out


def test_selfsup_benchmark_runs_tiny(shoes, faces):
    out = run("benchmarks/selfsup.py", "--tiny", "--sections", "photos", "--methods", "simclr")
    for heading in ("shoes, 32 px:", "faces, 32 px:", "| set | FD selfsup simclr | FD small_conv (random) |"):
        assert heading in out
    assert out.count("| strictly increasing |") == 2
