"""Does the self-supervised feature space (gan/metrics/selfsup.py) rank samples as it should? Tables.

    uv run python benchmarks/selfsup.py                                   # fashion + photos
    uv run python benchmarks/selfsup.py --sections fashion --methods simclr,simclr:noise=0.0,vicreg
    uv run python benchmarks/selfsup.py --sections photos --size 64
    uv run python benchmarks/selfsup.py --sections cost                   # encoder time and peak memory
    uv run python benchmarks/selfsup.py --tiny                            # a check that it runs

fashion: Fashion-MNIST has labels, so the domain classifier's FD (gan/metrics/classifier.py) is the
reference. A ladder of sample sets (held-out real images; the same blurred at three strengths; with added
noise at two strengths; samples of the default run, `python train.py data=fashion_mnist`, at increasing
iterations, trained here once and kept under .cache/benchmarks/) is scored against other held-out images in
both spaces; the table gives each space's FD and the Spearman correlation of its ranking with the
classifier's. The encoder is trained on the training images without their labels.

photos: on ../shared/data/shoes256 and ../shared/data/celeba-1k (data.held_out's training split, as a run
sees it), one half of the images against the other half, and that half blurred and noised: the FD should
increase strictly from real to blur 0.5 px, 1 px, 2 px to noise 0.3.

cost: seconds and peak memory of training (and validating) the encoder on 1k and 10k images at 32 and
64 px, each in a fresh process (10k images are the faces repeated: the cost depends on the steps, not the
content). Timings need a quiet machine.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe  # noqa: E402
from benchmarks.quality import sample  # noqa: E402
from gan.build import build_datamodule  # noqa: E402
from gan.checkpoint import load_checkpoint, load_generator  # noqa: E402
from gan.data.device import materialize  # noqa: E402
from gan.metrics import selfsup  # noqa: E402
from gan.metrics.classifier import domain_classifier  # noqa: E402
from gan.metrics.features import small_conv  # noqa: E402
from tests.conftest import SHARED, make_cfg  # noqa: E402

PHOTOS = {
    "shoes": ["data=sneakers", f"data.root={SHARED / 'shoes256'}"],
    "faces": ["data=celeba", f"data.root={SHARED / 'celeba-1k'}"],
}


def floats(dataset) -> torch.Tensor:
    images, _, uint8 = materialize(dataset)
    return images.float() / 127.5 - 1 if uint8 else images.float()


def fd_table(spaces: dict, reference: torch.Tensor, sets: dict[str, torch.Tensor]) -> dict[str, dict]:
    """FD of every set against `reference`, in every feature space: {space: {set: FD}}."""
    table = {}
    for name, features in spaces.items():
        ref = selfsup.embed(features, reference)
        table[name] = {k: selfsup.frechet_distance(ref, selfsup.embed(features, x)) for k, x in sets.items()}
    return table


def print_table(table: dict[str, dict], sets: list[str], reference: str | None = None, subsets=()) -> None:
    """FDs, then Spearman with `reference` over all sets and over each (label, sets) of `subsets`, or
    (no reference) whether each space's FD increases strictly down the list."""
    names = list(table)
    print("| set | " + " | ".join(f"FD {n}" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for s in sets:
        print(f"| {s} | " + " | ".join(f"{table[n][s]:.4g}" for n in names) + " |")
    if reference:
        for label, part in [(f"all {len(sets)} sets", sets), *subsets]:
            ref = [table[reference][s] for s in part]
            cells = [f"{spearmanr(ref, [table[n][s] for s in part]).statistic:.3f}" for n in names]
            print(f"| Spearman with {reference}, {label} | " + " | ".join(cells) + " |")
    else:
        verdict = []
        for n in names:
            row = [table[n][s] for s in sets]
            verdict.append("yes" if all(a < b for a, b in zip(row, row[1:], strict=False)) else "no")
        print("| strictly increasing | " + " | ".join(verdict) + " |")


def encoder_settings(spec: str, steps: int) -> dict:
    """`simclr` or `simclr:noise=0.1:steps=3000`: a method and Recipe fields (gan/metrics/selfsup.py)."""
    method, *pairs = spec.split(":")
    settings = {"method": method, "steps": steps}
    for pair in pairs:
        key, _, value = pair.partition("=")
        settings[key] = float(value) if "." in value else int(value)
    return settings


def encoders(datamodule, cache: Path, specs: list[str], steps: int) -> dict:
    spaces = {}
    for spec in specs:
        start = time.perf_counter()
        features = selfsup.selfsup_encoder(datamodule, cache, **encoder_settings(spec, steps))
        spaces[f"selfsup {spec}"] = features
        print(f"selfsup {spec}: {selfsup.summary(features.validation)} ({time.perf_counter() - start:.0f} s)")
    spaces["small_conv (random)"] = small_conv(64)
    return spaces


# ---- Fashion-MNIST: the ladder against the classifier ----


def default_run(iterations: list[int], run_dir: Path) -> list[Path]:
    """Checkpoints of `python train.py data=fashion_mnist` at `iterations` (trained once if missing)."""
    wanted = [run_dir / "checkpoints" / f"step_{2 * i:07d}.ckpt" for i in iterations]
    if all(p.is_file() for p in wanted):
        return wanted
    every = 2 * min(iterations)
    command = [
        sys.executable, "train.py", "data=fashion_mnist", f"hydra.run.dir={run_dir}",
        f"trainer.max_steps={2 * max(iterations)}", "callbacks.fid=null",
        "callbacks.progress_bar=null", "logger=csv", "callbacks.model_checkpoint.save_top_k=-1",
        f"callbacks.model_checkpoint.every_n_train_steps={every}",
    ]  # fmt: skip
    print(f"Training the default run for the ladder: {' '.join(command[1:])}", flush=True)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    missing = [p for p in wanted if not p.is_file()]
    if done.returncode != 0 or missing:
        raise SystemExit(f"the ladder run failed (missing {missing}):\n{done.stderr[-3000:]}")
    return wanted


def checkpoint_samples(path: Path, n: int) -> torch.Tensor:
    ckpt = load_checkpoint(str(path))
    model = ckpt["config"]["model"]
    return sample(load_generator(ckpt), n, model["prior"], model["latent_dim"])


def fashion(args, work: Path) -> None:
    datamodule = build_datamodule(make_cfg("data=fashion_mnist", output_dir=work))
    datamodule.setup()
    cache = ROOT / ".cache"
    n = args.samples
    classifier = domain_classifier(datamodule, cache, epochs=1 if args.tiny else 4)
    spaces = {"classifier": classifier, **encoders(datamodule, cache, args.methods, args.steps)}
    test = floats(datamodule.held_out_dataset())
    order = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))
    reference, held_out = test[order[:n]], test[order[n : 2 * n]]
    sets = selfsup.degraded(held_out)
    run_dir = Path(
        args.run_dir or cache / "benchmarks" / f"fashion-default-{'-'.join(map(str, args.iterations))}"
    )
    for i, path in zip(args.iterations, default_run(args.iterations, run_dir), strict=True):
        sets[f"default run, iteration {i}"] = checkpoint_samples(path, n)
    print(
        f"\nFashion-MNIST 32 px, {n} images per set against {n} other held-out test images; classifier "
        f"test accuracy {classifier.accuracy:.4f}; selfsup encoders trained on the training images, no labels"
    )
    table = fd_table(spaces, reference, sets)
    four = [f"default run, iteration {i}" for i in args.iterations if i in (250, 500, 1000, 2000)]
    nine = ["real", *(f"blur {b:g}" for b in selfsup.BLUR), f"noise {selfsup.NOISE[-1]:g}", *four]
    subsets = [("the 9 of the issue (noise 0.3, iterations 250-2000)", nine)] if len(four) == 4 else []
    print_table(table, list(sets), reference="classifier", subsets=subsets)


