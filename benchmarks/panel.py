"""The generators the judges are checked on (issue 37): photo recipes trained on celeba-1k and shoes256 at
32 px, each kept at three lengths, sampled, and shown in blind pairs.

    uv run python benchmarks/panel.py train --datasets faces,shoes --seeds 0,1   # ~1 h on 2 cores
    uv run python benchmarks/panel.py sample                 # 3 x N samples per generator, PNG folders
    uv run python benchmarks/panel.py pairs --datasets faces  # 25 unlabeled 8x8 grid pairs + a hidden key
    uv run python benchmarks/panel.py pairs --plan ablations # each part of small_data against it
    uv run python benchmarks/judges.py agree --choices choices.json  # each judge against the blind choices
    uv run python benchmarks/panel.py train --tiny           # a check that it runs (CI)

Recipes: `default` (the DCGAN), `small_data` (experiment=small_data), its parts removed one at a time
(`sd_no_diffaugment`, `sd_lr2e4`: G's lr 2e-4 as the default's) and `modern` (the preset without perf=fast:
its fp32 ablation since small_data dropped DiffAugment); every generator with EMA weights is also sampled
without them (`<recipe>_no_ema`). Lengths are in iterations: the recipes with perf=fast run 1.5x the default's
iterations, the wall-time ratio measured on 2 cores (docs/measurements/2026-12-02-perf-fast-quality.md), so
that each length of one compares with the same length of the other at about equal compute. Every run is
trained once (a driver rerun skips finished runs); the scoring is benchmarks/judges.py.
"""

import argparse
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torchvision.utils import make_grid, save_image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gan.checkpoint import has_ema, load_checkpoint, load_generator  # noqa: E402
from gan.pixels import as_rgb_uint8  # noqa: E402
from gan.priors import sample_latent  # noqa: E402
from tests.conftest import SHARED  # noqa: E402

DATASETS = {
    "faces": ["data=celeba", f"data.root={SHARED / 'celeba-1k'}"],
    "shoes": ["data=sneakers", f"data.root={SHARED / 'shoes256'}"],
}
RECIPES = {
    "default": ["model=dcgan"],
    "small_data": ["experiment=small_data", "trick=[ema,diffaugment]"],  # the preset until 2026-12-06
    "sd_no_diffaugment": ["experiment=small_data", "trick=[ema]"],  # the preset since 2026-12-06
    "sd_lr2e4": ["experiment=small_data", "optim.generator.lr=2e-4"],
    "modern": ["experiment=modern"],
}
FP32 = {"default", "modern"}  # the others run perf=fast: 1.5x the iterations (its measured speed-up)
LENGTHS = [1000, 2000, 3000]
OUT = ROOT / "logs" / "benchmarks" / "panel"


def lengths(recipe: str, scale: float = 1.0) -> list[int]:
    base = LENGTHS if recipe in FP32 else [int(n * 1.5) for n in LENGTHS]
    return [max(2, int(n * scale)) for n in base]


def train(args) -> None:
    for dataset in args.datasets.split(","):
        for seed in args.seeds:
            for recipe in args.recipes.split(","):
                keep = lengths(recipe, args.scale)
                run = args.out / "runs" / f"{dataset}-{recipe}-seed{seed}"
                if (run / "checkpoints" / f"iteration_{keep[-1]}.ckpt").is_file():
                    continue
                command = [
                    sys.executable, "train.py", *DATASETS[dataset], *RECIPES[recipe], f"seed={seed}",
                    "data.image_size=32", f"max_iterations={keep[-1]}", f"hydra.run.dir={run}",
                    f"callbacks.model_checkpoint.keep_at=[{','.join(map(str, keep))}]",
                    "callbacks.fid=null", "callbacks.progress_bar=null", "logger=csv",
                ]  # fmt: skip
                done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
                if done.returncode != 0:
                    raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
                summary = json.loads((run / "summary.json").read_text())
                print(f"{run.name}: {summary['iteration']} iterations in {summary['wall_seconds']:.0f} s",
                      flush=True)  # fmt: skip


