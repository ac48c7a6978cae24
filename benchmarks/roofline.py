"""The roofline view of benchmarks/overhead.py: per-iteration time of DCGAN32 (Fashion-MNIST) and DCGAN64
(the shoes folder) at batch 64 for a plain PyTorch loop, `perf=default`, `perf=fast` and each switch alone,
against the FLOPs one iteration does and the machine's peak measured in the same process.

    uv run python benchmarks/roofline.py             # about 25 minutes on 2 CPU cores
    uv run python benchmarks/roofline.py --tiny      # seconds: a check that it runs

FLOPs: torch.utils.flop_counter.FlopCounterMode over one eager fp32 iteration (D step: G forward, D forward
on real and fake, backward; G step: D forward on the fake, backward into G): convolutions, transposed
convolutions and matmuls, forward and backward; BatchNorm, activations, losses and optimizer steps are not
counted (a few percent of the work). The framework freezes D in the G step (no D weight gradients there), so
its rows are judged on that count, the plain loop's on its own.
Peak: for fp32 and bf16 the fastest of several probes (two matmuls; 1x1, 3x3, 4x4 stride-2 and transposed
convolutions, channels_last), each the best of five calls, in GFLOP/s.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from unittest import mock

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import overhead  # noqa: E402
from tests.conftest import SHARED  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist"  # apt-get install dataset-fashion-mnist
REAL = {  # spec: the real data it trains on (overhead.SPECS gives the model and the batch)
    "dcgan32": ["data=fashion_mnist", f"data.root={FASHION}", "data.download=false"],
    "dcgan64": ["data=sneakers", f"data.root={SHARED / 'shoes256'}", "data.image_size=64"],
}
VARIANTS = {
    "perf=default": ["perf=default"],
    "perf=fast": ["perf=fast"],
    "channels_last": ["perf.channels_last=true"],
    "torch.compile": ["perf.compile=true"],
    "bf16-mixed": ["trainer.precision=bf16-mixed"],
    "on-device data": ["data.on_device=true"],
}
CL = torch.channels_last
LENGTHS = {"dcgan32": (10, 60), "dcgan64": (5, 25)}  # iterations of the two runs that cancel start-up


def best_seconds(fn, repeats: int = 5) -> float:
    fn()  # warm-up: oneDNN picks and caches its kernels on the first call
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def probes(tiny: bool) -> dict[str, tuple]:
    """name: (op, input shape). Several shapes, because the fastest kernel differs by op and library (on
    this AMD CPU MKL's fp32 matmul is far slower than oneDNN's convolutions)."""
    b, c, s, n = (4, 32, 8, 256) if tiny else (64, 256, 16, 2048)
    nn = torch.nn
    return {
        f"matmul {n}x{n}": (None, (n, n)),
        f"matmul {2 * n}x{2 * n}": (None, (2 * n, 2 * n)),
        f"conv 1x1 {4 * c}->{4 * c}, {s // 2}x{s // 2}": (
            nn.Conv2d(4 * c, 4 * c, 1),
            (b, 4 * c, s // 2, s // 2),
        ),
        f"conv 3x3 {c}->{c}, {s}x{s}": (nn.Conv2d(c, c, 3, padding=1), (b, c, s, s)),
        f"conv 4x4/2 {c // 2}->{c}, {s}x{s}": (nn.Conv2d(c // 2, c, 4, 2, 1), (b, c // 2, s, s)),
        f"transposed 4x4/2 {c}->{c // 2}, {s // 2}x{s // 2}": (
            nn.ConvTranspose2d(c, c // 2, 4, 2, 1),
            (b, c, s // 2, s // 2),
        ),
    }


def peaks(tiny: bool) -> dict[str, float]:
    """GFLOP/s of each probe (FLOPs counted by FlopCounterMode; convolutions channels_last, no grad) in fp32
    and bf16; the best of each dtype is the peak the table's rows are judged against."""
    result = {}
    torch.manual_seed(0)
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        for probe, (module, shape) in probes(tiny).items():
            if module is None:
                fn = partial(torch.matmul, torch.randn(*shape, dtype=dtype), torch.randn(*shape, dtype=dtype))
            else:
                x = torch.randn(*shape, dtype=dtype).contiguous(memory_format=CL)
                fn = partial(module.requires_grad_(False).to(dtype=dtype, memory_format=CL), x)
            counter = FlopCounterMode(display=False)
            with counter:
                fn()
            result[f"{probe} {name}"] = counter.get_total_flops() / best_seconds(fn) / 1e9
    return result


def iteration_flops(spec: str, tiny: bool, freeze_d: bool) -> int:
    """FLOPs of one eager fp32 training iteration (see the module docstring for what counts)."""
    with tempfile.TemporaryDirectory() as out:
        cfg = overhead.config(spec, 1, [], tiny, out)
        torch.manual_seed(cfg.seed)
        g, d = overhead.networks(cfg)
        real = torch.randn(cfg.data.batch_size, cfg.data.channels, cfg.data.image_size, cfg.data.image_size)
        counter = FlopCounterMode(display=False)
        with counter:
            overhead.plain_iteration(g, d, real, cfg.model.latent_dim, freeze_d)
        return counter.get_total_flops()


def row(cells) -> str:
    return "| " + " | ".join(map(str, cells)) + " |"


