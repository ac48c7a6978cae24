"""Framework overhead and fast paths, measured side by side in one run; prints Markdown tables.

    uv run python benchmarks/overhead.py              # the full table (about 10 minutes on 2 CPU cores)
    uv run python benchmarks/overhead.py --tiny       # seconds: a check that the script works

Per-iteration time of GANModule training through train.py's code path (Lightning Trainer included, start-up
cancelled by differencing two run lengths) against a plain PyTorch loop with the same networks, data,
optimizer and loss, in alternating repeats; the fast options; the data pipeline; FID cost; peak memory.
"""

import argparse
import contextlib
import io
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra.utils import instantiate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe  # noqa: E402
from gan.build import build_module  # noqa: E402
from gan.run.train import train  # noqa: E402
from tests.conftest import SHARED, make_cfg  # noqa: E402

SPECS = {  # name: (overrides, batch)
    "dcgan64": (["model=dcgan", "data.image_size=64", "data.channels=3"], 64),
    "dcgan32": (["model=dcgan", "data.image_size=32", "data.channels=1"], 64),
    "mlp28": (["model=mlp", "data.image_size=28", "data.channels=1"], 64),
    "dcgan256": (["model=dcgan256", "data.image_size=256", "data.channels=3"], 16),
}
FAST = {
    "baseline": [],
    "channels_last": ["perf.channels_last=true"],
    "bf16-mixed": ["trainer.precision=bf16-mixed"],
    "unfused Adam": ["optim.generator.fused=false"],  # optim.discriminator follows optim.generator
    "foreach Adam": ["optim.generator.fused=false", "optim.generator.foreach=true"],
    "2 workers + pinned": ["data.num_workers=2", "data.pin_memory=true"],
    "torch.compile": ["perf.compile=true"],
    "channels_last + compile": ["perf.channels_last=true", "perf.compile=true"],
}


COMMON: list[str] = []  # --overrides: for the plain loop and the framework alike


def config(spec: str, iterations: int, extra: list[str], tiny: bool, out: str):
    """The run of `spec` for `iterations`; on synthetic data unless `extra` names a dataset (`data=...`)."""
    overrides, batch = SPECS[spec]
    if tiny:
        overrides = (
            [*overrides, "model.generator.ngf=8", "model.discriminator.ndf=8"]
            if "dcgan" in spec
            else overrides
        )
        batch = 4
    real = any(o.startswith("data=") for o in extra)
    data = [] if real else ["data=synthetic", f"data.dataset_size={batch * iterations}"]
    cfg = make_cfg(
        *data,
        f"data.batch_size={batch}",
        *overrides,
        "callbacks=none",
        "logger=none",
        f"max_iterations={iterations}",
        f"trainer.max_epochs={1000 if real else 1}",
        "trainer.accelerator=cpu",
        "+trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "+trainer.enable_checkpointing=false",  # Lightning's epoch-end save would land inside a difference
        *COMMON,
        *extra,
        output_dir=out,
    )
    if real:  # one decoded-image cache for every run of the benchmark
        cfg.paths.cache_dir = str(Path(tempfile.gettempdir()) / "overhead-cache")
    return cfg


def framework_seconds(spec: str, iterations: int, extra: list[str], tiny: bool) -> float:
    with tempfile.TemporaryDirectory() as out:
        cfg = config(spec, iterations, extra, tiny, out)
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            train(cfg)
        return time.perf_counter() - start


def framework_per_iter(spec: str, n: tuple[int, int], extra: list[str], tiny: bool) -> float:
    short, long = (framework_seconds(spec, k, extra, tiny) for k in n)
    if long <= short:  # start-up noise larger than the extra iterations (--tiny): the whole run's average
        return long / n[1]
    return (long - short) / (n[1] - n[0])


def networks(cfg, dm=None):
    """G and D as the framework builds them, sized by the data (`dm`, or a fresh one from cfg.data)."""
    module = build_module(cfg, instantiate(cfg.data) if dm is None else dm)
    return module.generator, module.discriminator


def plain_iteration(g, d, real, latent_dim: int, freeze_d: bool, opt_g=None, opt_d=None) -> None:
    """One iteration of the loop a user would write: non-saturating BCE, D step then G step."""
    z = torch.randn(real.shape[0], latent_dim)
    fake = g(z)
    real_logits, fake_logits = d(real), d(fake.detach())
    d_loss = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    d_loss = d_loss + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    d.zero_grad(set_to_none=True)
    d_loss.backward()
    if opt_d is not None:
        opt_d.step()
    d.requires_grad_(not freeze_d)
    logits = d(fake)
    g_loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    g.zero_grad(set_to_none=True)
    g_loss.backward()
    if opt_g is not None:
        opt_g.step()
    d.requires_grad_(True)


