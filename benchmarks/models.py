"""CPU cost per training iteration of model=resnet and model=r3gan against DCGAN at the same size and batch;
prints a Markdown table.

    uv run python benchmarks/models.py                          # 32 and 64 px, batch 8 (~20 minutes, 2 cores)
    uv run python benchmarks/models.py --sizes 32 --batch 16 --repeats 2
    uv run python benchmarks/models.py --tiny                   # seconds: a check that the script runs

Each row trains through train.py's code path (GANModule + Lightning Trainer, the model's own loss: hinge for
resnet as SNGAN, rpgan + R1 + R2 for r3gan as the paper, non-saturating for DCGAN) on synthetic data; the
start-up is cancelled by differencing a short and a long run. Rows `resnet` and `r3gan` have the cited
widths (SNGAN / mimicry; the paper's presets), `dcgan` ngf = ndf = 64; the `-cpu` rows are narrower networks a
CPU can train (resnet ngf = ndf = 128, r3gan width 96). The timings are measurements on whatever machine runs
it: state the machine and its load with them.
"""

import argparse
import contextlib
import io
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe  # noqa: E402
from gan.build import build_module  # noqa: E402
from gan.run.train import train  # noqa: E402
from tests.conftest import make_cfg  # noqa: E402

R3GAN_LOSS = ["loss=rpgan", "trick=[r1,r2]", "trick.r1.gamma=0.05", "trick.r2.gamma=0.05"]
MODELS = {  # row name: overrides
    "dcgan": ["model=dcgan"],
    "resnet": ["model=resnet", "loss=hinge"],
    "resnet-cpu": ["model=resnet", "loss=hinge", "model.generator.ngf=128", "model.discriminator.ndf=128"],
    "r3gan": ["model=r3gan", *R3GAN_LOSS],
    "r3gan-cpu": ["model=r3gan", *R3GAN_LOSS, "model.generator.width=96", "model.discriminator.width=96"],
}
TINY = {
    "dcgan": ["model.generator.ngf=8", "model.discriminator.ndf=8"],
    "resnet": ["model.generator.ngf=16", "model.discriminator.ndf=16"],
    "r3gan": ["model.generator.width=16", "model.discriminator.width=16"],
}


def config(overrides: list[str], size: int, batch: int, iterations: int, out: str):
    return make_cfg(
        "data=synthetic",
        f"data.image_size={size}",
        f"data.dataset_size={batch * iterations}",
        f"data.batch_size={batch}",
        *overrides,
        "callbacks=none",
        "logger=none",
        "trainer.max_epochs=1",
        "trainer.accelerator=cpu",
        "+trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        output_dir=out,
    )


def seconds(overrides: list[str], size: int, batch: int, iterations: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        cfg = config(overrides, size, batch, iterations, out)
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            train(cfg)
        return time.perf_counter() - start


def per_iteration(overrides: list[str], size: int, batch: int, n: tuple[int, int]) -> float:
    short, long = (seconds(overrides, size, batch, k) for k in n)
    return long / n[1] if long <= short else (long - short) / (n[1] - n[0])


def parameters(overrides: list[str], size: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as out:
        module = build_module(config(overrides, size, 2, 1, out))
    count = [
        sum(p.numel() for p in net.parameters()) / 1e6 for net in (module.generator, module.discriminator)
    ]
    return count[0], count[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="32,64")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of the row names")
    parser.add_argument("--tiny", action="store_true", help="tiny widths and runs: checks the script works")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    rows = list(TINY) if args.tiny else args.models.split(",")
    sizes = [32] if args.tiny else [int(s) for s in args.sizes.split(",")]
    batch = 2 if args.tiny else args.batch
    print(f"Machine: {describe()}")
    print(
        f"\n| size | model | G / D params | per iteration (batch {batch}) | vs dcgan |\n|---|---|---|---|---|"
    )
    for size in sizes:
        baseline = None
        for name in rows:
            overrides = MODELS[name] + (TINY.get(name, []) if args.tiny else [])
            n = (1, 2) if args.tiny else ((1, 3) if name in ("resnet", "r3gan") and size > 32 else (2, 6))
            runs = [per_iteration(overrides, size, batch, n) for _ in range(args.repeats)]
            median = statistics.median(runs)
            baseline = median if name == "dcgan" else baseline
            g, d = parameters(overrides, size)
            ratio = f"{median / baseline:.1f}x" if baseline else "-"
            spread = f" ({min(runs):.2f}-{max(runs):.2f})" if len(runs) > 1 else ""
            label = f"{name} [tiny widths]" if args.tiny else name
            print(
                f"| {size} | {label} | {g:.1f}M / {d:.1f}M | {median:.2f} s{spread} | {ratio} |", flush=True
            )


if __name__ == "__main__":
    main()