def variants(tiny: bool) -> dict[str, list[str]]:
    """The framework's rows; --tiny leaves torch.compile out (minutes of compiling; tests/test_perf.py
    trains with it)."""
    if not tiny:
        return VARIANTS
    rows = {name: extra for name, extra in VARIANTS.items() if "perf.compile=true" not in extra}
    return {**rows, "perf=fast": ["perf=fast", "perf.compile=false"]}


def compiles(extra: list[str]) -> bool:
    return "perf.compile=true" in extra or ("perf=fast" in extra and "perf.compile=false" not in extra)


def run(spec: str, iterations: int, extra: list[str], tiny: bool) -> float:
    """Wall seconds of one framework run; every compiled run compiles its own graphs (Dynamo's in-memory
    cache would let a second run reuse the first's, and past its recompile limit fall back to eager)."""
    torch._dynamo.reset()
    return overhead.framework_seconds(spec, iterations, extra, tiny)


def measure(spec: str, n: tuple[int, int], data: list[str], repeats: int, tiny: bool):
    """Seconds per iteration of every row (alternating repeats), the framework rows' start-up (the
    intercept of the two run lengths) and the wall time of the first, cold-compiling run of compiled rows."""
    rows = variants(tiny)
    times = {name: [] for name in ["plain loop", *rows]}
    starts = {name: [] for name in rows}
    with tempfile.TemporaryDirectory() as cache, mock.patch.dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache):
        # an empty Inductor cache: the first compile below is a cold one
        overhead.plain_per_iter(spec, n, tiny, data=data)  # decodes a folder into the image cache once
        compiled = {name: extra for name, extra in rows.items() if compiles(extra)}
        cold = {name: run(spec, n[0], [*data, *extra], tiny) for name, extra in compiled.items()}
        for _ in range(repeats):  # alternating, so drifts in machine load hit every row
            times["plain loop"].append(overhead.plain_per_iter(spec, n, tiny, data=data))
            for name, extra in rows.items():
                short, long = (run(spec, k, [*data, *extra], tiny) for k in n)
                per = (long - short) / (n[1] - n[0]) if long > short else long / n[1]
                times[name].append(per)
                starts[name].append(short - n[0] * per)
    return times, starts, cold


def table(repeats: int, tiny: bool, spec: str, peak: dict[str, float]) -> None:
    data = [] if tiny else REAL[spec]
    root = next((Path(o.split("=", 1)[1]) for o in data if o.startswith("data.root=")), None)
    if root is not None and not root.is_dir():
        print(f"\n({spec} skipped: {root} missing)")
        return
    batch = 4 if tiny else overhead.SPECS[spec][1]
    flops = {"plain": iteration_flops(spec, tiny, False), "frozen": iteration_flops(spec, tiny, True)}
    print(
        f"\n{spec}, batch {batch}, {'synthetic data' if tiny else data[0]}: one iteration is "
        f"{flops['plain'] / 1e9:.4g} GFLOP in the plain loop, {flops['frozen'] / 1e9:.4g} GFLOP with D "
        "frozen in the G step (the framework)"
    )
    print(row(["run", "per iteration", "images/s", "vs plain loop", "GFLOP/s", "of peak", "start-up"]))
    print("|---|---|---|---|---|---|---|")
    times, starts, cold = measure(spec, (2, 6) if tiny else LENGTHS[spec], data, repeats, tiny)
    plain = statistics.median(times["plain loop"])
    bf16_rows = {"bf16-mixed"} | ({"perf=fast"} if fast_precision() == "bf16-mixed" else set())
    for name, values in times.items():
        per = statistics.median(values)
        dtype = "bf16" if name in bf16_rows else "fp32"
        best = max(v for k, v in peak.items() if k.endswith(dtype))
        achieved = flops["plain" if name == "plain loop" else "frozen"] / per / 1e9
        start = f"{statistics.median(starts[name]):.1f} s" if name in starts else "-"
        if name in cold:
            start += f" (cold compile: {cold[name]:.0f} s run)"
        cells = [name, overhead.spread(values), f"{batch / per:,.0f}", f"{plain / per:.2f}x"]
        cells += [f"{achieved:.1f}", f"{100 * achieved / best:.1f}% of {dtype}", start]
        print(row(cells), flush=True)


def fast_precision() -> str:
    from gan.perf import auto_precision

    return auto_precision("cpu")[0]  # overhead.config trains on the CPU


def main(repeats: int, tiny: bool, specs: list[str]) -> None:
    peak = peaks(tiny)
    print("\n| probe (measured in this process) | GFLOP/s |\n|---|---|")
    for name, value in peak.items():
        print(f"| {name} | {value:,.1f} |")
    for dtype in ("fp32", "bf16"):
        name, value = max(((k, v) for k, v in peak.items() if k.endswith(dtype)), key=lambda kv: kv[1])
        print(f"\n{dtype} peak: {value:,.1f} GFLOP/s ({name})", end="")
    print()
    print(f"\nperf=fast on this machine: trainer.precision=auto -> {fast_precision()}")
    for spec in specs:
        table(repeats, tiny, spec, peak)


def cli() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, one repeat: checks the script runs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--specs", default=",".join(REAL), help="comma-separated subset of " + ",".join(REAL))
    parser.add_argument("--overrides", default="", help="space-separated overrides for every run")
    args = parser.parse_args()
    overhead.prepare(args.overrides)
    main(1 if args.tiny else args.repeats, args.tiny, ["dcgan32"] if args.tiny else args.specs.split(","))


if __name__ == "__main__":
    cli()