def generators(out: Path, datasets: list[str]):
    """(name, checkpoint, use_ema) of every kept length of every run of `datasets` under out/runs."""
    for ckpt_path in sorted(
        p for d in datasets for p in (out / "runs").glob(f"{d}-*/checkpoints/iteration_*.ckpt")
    ):
        run = ckpt_path.parents[1].name
        iteration = ckpt_path.stem.split("_")[1]
        ckpt = load_checkpoint(str(ckpt_path))
        dataset, rest = run.split("-", 1)
        recipe, seed = rest.rsplit("-", 1)
        yield f"{dataset}-{recipe}-{seed}-it{iteration}", ckpt, True
        if has_ema(ckpt):
            yield f"{dataset}-{recipe}_no_ema-{seed}-it{iteration}", ckpt, False


def sample(args) -> None:
    """Every generator's samples as PNGs in out/samples/<name>/ (fixed latents, the same for all)."""
    for name, ckpt, use_ema in generators(args.out, args.datasets.split(",")):
        folder = args.out / "samples" / name
        if folder.is_dir() and len(list(folder.glob("*.png"))) >= args.count:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        generator = load_generator(ckpt, use_ema=use_ema)
        model = ckpt["config"]["model"]
        rng = torch.Generator().manual_seed(1234)
        with torch.no_grad():
            for start in range(0, args.count, 250):
                k = min(250, args.count - start)
                z = sample_latent(model["prior"], k, model["latent_dim"], generator=rng)
                for i, image in enumerate(as_rgb_uint8(generator(z, None))):
                    Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{start + i:05d}.png")
        print(f"{name}: {args.count} samples", flush=True)


def grid_of(folder: Path, offset: int) -> torch.Tensor:
    files = sorted(folder.glob("*.png"))
    offset = max(0, min(offset, len(files) - 64))  # a folder of fewer than 128 samples: its first 64
    files = files[offset : offset + 64]
    images = [torch.from_numpy(np.array(Image.open(f).convert("RGB"))) for f in files]
    return make_grid(torch.stack(images).permute(0, 3, 1, 2).float() / 255, nrow=8, padding=1)


def planned_pairs(names: set[str], dataset: str) -> list[tuple[str, str]]:
    """The comparisons the recipe is decided on: small_data against the default at about equal compute
    (1.5x the iterations), and small_data with and without its EMA weights, wherever both were sampled."""
    out = []
    for name in sorted(names):
        recipe, seed, iteration = name.split("-")[1:]
        if recipe == "small_data":
            target = int(iteration.removeprefix("it")) / 1.5
            defaults = [n for n in names if n.startswith(f"{dataset}-default-{seed}-it")]
            match = [n for n in defaults if abs(int(n.rsplit("-it", 1)[1]) / target - 1) < 0.02]
            out += [(match[0], name)] if match else []
            no_ema = f"{dataset}-small_data_no_ema-{seed}-{iteration}"
            out += [(name, no_ema)] if no_ema in names else []
    return out


SCALES = {"faces": 1.0, "shoes": 0.6667}  # the lengths each folder was trained at (--scale of `train`)
#: the parts of the recipe, each against it at equal compute (sd_lr2e4 is built on the preset as it is,
#: without DiffAugment since 2026-12-06, so it meets sd_no_diffaugment; `modern` is that preset without
#: perf=fast); `modern` and the recipe against the default
ABLATIONS = [("small_data", "sd_no_diffaugment"), ("sd_no_diffaugment", "sd_lr2e4"),
             ("sd_no_diffaugment", "modern"), ("modern", "default"),
             ("sd_no_diffaugment", "default")]  # fmt: skip


