"""Every judge at once (issue 37): Fréchet distances of sample folders in each feature space, with their
spread over 3 disjoint sample sets and the real-vs-real floor at the same sample count; a ladder of the
defects GANs make; the judges' Spearman; their agreement with blind visual choices.

    uv run python benchmarks/judges.py score --data faces logs/benchmarks/panel/samples/faces-*
    uv run python benchmarks/judges.py ladder --data shoes
    uv run python benchmarks/judges.py agree --choices one.json two.json  # after benchmarks/panel.py pairs
    uv run python benchmarks/judges.py score --tiny                     # a check that it runs (CI)

Judges: `selfsup` (the encoder the project trains on the folder, gan/metrics/selfsup.py), `mobilenet` and
`face` (pretrained by others, gan/metrics/judges.py; `face` on the faces folder only), and `inception` when
FID_WEIGHTS names its weights. Reference: one half of the folder's training images (fixed draw); the floor is
the other half against it, so every FD here is at the same count on both sides (half the training split:
~450 faces, ~535 shoes). Sample folders hold PNGs (benchmarks/panel.py sample writes them); each gives 3
disjoint sets of that count. Scores go to --out as JSON, which `agree` and `spearman` read.
"""

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe  # noqa: E402
from benchmarks.selfsup import PHOTOS, floats  # noqa: E402
from gan.build import build_datamodule  # noqa: E402
from gan.metrics.features import inception  # noqa: E402
from gan.metrics.judges import FaceJudge, MobileNetJudge, judge  # noqa: E402
from gan.metrics.selfsup import blur, frechet_distance, selfsup_encoder  # noqa: E402
from gan.pixels import as_rgb_uint8  # noqa: E402
from tests.conftest import make_cfg  # noqa: E402

OUT = ROOT / "logs" / "benchmarks" / "judges"
SETS = 3


def judges_for(dataset: str, datamodule, steps: int, names: list[str] | None = None) -> dict:
    """The default panel, or `names`: also cheaper variants, `mobilenet<px>` (MobileNetV2 at that input
    size) and `selfsup<steps>` (the encoder trained that many steps)."""
    if names is None:
        names = ["selfsup", "mobilenet"] + (["face"] if dataset == "faces" else [])
        names += ["inception"] if os.environ.get("FID_WEIGHTS") else []
    panel = {}
    for name in names:
        if name.startswith("selfsup"):
            panel[name] = selfsup_encoder(datamodule, ROOT / ".cache", steps=int(name[7:] or steps))
        elif name.startswith("mobilenet"):
            panel[name] = MobileNetJudge(size=int(name[9:]) if name[9:] else None)  # None: the run's size
        elif name == "inception":
            panel[name] = inception(os.environ.get("FID_WEIGHTS"))
        else:
            panel[name] = judge(name)
    return panel


@torch.no_grad()
def features(net, images: torch.Tensor) -> torch.Tensor:
    """uint8 RGB images in, float64 features out."""
    return torch.cat([net(part).double() for part in images.split(250)])


class Panel:
    """The real halves of one folder in every judge's features."""

    def __init__(self, dataset: str, size: int, steps: int, tiny: bool = False, names: list | None = None):
        cfg = make_cfg(*PHOTOS[dataset], f"data.image_size={size}", output_dir=OUT / "work")
        self.datamodule = build_datamodule(cfg)
        self.datamodule.setup()
        self.judges = judges_for(dataset, self.datamodule, steps, names)
        reals = as_rgb_uint8(floats(self.datamodule.train_set))
        if tiny:
            reals = reals[:96]
        self.count = len(reals) // 2
        self.splits = []
        for seed in range(SETS):  # split 0 is the reference of every sample set; 1, 2 for the floor's spread
            order = torch.randperm(len(reals), generator=torch.Generator().manual_seed(seed))
            self.splits.append((reals[order[: self.count]], reals[order[self.count : 2 * self.count]]))
        self.reference = {name: features(net, self.splits[0][0]) for name, net in self.judges.items()}

    def fds(self, images: torch.Tensor) -> dict[str, list[float]]:
        """Each judge's FD of SETS disjoint sets of `count` images against the reference half."""
        if len(images) < SETS * self.count:
            raise SystemExit(f"{len(images)} images: {SETS} x {self.count} are needed")
        sets = images[: SETS * self.count].split(self.count)
        return {name: [frechet_distance(ref, features(self.judges[name], s)) for s in sets]
                for name, ref in self.reference.items()}  # fmt: skip

    def floor(self) -> dict[str, list[float]]:
        out = {}
        for name, net in self.judges.items():
            out[name] = [frechet_distance(features(net, a), features(net, b)) for a, b in self.splits]
        return out

    def face_probability(self, images: torch.Tensor) -> float | None:
        face = self.judges.get("face")
        return float(face.face_probability(images).mean()) if isinstance(face, FaceJudge) else None


