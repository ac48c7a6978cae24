"""Image quality at equal wall time: a plain PyTorch DCGAN loop against the framework's runs, one after the
other, each for `--budget` seconds of training; 5000 samples each, scored with the domain classifier.

    uv run python benchmarks/quality.py --budget 300                 # Fashion-MNIST sandals/sneakers/boots
    uv run python benchmarks/quality.py --budget 300 --dataset mnist
    uv run python benchmarks/quality.py --budget 300 --runs plain,default --seeds 0,1,2   # mean over seeds
    uv run python benchmarks/quality.py --budget 300 --runs default --extra "fast=perf=fast" \
        --extra "modern_fast=experiment=modern perf=fast"                          # named extra runs
    uv run python benchmarks/quality.py --iterations 2000 --runs default --extra "fast=perf=fast"  # same work
    uv run python benchmarks/quality.py --budget 2 --samples 100 --tiny             # a check that it works

Prints a Markdown table: iterations, domain FID, KID, precision, recall, FID ratio to the plain loop. Run it
on a quiet machine: every run gets the same wall time, so anything else running changes the result.
"""

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe  # noqa: E402
from gan.build import build_datamodule  # noqa: E402
from gan.checkpoint import load_checkpoint, load_generator  # noqa: E402
from gan.metrics.classifier import domain_classifier  # noqa: E402
from gan.metrics.precision_recall import precision_recall  # noqa: E402
from gan.pixels import as_rgb_uint8  # noqa: E402
from gan.priors import sample_latent  # noqa: E402
from tests.conftest import make_cfg  # noqa: E402

DATASETS = {
    "fashion_mnist": ["data=fashion_mnist", "data.classes=[5,7,9]"],
    "mnist": ["data=mnist"],
}
RUNS = {  # name: overrides of `python train.py`, on top of the dataset's
    "default": [],
    "ema": ["trick=ema"],
    "modern": ["experiment=modern"],
}


# ---- the plain loop: the classic DCGAN, BCE, Adam 2e-4/0.5, batch 64 (Fashion-MNIST: padded 28 -> 32) ----


