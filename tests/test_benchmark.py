"""The benchmark script runs end to end at tiny sizes and prints its tables (timings are not asserted)."""

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # subprocess or long training runs: not in the fast tier


def tiny(script: str) -> subprocess.CompletedProcess:
    """`python benchmarks/<script> --tiny`, which must succeed."""
    done = subprocess.run([sys.executable, f"benchmarks/{script}", "--tiny"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_benchmark_runs_tiny(shoes):  # its data table reads the shared shoes (fails in CI when missing)
    done = tiny("overhead.py")
    for heading in (
        "| model | batch | plain loop |",
        "| dcgan64 option |",
        "| data (shared JPEGs",
        "Peak RSS",
    ):
        assert heading in done.stdout
    assert "| dcgan64 | 4 |" in done.stdout and "| channels_last |" in done.stdout
    assert "D frozen in G step" in done.stdout
    assert not re.search(r"(^|[ (|])-\d[\d.]* ms", done.stdout)  # no negative times


def test_roofline_runs_tiny():
    done = tiny("roofline.py")
    roofline = done.stdout[done.stdout.index("| probe (measured in this process) |") :]
    probes = re.findall(r"^\| (matmul|conv|transposed) .* (fp32|bf16) \| ([\d,.]+) \|$", roofline, re.M)
    assert len(probes) == 12
    for dtype in ("fp32", "bf16"):  # the peak is the fastest probe of its dtype
        best = max(float(v.replace(",", "")) for _, d, v in probes if d == dtype)
        assert f"{dtype} peak: {best:,.1f} GFLOP/s (" in roofline
    counts = re.search(r"([\d.e+-]+) GFLOP in the plain loop, ([\d.e+-]+) GFLOP with D frozen", roofline)
    plain, frozen = map(float, counts.groups())
    assert plain > frozen > 0  # the frozen G step computes no D weight gradients
    for name in ("plain loop", "perf=default", "perf=fast", "channels_last", "bf16-mixed", "on-device data"):
        assert re.search(rf"^\| {name} \| [\d.]+ ms .*% of (fp32|bf16) \|", roofline, re.M), name