def plain_per_iter(
    spec: str, n: tuple[int, int], tiny: bool, freeze_d: bool = False, data: list[str] = ()
) -> float:
    """The hand-written loop: same nets, data, optimizers (the config's: fused Adam) and loss.
    `freeze_d`: D's parameters stop requiring grad in the G step (what GANModule does via toggle_optimizer),
    so no D weight gradients are computed there; the plain DCGAN-tutorial loop computes them."""
    with tempfile.TemporaryDirectory() as out:
        cfg = config(spec, n[1], list(data), tiny, out)
        torch.manual_seed(cfg.seed)
        dm = instantiate(cfg.data)
        g, d = networks(cfg, dm)
        opt_g = instantiate(cfg.optim.generator)(g.parameters())
        opt_d = instantiate(cfg.optim.discriminator)(d.parameters())
        dm.setup()
        loader = torch.utils.data.DataLoader(
            dm.train_set,
            batch_size=dm.batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=dm.num_workers,
            persistent_workers=dm.num_workers > 0,
        )
        times = []
        start = time.perf_counter()
        while len(times) < n[1]:  # epochs, until n[1] iterations
            for real, _ in loader:
                plain_iteration(g, d, real, cfg.model.latent_dim, freeze_d, opt_g, opt_d)
                times.append(time.perf_counter() - start)
                if len(times) == n[1]:
                    break
        # the same differencing as the framework: iterations n[0]..n[1]
        return (times[n[1] - 1] - times[n[0] - 1]) / (n[1] - n[0])


def spread(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} ms ({min(values) * 1000:.1f}-{max(values) * 1000:.1f})"


def overhead_table(repeats: int, tiny: bool, specs: list[str]) -> dict[str, float]:
    print(
        "\n| model | batch | plain loop | plain, D frozen in G step | GANModule + Trainer "
        "| overhead vs best plain |"
        "\n|---|---|---|---|---|---|"
    )
    medians = {}
    for spec in specs:
        lengths = {"dcgan64": (5, 25), "dcgan32": (10, 70), "mlp28": (20, 220), "dcgan256": (2, 8)}
        n = (2, 6) if tiny else lengths[spec]
        plain, frozen, framework = [], [], []
        for _ in range(repeats):  # alternating, so drifts in machine load hit all three
            plain.append(plain_per_iter(spec, n, tiny))
            frozen.append(plain_per_iter(spec, n, tiny, freeze_d=True))
            framework.append(framework_per_iter(spec, n, [], tiny))
        best = min(statistics.median(plain), statistics.median(frozen))
        medians[spec] = best
        batch = 4 if tiny else SPECS[spec][1]
        overhead = 100 * (statistics.median(framework) / best - 1)
        cells = [spec, batch, spread(plain), spread(frozen), spread(framework), f"{overhead:+.1f}%"]
        print("| " + " | ".join(map(str, cells)) + " |", flush=True)
    return medians


def fast_table(repeats: int, tiny: bool, plain: float, options: list[str]) -> None:
    print("\n| dcgan64 option | per iteration | vs plain loop |\n|---|---|---|")
    n = (2, 6) if tiny else (5, 20)
    combos = {**{k: FAST[k] for k in options}}
    for name, extra in combos.items():
        if (
            "perf.compile=true" in extra
        ):  # warm Inductor's on-disk cache so both timed runs pay the same start-up
            framework_seconds("dcgan64", n[0], extra, tiny)
        runs = [framework_per_iter("dcgan64", n, extra, tiny) for _ in range(max(1, repeats - 1))]
        print(f"| {name} | {spread(runs)} | {plain / statistics.median(runs):.2f}x |", flush=True)


def data_table(tiny: bool, step_images_per_s: float) -> None:
    from gan.data.folder import ImageFolderDataModule

    folder = SHARED / "shoes256"
    if not folder.is_dir():
        print(f"\n(data table skipped: {folder} missing)")
        return
    with tempfile.TemporaryDirectory() as cache:

        def epoch(cache_dir, workers):
            dm = ImageFolderDataModule(
                str(folder),
                image_size=64,
                batch_size=64,
                num_workers=workers,
                preprocess="pad_white",
                cache_dir=cache_dir,
            )
            start = time.perf_counter()
            dm.setup()
            n = sum(len(images) for images, _ in dm.train_dataloader())
            return n / (time.perf_counter() - start), dm.cache_hit

        cold, _ = epoch(cache, 2)
        warm, hit = epoch(cache, 0)
        assert hit, "second load should hit the cache"
    print("\n| data (shared JPEGs -> 64px) | images/s |\n|---|---|")
    print(f"| cold: decode + resize (2 threads) | {cold:,.0f} |")
    print(f"| cached (uint8 on disk) | {warm:,.0f} |")
    print(f"| consumed by dcgan64 training | {step_images_per_s:,.0f} |")
    print(f"| cached / consumed | {warm / step_images_per_s:.0f}x |")