def plain_nets(channels: int = 1, nz: int = 100, size: int = 32) -> tuple[nn.Module, nn.Module]:
    """The classic DCGAN at 32 px (256-128-64 channels), one block more per doubling (64 px: 512-...-64)."""

    def up(i, o):
        return [nn.ConvTranspose2d(i, o, 4, 2, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(True)]

    def down(i, o):
        return [nn.Conv2d(i, o, 4, 2, 1, bias=False), nn.BatchNorm2d(o), nn.LeakyReLU(0.2, True)]

    depth = int(math.log2(size)) - 3  # hidden blocks: 2 at 32 px
    top = 64 << depth
    g = nn.Sequential(
        nn.ConvTranspose2d(nz, top, 4, 1, 0, bias=False), nn.BatchNorm2d(top), nn.ReLU(True),
        *(layer for k in range(depth) for layer in up(top >> k, top >> (k + 1))),
        nn.ConvTranspose2d(64, channels, 4, 2, 1, bias=False), nn.Tanh(),
    )  # fmt: skip
    d = nn.Sequential(
        nn.Conv2d(channels, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
        *(layer for k in range(depth) for layer in down(64 << k, 64 << (k + 1))),
        nn.Conv2d(top, 1, 4, 1, 0, bias=False), nn.Flatten(0),
    )  # fmt: skip
    for m in [*g.modules(), *d.modules()]:
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1, 0.02)
            nn.init.zeros_(m.bias)
    return g, d


def plain_loop(
    reals: torch.Tensor, budget: float, seed: int = 0, limit: int | None = None
) -> tuple[nn.Module, int]:
    """Train for `budget` seconds, or for `limit` iterations when given."""
    torch.manual_seed(seed)
    g, d = plain_nets(reals.shape[1], size=reals.shape[-1])
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce, iterations, start = F.binary_cross_entropy_with_logits, 0, time.perf_counter()

    def done() -> bool:
        return iterations >= limit if limit else time.perf_counter() - start >= budget

    while not done():
        for index in torch.randperm(len(reals)).split(64):
            if len(index) < 64 or done():
                break
            real = reals[index]
            fake = g(torch.randn(64, 100, 1, 1))
            real_out, fake_out = d(real), d(fake.detach())
            loss_d = bce(real_out, torch.ones_like(real_out)) + bce(fake_out, torch.zeros_like(fake_out))
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            out = d(fake)
            loss_g = bce(out, torch.ones_like(out))
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            iterations += 1
    return g.eval(), iterations


# ---- the framework through train.py ----


def framework_run(
    overrides: list[str], budget: float, run_dir: Path, limit: int | None = None
) -> tuple[nn.Module, dict, int]:
    """Train through train.py for `budget` seconds, or for `limit` iterations when given."""
    stop = f"max_iterations={limit}" if limit else f"trainer.max_time={{seconds:{budget}}}"
    command = [
        sys.executable, "train.py", *overrides, f"hydra.run.dir={run_dir}", stop,
        "callbacks.fid=null", "callbacks.progress_bar=null", "logger=csv",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    ckpt = load_checkpoint(str(run_dir / "checkpoints" / "last.ckpt"))
    return load_generator(ckpt), ckpt, ckpt["gan"]["iteration"]


def sample(generator: nn.Module, n: int, prior: str, latent_dim: int, cond_labels=None) -> torch.Tensor:
    rng = torch.Generator().manual_seed(1234)
    out = []
    with torch.no_grad():
        for start in range(0, n, 250):
            k = min(250, n - start)
            z = sample_latent(prior, k, latent_dim, generator=rng)
            if cond_labels is None and isinstance(generator, nn.Sequential):  # the plain loop's G
                out.append(generator(z[:, :, None, None]))
            else:
                cond = (
                    None
                    if cond_labels is None
                    else cond_labels[torch.arange(start, start + k) % len(cond_labels)]
                )
                out.append(generator(z, cond))
    return torch.cat(out)


# ---- scoring ----


class Scorer:
    def __init__(self, datamodule, cache_dir: str, n: int, epochs: int = 4):
        self.features = domain_classifier(datamodule, cache_dir, epochs=epochs)
        reals = datamodule.held_out_dataset()
        self.reals = torch.stack([reals[i][0] for i in range(min(n, len(reals)))])
        self.real_uint8 = as_rgb_uint8(self.reals)
        with torch.no_grad():
            self.real_features = self.features(self.real_uint8)

    def score(self, images: torch.Tensor) -> dict:
        fake = as_rgb_uint8(images)
        fid = FrechetInceptionDistance(feature=self.features)
        kid = KernelInceptionDistance(
            feature=self.features, subset_size=min(1000, len(fake), len(self.reals))
        )
        for metric in (fid, kid):
            metric.update(self.real_uint8, real=True)
            metric.update(fake, real=False)
        with torch.no_grad():
            precision, recall = precision_recall(self.real_features, self.features(fake))
        return {"fid": float(fid.compute()), "kid": float(kid.compute()[0]), "precision": precision,
                "recall": recall}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=300, help="seconds of training per run")
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="fashion_mnist")
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--runs", default="plain," + ",".join(RUNS), help="comma-separated: plain and RUNS")
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        help="a named run after --runs: 'name=override ...'; repeatable",
    )
    parser.add_argument("--iterations", type=int, help="train every run this many iterations, not --budget")
    parser.add_argument(
        "--seeds", default="0", help="comma-separated: every run once per seed (same seed for all)"
    )
    parser.add_argument("--tiny", action="store_true", help="a 1-epoch classifier: checks the script runs")
    args = parser.parse_args()
    runs, order = dict(RUNS), args.runs.split(",")
    for extra in args.extra:
        name, _, overrides = extra.partition("=")
        runs[name] = overrides.split()
        order += [name] if name not in order else []
    if unknown := [name for name in order if name != "plain" and name not in runs]:
        parser.error(f"unknown run {unknown}: plain, {', '.join(runs)} or an --extra")
    torch.set_num_threads(os.cpu_count() or 1)
    data = DATASETS[args.dataset]
    work = Path(tempfile.mkdtemp(prefix="quality-"))
    cfg = make_cfg(*data, output_dir=work)
    datamodule = build_datamodule(cfg)
    datamodule.setup()
    scorer = Scorer(datamodule, str(ROOT / ".cache"), args.samples, epochs=1 if args.tiny else 4)
    machine = describe()
    print(
        f"Machine: {machine}; {args.dataset} {data[1:]}, "
        f"{per_run(args)} per run, {args.samples} samples; "
        f"domain classifier test accuracy {scorer.features.accuracy:.4f}"
    )
    print("\n| run | seed | iterations | domain FID | KID | precision | recall | FID / plain (same seed) |")
    print("|---|---|---|---|---|---|---|---|")
    floor = scorer.score(torch.stack([datamodule.train_set[i][0] for i in range(args.samples)]))
    fids: dict[str, list[float]] = {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        plain_fid = None
        for name in order:
            generator, iterations, images = train_and_sample(name, seed, args, datamodule, data, runs, work)
            result = scorer.score(images)
            fids.setdefault(name, []).append(result["fid"])
            if name == "plain":
                plain_fid = result["fid"]
            ratio = f"{result['fid'] / plain_fid:.2f}x" if plain_fid else "-"
            cells = [name, seed, iterations, f"{result['fid']:.2f}", f"{result['kid']:.4f}"]
            cells += [f"{result['precision']:.3f}", f"{result['recall']:.3f}", ratio]
            print("| " + " | ".join(map(str, cells)) + " |", flush=True)
    if len(args.seeds.split(",")) > 1:
        print(
            "\n| run | mean domain FID over seeds | min-max | mean FID / mean plain FID |\n|---|---|---|---|"
        )
        for name, values in fids.items():
            base = statistics.mean(fids["plain"]) if "plain" in fids else None
            ratio = f"{statistics.mean(values) / base:.2f}x" if base else "-"
            print(
                f"| {name} | {statistics.mean(values):.2f} | {min(values):.2f}-{max(values):.2f} | {ratio} |"
            )
    noise = scorer.score(torch.rand(args.samples, *floor_shape(datamodule)) * 2 - 1)
    print(
        f"\nFloor (training images vs held-out test images): FID {floor['fid']:.2f}, precision "
        f"{floor['precision']:.3f}, recall {floor['recall']:.3f}; "
        f"ceiling (uniform noise): FID {noise['fid']:.2f}"
    )


def per_run(args) -> str:
    """What every run trains for: --iterations, or else the --budget in seconds."""
    return f"{args.iterations} iterations" if args.iterations else f"{args.budget:.0f} s"


def train_and_sample(name: str, seed: int, args, datamodule, data: list[str], runs: dict, work: Path):
    """Train run `name` with `seed` for the budget; (generator, iterations, samples)."""
    if name == "plain":
        reals = torch.stack([datamodule.train_set[i][0] for i in range(len(datamodule.train_set))])
        generator, iterations = plain_loop(reals, args.budget, seed=seed, limit=args.iterations)
        return generator, iterations, sample(generator, args.samples, "gaussian", 100)
    overrides = [*data, *runs[name], f"seed={seed}"]
    generator, ckpt, iterations = framework_run(
        overrides, args.budget, work / f"{name}-{seed}", args.iterations
    )
    config = ckpt["config"]
    labels = (
        ckpt["state_dict"]["fixed_labels"] if getattr(generator, "condition", "none") == "label" else None
    )
    images = sample(generator, args.samples, config["model"]["prior"], config["model"]["latent_dim"], labels)
    return generator, iterations, images


def floor_shape(datamodule) -> tuple[int, int, int]:
    return datamodule.channels, datamodule.image_size, datamodule.image_size


if __name__ == "__main__":
    main()