def read_folder(folder: Path) -> torch.Tensor:
    files = sorted(folder.glob("*.png"))
    return torch.stack([torch.from_numpy(np.array(Image.open(f).convert("RGB"))) for f in files]).permute(
        0, 3, 1, 2
    )


def spread(values: list[float]) -> str:
    return f"{statistics.mean(values):.4g} ± {statistics.pstdev(values):.2g}"


def score(args) -> None:
    panel = Panel(args.data, args.size, args.steps, args.tiny, args.judges)
    names = list(panel.judges)
    print(f"Machine: {describe()}; {args.data}, {args.size} px, {panel.count} images a side, {SETS} sets")
    print("| generator | " + " | ".join(f"FD {n} (mean ± sd)" for n in names) + " | face probability |")
    print("|---|" + "---|" * (len(names) + 1))
    results = {}
    floor = panel.floor()
    real_prob = panel.face_probability(panel.splits[0][1])
    print(
        f"| real: the other half | {' | '.join(spread(floor[n]) for n in names)} | {fmt(real_prob)} |",
        flush=True,
    )
    sets = {Path(f).name: lambda f=f: read_folder(Path(f)) for f in args.folders}
    if args.tiny:  # noised reals stand in for a sample folder
        sets = {"noised reals": lambda: add_noise(torch.cat([*panel.splits[0], panel.splits[1][0]]), 0.2)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, read in sets.items():
        images = read()
        fds = panel.fds(images)
        prob = panel.face_probability(images[: panel.count])
        results[name] = {"fd": fds, "face_probability": prob}
        print(f"| {name} | {' | '.join(spread(fds[n]) for n in names)} | {fmt(prob)} |", flush=True)
        record = {"data": args.data, "count": panel.count, "floor": floor, "real_face_probability": real_prob,
                  "generators": results}  # fmt: skip
        (out / f"scores-{args.data}.json").write_text(
            json.dumps(record, indent=1)
        )  # after each: a stop keeps them
    spearman_table(results, names)


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def spearman_table(results: dict, names: list[str]) -> None:
    if len(results) < 3:
        return
    means = {n: [statistics.mean(r["fd"][n]) for r in results.values()] for n in names}
    print(f"\nSpearman over the {len(results)} generators:\n| | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for a in names:
        print(f"| {a} | " + " | ".join(f"{spearmanr(means[a], means[b])[0]:.2f}" for b in names) + " |")


# ---- the defect ladder ----


def add_noise(images: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    x = images.float() / 127.5 - 1
    return as_rgb_uint8(x + sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed)))


def defects(images: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    """The defects GAN samples show, each at two strengths, on uint8 images (a copy; `images` unchanged)."""
    rng = torch.Generator().manual_seed(seed)
    x = images.float() / 127.5 - 1
    n, _, h, w = x.shape
    out = {f"blur {s:g} px": blur(x, s) for s in (0.5, 1.0)}
    out.update({f"noise {s:g}": x + s * torch.randn(x.shape, generator=rng) for s in (0.05, 0.15)})
    for share in (0.02, 0.08):  # coloured speckle: saturated dots on a share of the pixels
        mask = (torch.rand(n, 1, h, w, generator=rng) < share).float()
        colours = torch.rand(n, 3, h, w, generator=rng).round() * 2 - 1
        out[f"speckle {share:.0%}"] = x * (1 - mask) + colours * mask
    for amplitude in (1.0, 2.0):  # local warps: a smooth random displacement field, in pixels
        field = F.interpolate(torch.randn(n, 2, 4, 4, generator=rng), size=(h, w), mode="bicubic")
        grid = F.affine_grid(torch.eye(2, 3).repeat(n, 1, 1), [n, 3, h, w], align_corners=False)
        grid = grid + field.permute(0, 2, 3, 1) * amplitude * 2 / w
        out[f"warp {amplitude:g} px"] = F.grid_sample(x, grid, padding_mode="reflection", align_corners=False)
    partner = x[torch.roll(torch.arange(n), 1)]
    for alpha in (0.25, 0.5):  # two images blended
        out[f"blend {alpha:g}"] = (1 - alpha) * x + alpha * partner
    out["contrast x0.7"] = x * 0.7
    out["contrast x1.3"] = x * 1.3
    shift = torch.tensor([0.1, -0.05, -0.1]).view(1, 3, 1, 1)
    out["colour shift 0.1"], out["colour shift 0.2"] = x + shift, x + 2 * shift
    for share in (
        0.25,
        0.5,
    ):  # a mode dropped: the brightest images gone, the rest repeated to the same count
        keep = x.mean(dim=(1, 2, 3)).argsort()[: int(n * (1 - share))]
        out[f"drop brightest {share:.0%}"] = x[keep[torch.arange(n) % len(keep)]]
    return {name: as_rgb_uint8(v.clamp(-1, 1)) for name, v in out.items()}


def ladder(args) -> None:
    panel = Panel(args.data, args.size, args.steps, args.tiny, args.judges)
    names = list(panel.judges)
    floor = {n: statistics.mean(v) for n, v in panel.floor().items()}
    base = panel.splits[0][1]
    print(f"Machine: {describe()}; {args.data}, {args.size} px, {panel.count} images a side")
    print(
        "FD / the real-vs-real floor of that judge (floor: "
        + ", ".join(f"{n} {v:.4g}" for n, v in floor.items())
        + ")"
    )
    print("| defect | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    table = {}
    for name, images in defects(base).items():
        table[name] = {n: frechet_distance(panel.reference[n], features(panel.judges[n], images)) / floor[n]
                       for n in names}  # fmt: skip
        print(f"| {name} | " + " | ".join(f"{table[name][n]:.2f}x" for n in names) + " |", flush=True)
    ranks = {n: [table[d][n] for d in table] for n in names}
    print(
        "\nSpearman of the judges over the defects:\n| | "
        + " | ".join(names)
        + " |\n|---|"
        + "---|" * len(names)
    )
    for a in names:
        print(f"| {a} | " + " | ".join(f"{spearmanr(ranks[a], ranks[b])[0]:.2f}" for b in names) + " |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"ladder-{args.data}.json").write_text(json.dumps({"floor": floor, "ladder": table}, indent=1))


# ---- agreement with the blind choices ----


def agree(args) -> None:
    """Each judge's share of blind choices where the set it scores lower is the set the person chose, and
    how often the persons agree with each other. --choices: one JSON file per person, {"faces/pair_001.png":
    "A" | "B" | "same", ...}; the key is benchmarks/panel.py's pairs_key.json."""
    key = json.loads(Path(args.key).read_text())
    people = [json.loads(Path(path).read_text()) for path in args.choices]
    scores = {}
    for path in Path(args.out).glob("scores-*.json"):
        scores.update(json.loads(path.read_text())["generators"])
    print("| judge | dataset | agrees with the blind choices |\n|---|---|---|")
    for dataset in sorted({pair.split("/")[0] for choices in people for pair in choices}):
        tally: dict[str, list[int]] = {}
        for choices in people:
            for pair, choice in choices.items():
                if not pair.startswith(dataset + "/") or choice not in ("A", "B"):
                    continue
                chosen, other = (scores[key[pair][side]] for side in (choice, "B" if choice == "A" else "A"))
                for name in chosen["fd"]:
                    lower = statistics.mean(chosen["fd"][name]) < statistics.mean(other["fd"][name])
                    tally.setdefault(name, []).append(int(lower))
                if chosen.get("face_probability") is not None:
                    higher = chosen["face_probability"] > other["face_probability"]
                    tally.setdefault("face probability", []).append(int(higher))
        for name, hits in tally.items():
            print(f"| {name} | {dataset} | {sum(hits)}/{len(hits)} ({sum(hits) / len(hits):.0%}) |")
    if len(people) == 2:
        both = [p for p in people[0] if {people[0][p], people[1].get(p)} <= {"A", "B"}]
        same = sum(people[0][p] == people[1][p] for p in both)
        print(f"\nThe two persons agree on {same}/{len(both)} pairs both decided.")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=("score", "ladder", "agree"))
    parser.add_argument("folders", nargs="*", help="sample folders (PNG files)")
    parser.add_argument("--data", choices=sorted(PHOTOS), default="faces")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=1000, help="selfsup encoder steps (the run default)")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--key", default=str(ROOT / "logs" / "benchmarks" / "panel" / "pairs_key.json"))
    parser.add_argument("--choices", nargs="+", default=[], help="agree: the blind choices, JSON, per person")
    parser.add_argument("--judges", nargs="+", help="e.g. mobilenet128 selfsup300")
    parser.add_argument("--tiny", action="store_true", help="96 real images, a 20-step encoder: for CI")
    args = parser.parse_intermixed_args()
    if args.tiny:
        args.steps = 20
    torch.set_num_threads(os.cpu_count() or 1)
    {"score": score, "ladder": ladder, "agree": agree}[args.command](args)


if __name__ == "__main__":
    main()