def fid_table(tiny: bool) -> None:
    from torchmetrics.image.fid import FrechetInceptionDistance

    from gan.metrics.features import build, inception

    n = 64 if tiny else 500
    print("\n| FID feature network (CPU) | seconds per 1k generated samples |\n|---|---|")
    weights = random_inception_weights()
    for name, net in (
        ("small_conv", build("small_conv")),
        ("inception (random weights, real size)", inception(weights) if not tiny else None),
    ):
        if net is None:
            continue
        metric = FrechetInceptionDistance(feature=net)
        images = torch.randint(0, 255, (n, 3, 64, 64), dtype=torch.uint8)
        start = time.perf_counter()
        for chunk in images.split(100):
            metric.update(chunk, real=False)
        print(f"| {name} | {(time.perf_counter() - start) * 1000 / n:.1f} |", flush=True)


def random_inception_weights() -> str:
    """An Inception-v3 state dict with random weights: timings need the architecture, not the training."""
    import torch_fidelity.feature_extractor_inceptionv3 as tf

    path = Path(tempfile.gettempdir()) / "random_inception.pth"
    if not path.exists():
        original = tf.load_state_dict_from_url
        tf.load_state_dict_from_url = lambda *a, **k: None
        loader = tf.FeatureExtractorInceptionV3.load_state_dict
        tf.FeatureExtractorInceptionV3.load_state_dict = lambda self, state: None
        try:
            net = tf.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
        finally:
            tf.load_state_dict_from_url, tf.FeatureExtractorInceptionV3.load_state_dict = original, loader
        torch.save(net.state_dict(), path)
    return str(path)


def peak_memory(tiny: bool) -> None:
    """Peak RSS of one training process, measured from a fresh parent so no earlier child counts."""
    args = (
        ["debug=smoke", "data=synthetic"] if tiny else ["data=digits", "trainer.max_epochs=2", "logger=csv"]
    )
    with tempfile.TemporaryDirectory() as out:
        probe = (
            "import resource, subprocess, sys; "
            "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        command = [sys.executable, "train.py", *args, f"hydra.run.dir={out}"]
        done = subprocess.run(
            [sys.executable, "-c", probe, *command],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "TORCH_HOME": out},
        )
    print(f"\nPeak RSS of `python train.py {' '.join(args)}`: {int(done.stdout) / 1024:,.0f} MiB")


def prepare(overrides: str) -> None:
    """Every core, the --overrides for every run, Lightning quiet, the machine named (also roofline.py)."""
    torch.set_num_threads(os.cpu_count() or 1)
    COMMON.extend(overrides.split())
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    print(f"Machine: {describe()}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, one repeat: checks the script runs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sections", default="overhead,fast,data,fid,memory", help="comma-separated subset")
    parser.add_argument(
        "--specs",
        default=",".join(SPECS),
        help="models of the overhead table",
    )
    parser.add_argument(
        "--overrides",
        default="",
        help="space-separated overrides for every run, e.g. optim.generator.fused=false",
    )
    parser.add_argument(
        "--options", default=",".join(FAST), help="comma-separated subset of the fast options"
    )
    args = parser.parse_args()
    repeats = 1 if args.tiny else args.repeats
    prepare(args.overrides)
    sections = set(args.sections.split(","))
    specs = ["dcgan64", "mlp28"] if args.tiny else args.specs.split(",")
    plain = {}
    if sections & {"overhead", "fast", "data"}:  # the fast and data tables compare with dcgan64's plain loop
        plain = overhead_table(repeats, args.tiny, specs if "overhead" in sections else ["dcgan64"])
    options = ["baseline", "channels_last"] if args.tiny else args.options.split(",")
    if "fast" in sections:
        fast_table(repeats, args.tiny, plain["dcgan64"], options)
    if "data" in sections:
        data_table(args.tiny, (4 if args.tiny else 64) / plain["dcgan64"])
    if "fid" in sections:
        fid_table(args.tiny)
    if "memory" in sections:
        peak_memory(args.tiny)


if __name__ == "__main__":
    main()
