"""Photos at equal wall time: CelebA faces and Zappos shoes (../shared/data/), a plain PyTorch DCGAN loop
against the framework's runs, one after the other, each for `--budget` seconds of training, scored in the
self-supervised feature space a run uses offline (gan/metrics/selfsup.py).

    uv run python benchmarks/photos.py --budget 600 --seeds 0,1                # 32 px, both datasets
    uv run python benchmarks/photos.py --budget 600 --size 64
    uv run python benchmarks/photos.py --iterations 3000 --runs default modern   # equal work, not time
    uv run python benchmarks/photos.py --runs plain default "strong=experiment=modern trick=[ema,diffaugment]"
    uv run python benchmarks/photos.py --tiny                                 # a check that it runs (CI)

Runs: `plain` (the classic DCGAN loop of benchmarks/quality.py, at 32 or 64 px), `default`
(`python train.py model=dcgan`), `modern` (`experiment=modern`), and any `name=override override ...`.
Every run trains on the data's training split (`data.held_out` keeps ~10% of the files out); its samples
are scored against the training images (selfsup FD, KID, precision, recall, as `val/fid` and friends in a
run), and C_T (`val/copying`, Meehan et al. 2020) against the held-out files. The last grid of each run
(64 samples, EMA weights when the run has them) is saved under --out. Run it alone on a quiet machine.
"""

import argparse
import os
import sys
import tempfile
import warnings
from pathlib import Path

import torch
from torchvision.utils import save_image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe  # noqa: E402
from benchmarks.quality import Scorer, per_run, train_and_sample  # noqa: E402
from benchmarks.selfsup import floats  # noqa: E402
from gan.build import build_datamodule  # noqa: E402
from gan.metrics.copying import CopyingTest  # noqa: E402
from gan.metrics.selfsup import embed, selfsup_encoder  # noqa: E402
from gan.pixels import as_rgb_uint8  # noqa: E402
from tests.conftest import SHARED, make_cfg  # noqa: E402

DATASETS = {
    "faces": ["data=celeba", f"data.root={SHARED / 'celeba-1k'}"],
    "shoes": ["data=sneakers", f"data.root={SHARED / 'shoes256'}"],
}
RUNS = {"default": ["model=dcgan"], "modern": ["experiment=modern"]}  # plus `plain`, the loop


class PhotoScorer(Scorer):
    """quality.Scorer's FD/KID/precision/recall in the selfsup encoder's features, against the training
    images (the FID callback's reference for this space), plus C_T against the held-out files."""

    def __init__(self, datamodule, cache_dir: Path, steps: int):
        self.features = selfsup_encoder(datamodule, cache_dir, steps=steps)
        self.reals = floats(datamodule.train_set)
        self.real_uint8 = as_rgb_uint8(self.reals)
        self.real_features = embed(self.features, self.reals).float()
        self.held_out = floats(datamodule.held_out_dataset())
        self.copying = CopyingTest(self.real_features, embed(self.features, self.held_out))

    def score(self, images: torch.Tensor) -> dict:
        result = super().score(images)
        return {**result, "copying": self.copying(embed(self.features, images))}


def parse_runs(specs: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    names, runs = [], dict(RUNS)
    for spec in specs:
        name, _, overrides = spec.partition("=")
        if overrides:
            runs[name] = overrides.split()
        elif name != "plain" and name not in runs:
            raise SystemExit(f"--runs {name}: not plain, {', '.join(RUNS)} or name=overrides")
        names.append(name)
    return names, runs


def row(cells) -> str:
    return "| " + " | ".join(map(str, cells)) + " |"


def fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=600, help="seconds of training per run")
    parser.add_argument("--iterations", type=int, help="train every run this many iterations, not --budget")
    parser.add_argument("--size", type=int, default=32, choices=(32, 64))
    parser.add_argument("--datasets", default="faces,shoes", help=f"comma-separated, of {list(DATASETS)}")
    parser.add_argument(
        "--runs", nargs="+", default=["plain", *RUNS], help="plain, default, modern, name=overrides"
    )
    parser.add_argument("--seeds", default="0", help="comma-separated: every run once per seed")
    parser.add_argument("--samples", type=int, default=5000, help="samples scored per run")
    parser.add_argument("--steps", type=int, default=1000, help="selfsup encoder steps (the run default)")
    parser.add_argument("--out", default=str(ROOT / "logs" / "benchmarks" / "photos"), help="grids go here")
    parser.add_argument("--tiny", action="store_true", help="1 s runs, a small encoder, faces: for CI")
    args = parser.parse_args()
    if args.tiny:
        args.budget, args.samples, args.steps = min(args.budget, 1), 64, 20
    args.datasets = args.datasets or ("faces" if args.tiny else ",".join(DATASETS))
    args.runs = args.runs or (["plain", "default"] if args.tiny else ["plain", *RUNS])
    names, runs = parse_runs(args.runs)
    seeds = [int(s) for s in args.seeds.split(",")]
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)))
    warnings.filterwarnings("ignore", message="Metric `Kernel Inception Distance` will save all")
    out, work = Path(args.out), Path(tempfile.mkdtemp(prefix="photos-"))
    out.mkdir(parents=True, exist_ok=True)
    machine = describe()
    print(
        f"Machine: {machine}; {args.size} px, "
        f"{per_run(args)} per run, {args.samples} samples; selfsup encoder {args.steps} steps"
    )
    print(row(["dataset", "run", "seed", "iterations", "selfsup FD", "KID", "precision", "recall", "C_T"]))
    print("|---|---|---|---|---|---|---|---|---|")
    for dataset in args.datasets.split(","):
        data = [*DATASETS[dataset], f"data.image_size={args.size}"]
        datamodule = build_datamodule(make_cfg(*data, output_dir=work))
        datamodule.setup()
        scorer = PhotoScorer(datamodule, ROOT / ".cache", args.steps)
        floor = scorer.score(scorer.held_out)
        for seed in seeds:
            for name in names:
                _, iterations, images = train_and_sample(
                    name, seed, args, datamodule, data, runs, work / dataset
                )
                r = scorer.score(images)
                save_image(images[:64], out / f"{dataset}-{args.size}px-{name}-seed{seed}.png", nrow=8,
                           normalize=True, value_range=(-1, 1))  # fmt: skip
                cells = [dataset, name, seed, iterations, f"{r['fid']:.4g}", f"{r['kid']:.4g}"]
                cells += [f"{r['precision']:.3f}", f"{r['recall']:.3f}", fmt(r["copying"], ".2f")]
                print(row(cells), flush=True)
        print(
            row(
                [
                    dataset,
                    f"floor: the {len(scorer.held_out)} held-out real images",
                    "-",
                    "-",
                    f"{floor['fid']:.4g}",
                    f"{floor['kid']:.4g}",
                    f"{floor['precision']:.3f}",
                    f"{floor['recall']:.3f}",
                    "-",
                ]
            ),  # fmt: skip
            flush=True,
        )
    print(f"\nLast grids: {out}")


if __name__ == "__main__":
    main()