def ablation_pairs(names: set[str], dataset: str) -> list[tuple[str, str]]:
    """Each pair of ABLATIONS at each length index, both seeds, where both were sampled: the i-th length of
    one recipe is about the compute of the i-th of the other (perf=fast's 1.5x iterations)."""
    out = []
    for seed in sorted({n.split("-")[2] for n in names}):
        for a, b in ABLATIONS:
            for la, lb in zip(lengths(a, SCALES[dataset]), lengths(b, SCALES[dataset]), strict=True):
                pair = (f"{dataset}-{a}-{seed}-it{la}", f"{dataset}-{b}-{seed}-it{lb}")
                out += [pair] if set(pair) <= names else []
    return out


def pairs(args) -> None:
    """`--per-dataset` pairs of two generators of one dataset (the planned ones, then drawn at random), each
    shown as an unlabeled 8x8 grid, left/right at random, in out/pairs/<dataset>/; the key goes to
    out/pairs_key.json, which the person choosing must not read."""
    rng = random.Random(args.seed)
    folders = sorted(p.name for p in (args.out / "samples").iterdir() if p.is_dir())
    key_path = args.out / "pairs_key.json"
    key = json.loads(key_path.read_text()) if key_path.is_file() else {}
    for dataset in args.datasets.split(","):
        mine = [f for f in folders if f.startswith(dataset + "-")]
        chosen = (ablation_pairs if args.plan == "ablations" else planned_pairs)(set(mine), dataset)
        while args.plan == "recipe" and len(chosen) < min(args.per_dataset, len(mine) * (len(mine) - 1) // 2):
            a, b = rng.sample(mine, 2)
            if (a, b) not in chosen and (b, a) not in chosen:
                chosen.append((a, b))
        rng.shuffle(chosen)
        group = dataset if args.plan == "recipe" else f"{args.plan}-{dataset}"
        pair_dir = args.out / "pairs" / group
        pair_dir.mkdir(parents=True, exist_ok=True)
        for count, (a, b) in enumerate(chosen, 1):
            left, right = (a, b) if rng.random() < 0.5 else (b, a)
            offset = rng.randrange(0, 2) * 64  # not always the same 64 latents
            both = torch.cat([grid_of(args.out / "samples" / left, offset), torch.ones(3, 8 * 33 + 1, 12),
                              grid_of(args.out / "samples" / right, offset)], dim=2)  # fmt: skip
            path = pair_dir / f"pair_{count:03d}.png"
            save_image(torch.nn.functional.interpolate(both[None], scale_factor=2, mode="nearest")[0], path)
            grids = Image.open(path)
            labelled = Image.new("RGB", (grids.width, grids.height + 28), "white")
            labelled.paste(grids, (0, 28))
            draw, font = ImageDraw.Draw(labelled), ImageFont.load_default(size=22)
            draw.text((grids.width // 4, 2), "A", fill="black", font=font)
            draw.text((3 * grids.width // 4, 2), "B", fill="black", font=font)
            labelled.save(path)
            key[f"{group}/{path.name}"] = {"A": left, "B": right}
        print(f"{len(chosen)} pairs in {pair_dir}")
    key_path.write_text(json.dumps(key, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=("train", "sample", "pairs"))
    parser.add_argument("--datasets", default="faces,shoes")
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--seeds", default="0,1", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--count", type=int, default=1500, help="samples per generator")
    parser.add_argument("--per-dataset", type=int, default=25, help="blind pairs per dataset")
    parser.add_argument("--seed", type=int, default=0, help="the pairs' draw")
    parser.add_argument("--plan", choices=("recipe", "ablations"), default="recipe",
                        help="recipe: small_data vs the default and EMA, filled at random to --per-dataset; "
                        "ablations: each part of small_data against it at equal compute")  # fmt: skip
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--scale", type=float, default=1.0, help="every length times this")
    parser.add_argument("--tiny", action="store_true", help="lengths of a few iterations: for CI")
    args = parser.parse_args()
    args.scale = 0.003 if args.tiny else args.scale
    {"train": train, "sample": sample, "pairs": pairs}[args.command](args)


if __name__ == "__main__":
    main()
