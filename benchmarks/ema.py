"""Why EMA samples look brighter and higher in contrast: one run with `trick=ema` and the same run without,
at equal iterations, each generator sampled several ways; prints pixel statistics against real images and
the domain FID (Fashion-MNIST's sandals, sneakers and ankle boots, 32 px).

    uv run python benchmarks/ema.py --iterations 2000 --seeds 0,1
    uv run python benchmarks/ema.py --iterations 20 --samples 200 --tiny      # a check that it works

The ways: G (raw weights) in eval mode with its training-time running statistics (what `use_ema=false`
gives), G with recalibrated statistics, G with batch statistics (train-mode BatchNorm), and EMA's average
as the framework uses it (recalibrated), with batch statistics and with G's running statistics copied.
Iteration-based, so the numbers do not depend on the machine's load.
"""

import argparse
import copy
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from torch.nn.modules.batchnorm import _BatchNorm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from quality import Scorer  # noqa: E402

from benchmarks.machine import describe  # noqa: E402
from gan.build import build_datamodule  # noqa: E402
from gan.checkpoint import load_checkpoint, load_generator  # noqa: E402
from gan.priors import sample_latent  # noqa: E402
from gan.tricks.ema import recalibrate_batchnorm  # noqa: E402
from tests.conftest import make_cfg  # noqa: E402

DATA = ["data=fashion_mnist", "data.classes=[5,7,9]"]


def train(run_dir: Path, iterations: int, seed: int, extra: list[str]) -> dict:
    command = [
        sys.executable, "train.py", *DATA, *extra, f"seed={seed}", f"max_iterations={iterations}",
        "callbacks.fid=null", "callbacks.progress_bar=null", "logger=csv", f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return load_checkpoint(str(run_dir / "checkpoints" / "last.ckpt"))


def draw(generator, n: int, batch_norm: str) -> torch.Tensor:
    """n samples from fixed latents; batch_norm: "eval" (running statistics) or "batch" (train mode)."""
    rng = torch.Generator().manual_seed(1234)
    generator = copy.deepcopy(generator)
    generator.eval()
    if batch_norm == "batch":
        for m in generator.modules():
            if isinstance(m, _BatchNorm):
                m.train()
    out = []
    with torch.no_grad():
        for start in range(0, n, 100):
            out.append(generator(sample_latent("gaussian", min(100, n - start), 100, generator=rng)))
    return torch.cat(out)


def recalibrated(generator):
    generator = copy.deepcopy(generator)
    recalibrate_batchnorm(generator, lambda rng: (torch.randn(64, 100, generator=rng), None), 8, seed=0)
    return generator.eval()


def with_running_stats_of(average, raw):
    average = copy.deepcopy(average)
    norms = [m for m in average.modules() if isinstance(m, _BatchNorm)]
    for mine, theirs in zip(norms, [m for m in raw.modules() if isinstance(m, _BatchNorm)], strict=True):
        mine.running_mean.copy_(theirs.running_mean)
        mine.running_var.copy_(theirs.running_var)
    return average


def stats(images: torch.Tensor) -> dict:
    x = images.float().clamp(-1, 1)
    return {"mean": float(x.mean()), "std": float(x.std()), "below -0.9": float((x < -0.9).float().mean())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    work = Path(tempfile.mkdtemp(prefix="ema-"))
    datamodule = build_datamodule(make_cfg(*DATA, output_dir=work))
    datamodule.setup()
    scorer = Scorer(datamodule, str(ROOT / ".cache"), args.samples, epochs=1 if args.tiny else 4)
    machine = describe()
    print(f"Machine: {machine}; {DATA[1:]}, "
          f"{args.iterations} iterations, {args.samples} samples")  # fmt: skip
    real = stats(scorer.reals)
    print("\n| seed | run | sampled as | pixel mean | pixel std | pixels below -0.9 | domain FID |")
    print("|---|---|---|---|---|---|---|")
    print(f"| | real (held out) | | {real['mean']:.4f} | {real['std']:.4f} | {real['below -0.9']:.4f} | |")
    small = ["model.generator.ngf=8", "model.discriminator.ndf=8"] if args.tiny else []
    for seed in [int(s) for s in args.seeds.split(",")]:
        plain = train(work / f"plain{seed}", args.iterations, seed, small)
        ema = train(work / f"ema{seed}", args.iterations, seed, ["trick=ema", *small])
        g_plain, g_raw = load_generator(plain, use_ema=False), load_generator(ema, use_ema=False)
        average = load_generator(ema, use_ema=True)  # recalibrated when saved (gan/tricks/ema.py)
        ways = [
            ("no EMA", "G, training-time running stats (default)", g_plain, "eval"),
            ("no EMA", "G, recalibrated stats", recalibrated(g_plain), "eval"),
            ("no EMA", "G, batch stats", g_plain, "batch"),
            ("ema", "EMA average, recalibrated (default)", average, "eval"),
            ("ema", "EMA average, batch stats", average, "batch"),
            ("ema", "EMA average, G's running stats", with_running_stats_of(average, g_raw), "eval"),
            ("ema", "raw G of the EMA run", g_raw, "eval"),
        ]
        for run, way, generator, norm in ways:
            images = draw(generator, args.samples, norm)
            s, fid = stats(images), scorer.score(images)["fid"]
            print(f"| {seed} | {run} | {way} | {s['mean']:.4f} | {s['std']:.4f} | {s['below -0.9']:.4f} "
                  f"| {fid:.2f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