# ---- shoes and faces: real halves < blur < noise ----


def photos(args, work: Path) -> None:
    for name, overrides in PHOTOS.items():
        cfg = make_cfg(*overrides, f"data.image_size={args.size}", output_dir=work)
        datamodule = build_datamodule(cfg)
        datamodule.setup()
        if args.tiny:
            datamodule.train_set = torch.utils.data.Subset(datamodule.train_set, range(300))
        spaces = encoders(datamodule, ROOT / ".cache", args.methods, args.steps)
        images = floats(datamodule.train_set)
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
        half = len(images) // 2
        sets = selfsup.degraded(images[order[half : 2 * half]])
        print(f"\n{name}, {args.size} px: {half} training images against {half} others")
        table = fd_table(spaces, images[order[:half]], sets)
        print_table(table, list(selfsup.LADDER))
        print("noise 0.1: " + ", ".join(f"{k} {v['noise 0.1']:.4g}" for k, v in table.items()))


# ---- cost: time and peak memory of training the encoder ----


def cost_one(n: int, size: int, steps: int) -> dict:
    cfg = make_cfg(
        *PHOTOS["faces"], f"data.image_size={size}", "data.held_out=0", output_dir=tempfile.mkdtemp()
    )
    datamodule = build_datamodule(cfg)
    datamodule.setup()
    images, _, _ = materialize(datamodule.train_set)
    images = images.repeat((n + len(images) - 1) // len(images), 1, 1, 1)[:n]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    encoder = selfsup.fit_encoder(images, True, selfsup.Recipe(steps=steps))
    trained = time.perf_counter() - start
    probe = selfsup.SelfSupFeatures(encoder, 3, {}, "")
    selfsup.validate(probe, images[:2000].float() / 127.5 - 1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"train_s": trained, "validate_s": time.perf_counter() - start - trained, "rss_before_mb": before,
            "peak_mb": peak}  # fmt: skip


def cost(args) -> None:
    print(f"\n{args.steps} steps of batch 128, {torch.get_num_threads()} threads")
    print("| images | size | train | validate | peak RSS (process) | RSS before training |")
    print("|---|---|---|---|---|---|")
    for n in (1000, 10_000):
        for size in (32, 64):
            command = [sys.executable, __file__, "--cost-one", f"{n},{size}", "--steps", str(args.steps)]
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(done.stderr[-3000:])
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"| {n} | {size} px | {r['train_s']:.0f} s | {r['validate_s']:.0f} s "
                f"| {r['peak_mb']:.0f} MiB | {r['rss_before_mb']:.0f} MiB |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sections", default="fashion,photos", help="comma-separated: fashion, photos, cost")
    parser.add_argument(
        "--methods",
        default="simclr,vicreg,random",
        help=f"comma-separated, of {selfsup.METHODS}, each with Recipe fields: simclr:noise=0.1:jitter=0.0",
    )
    parser.add_argument("--steps", type=int, default=1000, help="encoder training steps")
    parser.add_argument("--size", type=int, default=32, help="photos: image size")
    parser.add_argument("--samples", type=int, default=5000, help="fashion: images per set")
    parser.add_argument(
        "--iterations", default="125,250,500,1000,2000,3000", help="fashion: checkpoints of the default run"
    )
    parser.add_argument("--run-dir", default=None, help="fashion: the default run's directory (reused)")
    parser.add_argument("--tiny", action="store_true", help="small sets and encoders: checks the script runs")
    parser.add_argument("--cost-one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.methods = args.methods.split(",")
    args.iterations = [int(i) for i in args.iterations.split(",")]
    if args.cost_one:
        n, size = map(int, args.cost_one.split(","))
        print(json.dumps(cost_one(n, size, args.steps)))
        return
    if args.tiny:
        args.steps, args.samples, args.iterations = 20, 200, [2, 4]
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)))
    machine = describe()
    print(f"Machine: {machine}; {args.steps} encoder steps")
    work = Path(tempfile.mkdtemp(prefix="selfsup-"))
    sections = args.sections.split(",")
    if "fashion" in sections:
        fashion(args, work)
    if "photos" in sections:
        photos(args, work)
    if "cost" in sections:
        cost(args)


if __name__ == "__main__":
    main()
