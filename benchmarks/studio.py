"""How fast the studio answers, and how close a photo search gets; prints Markdown tables.

    uv run python benchmarks/studio.py                   # page draws, a 64 px DCGAN (made here unless --ckpt)
    uv run python benchmarks/studio.py --ckpt <run>/checkpoints/last.ckpt --draws 50
    uv run python benchmarks/studio.py --what directions steer --ckpt ...    # directions, a steered page
    uv run python benchmarks/studio.py --what projection --ckpt <shoes.ckpt> --photos <dir> --photo-count 20

The studio runs as a user runs it (`python -m gan.studio` in its own process). "server" is the time from
sending the request to having the whole JSON answer (latents and PNGs) in a client on the same machine;
"browser" is what the page itself reports in headless Chromium: request, answer, and every image decoded
(only when Debian's chromium and chromium-driver are installed). A page draw is POST /api/page; a steered
page is what moving one slider costs, POST /api/strips for a design with two steps (the design and the 8 x 5
previews, 41 images). Directions: `gan.studio.directions.compute` on the checkpoint's generator, in this
process.

Projection: each photo (the first `--photo-count` of the folder, sorted) is searched as the studio searches it
(`gan.studio.projection.project`, default settings), and compared with the nearest of `--random` random
designs
(seed 1), nearest under each distance separately, so the baseline is the best random design for every
column. Distances: pixel RMSE in [0, 1]; D's features (what the search's loss uses, so it favours the
search); features of a fixed random conv net not in the loss (random networks' features already track
perceptual similarity far better than pixels, Zhang et al. 2018), both as gan.studio.projection measures them.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe  # noqa: E402


def make_checkpoint(out: Path) -> Path:
    overrides = [
        "debug=smoke",
        "data=synthetic",
        "data.image_size=64",
        "model=dcgan",
        f"paths.output_dir={out}",
    ]
    subprocess.run([sys.executable, "train.py", *overrides], cwd=ROOT, check=True, capture_output=True)
    return out / "checkpoints" / "last.ckpt"


def start_studio(ckpt: Path, port: int) -> tuple[subprocess.Popen, str]:
    """The studio's process and the address it printed (with its token)."""
    studio = subprocess.Popen(
        [sys.executable, "-m", "gan.studio", f"ckpt_path={ckpt}", f"port={port}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = studio.stdout.readline()
    if "Studio for" not in line:
        raise SystemExit(f"the studio did not start: {line}")
    return studio, line.split(" at ")[-1].split()[0]


def api(url: str, path: str) -> tuple[str, dict]:
    """The API address under the studio's `url` and the headers its page sends (JSON, the token)."""
    base, _, token = url.partition("?token=")
    return base + path, {"Content-Type": "application/json", "X-Studio-Token": token}


def server_times(url: str, count: int, draws: int) -> list[float]:
    times = []
    for seed in range(draws + 1):
        body = json.dumps({"seed": seed, "count": count}).encode()
        start = time.perf_counter()
        address, headers = api(url, "api/page")
        request = urllib.request.Request(address, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request) as r:
            json.loads(r.read())
        times.append(time.perf_counter() - start)
    return times[1:]  # the first draw warms up the allocator


def browser_times(url: str, count: int, draws: int) -> list[float] | None:
    if not Path("/usr/bin/chromedriver").exists():
        return None
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(url)
        wait = WebDriverWait(driver, 30)
        wait.until(lambda d: "drawn in" in d.find_element(By.ID, "status").text)
        Select(driver.find_element(By.ID, "count")).select_by_visible_text(str(count))
        times = []
        for seed in range(1, draws + 2):
            driver.execute_script("document.getElementById('status').textContent = ''")
            field = driver.find_element(By.ID, "seed")
            field.clear()
            field.send_keys(str(seed))
            driver.find_element(By.ID, "draw").click()
            wait.until(lambda d: "drawn in" in d.find_element(By.ID, "status").text)
            status = driver.find_element(By.ID, "status").text
            times.append(float(re.search(r"drawn in ([0-9.]+) s", status).group(1)))
        return times[1:]
    finally:
        driver.quit()


def steer_server_times(url: str, draws: int) -> list[float]:
    """POST /api/strips for a design with two steps: what one slider move costs the page."""
    post(url, "api/directions", {})
    design = post(url, "api/page", {"seed": 0, "count": 1})["designs"][0]
    times = []
    for i in range(draws + 1):
        design["steps"] = [{"direction": 0, "sigma": 1.5}, {"direction": 2, "sigma": -1.0 + 0.1 * i}]
        start = time.perf_counter()
        post(url, "api/strips", {"design": design})
        times.append(time.perf_counter() - start)
    return times[1:]


def steer_browser_times(url: str, draws: int) -> list[float] | None:
    """The page's own "Steered in x s" after a slider moves: the request and the 41 images decoded."""
    if not Path("/usr/bin/chromedriver").exists():
        return None
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chromium()
    try:
        driver.get(url)
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: "style directions" in d.find_element(By.ID, "dir-status").text)
        driver.find_elements(By.CSS_SELECTOR, "#page .design")[0].click()
        driver.find_element(By.CSS_SELECTOR, "#pinned .steer").click()
        times = []
        for i in range(draws + 1):
            wait.until(lambda d: "Steered in" in d.find_element(By.ID, "status").text)
            if i:
                status = driver.find_element(By.ID, "status").text
                times.append(float(re.search(r"Steered in ([0-9.]+) s", status).group(1)))
            driver.execute_script(
                "document.getElementById('status').textContent = '';"
                "const s = document.querySelector('.dir-slider'); s.value = arguments[0];"
                "s.dispatchEvent(new Event('change'));",
                str(round(-2 + 0.2 * (i % 20), 1)),
            )
        return times[1:]
    finally:
        driver.quit()


def post(url: str, path: str, body: dict) -> dict:
    address, headers = api(url, path)
    request = urllib.request.Request(address, data=json.dumps(body).encode(), headers=headers, method="POST")
    with urllib.request.urlopen(request) as r:
        return json.loads(r.read())


def chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def direction_times(ckpt: Path, repeats: int) -> list[float]:
    from gan.checkpoint import load_checkpoint, load_generator
    from gan.studio.app import Studio
    from gan.studio.directions import compute

    studio = Studio(str(ckpt))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        compute(
            load_generator(load_checkpoint(ckpt)), studio.prior, studio.latent_dim, studio.condition_batch
        )
        times.append(time.perf_counter() - start)
    return times


class RandomConv(torch.nn.Module):
    """A fixed, seeded, untrained conv net; LPIPS-style unit-normalised features at three scales."""

    def __init__(self, channels: int = 3):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        widths, layers = [channels, 32, 64, 128], []
        for a, b in zip(widths, widths[1:], strict=False):
            conv = torch.nn.Conv2d(a, b, 4, 2, 1)
            conv.weight.data = torch.randn(conv.weight.shape, generator=gen) * (2 / (a * 16)) ** 0.5
            conv.bias.data.zero_()
            layers.append(conv)
        self.layers = torch.nn.ModuleList(layers).requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        from gan.studio.projection import unit

        out = []
        for conv in self.layers:
            x = torch.nn.functional.leaky_relu(conv(x), 0.2)
            out.append(unit(x))
        return out


def squared(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[len(a), len(b)] squared distances of the flattened rows, by matrix product (no n x m x D tensor)."""
    a, b = a.flatten(1).double(), b.flatten(1).double()
    return (a.square().sum(1)[:, None] + b.square().sum(1)[None] - 2 * a @ b.T).clamp_min(0).float()


def distances(designs: torch.Tensor, photos: torch.Tensor, d_features, conv: RandomConv) -> dict:
    """[designs, photos] distances of every kind, as the search measures them (images in [-1, 1])."""
    pixel = (squared(designs, photos) / designs[0].numel()).sqrt() / 2  # RMSE in [0, 1] units

    def features(a, b):  # gan.studio.projection.feature_distance between every pair
        return torch.stack([squared(x, y) / x[0, 0].numel() for x, y in zip(a, b, strict=True)]).mean(0)

    d = features(d_features(designs, None), d_features(photos, None))
    return {"pixel": pixel, "d": d, "conv": features(conv(designs), conv(photos))}


def projection_table(ckpt: Path, folder: Path, count: int, random: int) -> list[str]:
    from PIL import Image

    from gan.checkpoint import load_checkpoint, load_discriminator, load_generator
    from gan.data.images import list_images
    from gan.priors import sample_latent
    from gan.studio.photo import prepare
    from gan.studio.projection import DFeatures, project

    ckpt_data = load_checkpoint(ckpt)
    generator, discriminator = load_generator(ckpt_data).requires_grad_(False), load_discriminator(ckpt_data)
    config = ckpt_data["config"]
    if config["model"]["generator"]["_target_"].endswith("ConditionalGenerator"):
        raise SystemExit("the projection benchmark takes an unconditional checkpoint")
    prior, dim, data = config["model"]["prior"], config["model"]["latent_dim"], config.get("data", {})
    with torch.no_grad():
        channels, size = generator(torch.zeros(1, dim)).shape[1], generator(torch.zeros(1, dim)).shape[-1]
    files = list_images(folder)[:count]
    photos = torch.stack(
        [
            prepare(Image.open(f), channels, size, data.get("preprocess") or "resize_crop", data.get("crop"))
            for f in files
        ]
    )
    d_features, conv = DFeatures(discriminator, photos[:1], None), RandomConv(channels)
    better = {"pixel": min, "d": min, "conv": min}
    nearest = {k: None for k in better}
    start = time.perf_counter()
    z = sample_latent(prior, random, dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for i in range(0, random, 100):
            found = distances(generator(z[i : i + 100]), photos, d_features, conv)
            for k, pick in better.items():
                best = (found[k].min(0) if pick is min else found[k].max(0)).values
                nearest[k] = (
                    best
                    if nearest[k] is None
                    else (torch.minimum if pick is min else torch.maximum)(nearest[k], best)
                )
    random_seconds = time.perf_counter() - start
    projected, seconds = [], []
    for photo in photos:
        result = project(generator, discriminator, photo, prior, dim, None)
        seconds.append(result.seconds)
        with torch.no_grad():
            projected.append(generator(result.z[None])[0])
    with torch.no_grad():
        mine = distances(torch.stack(projected), photos, d_features, conv)
    mine = {k: v.diagonal() for k, v in mine.items()}
    wins = {
        k: int(((mine[k] < nearest[k]) if better[k] is min else (mine[k] > nearest[k])).sum()) for k in better
    }
    n, kinds = len(files), list(better)

    def cells(values):
        return " | ".join(f"{values[k].mean():.4f}" for k in kinds)

    return [
        f"Projection of {n} photos of {folder} on {ckpt}: nearest of {random} random designs (scored in "
        f"{random_seconds:.0f} s) against the search; means over the photos",
        "| design | pixel RMSE | D-feature distance (in the loss) | random-conv distance | s per photo |",
        "|---|---|---|---|---|",
        f"| nearest of {random} random | {cells(nearest)} | |",
        f"| projection | {cells(mine)} | {statistics.median(seconds):.1f} median, {max(seconds):.1f} max |",
        "| photos where the projection is closer | " + " | ".join(f"{wins[k]}/{n}" for k in kinds) + " | |",
    ]


def row(what: str, count: int, times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p90 = ms[min(len(ms) - 1, int(0.9 * len(ms)))]
    return f"| {what} | {count} | {statistics.median(ms):.0f} ms | {p90:.0f} ms | {ms[-1]:.0f} ms |"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ckpt", type=Path, help="a checkpoint to serve (default: a fresh 64 px DCGAN)")
    parser.add_argument(
        "--what", nargs="+", default=["page"], choices=["page", "directions", "steer", "projection"]
    )
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--counts", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--port", type=int, default=7871)
    parser.add_argument("--photos", type=Path, help="a folder of photos to search (projection)")
    parser.add_argument("--photo-count", type=int, default=20)
    parser.add_argument("--random", type=int, default=10_000, help="random designs the search must beat")
    args = parser.parse_args()
    rows, tables = [], []
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = args.ckpt or make_checkpoint(Path(tmp) / "run")
        if "directions" in args.what:
            times = direction_times(ckpt, 2)
            tables.append(
                f"Directions (gan.studio.directions.compute): {', '.join(f'{t:.1f} s' for t in times)}"
            )
        if {"page", "steer"} & set(args.what):
            studio, url = start_studio(ckpt, args.port)
            try:
                for count in args.counts if "page" in args.what else []:
                    rows.append(row("server", count, server_times(url, count, args.draws)))
                    browser = browser_times(url, count, args.draws)
                    rows.append(
                        row("browser", count, browser) if browser else f"| browser | {count} | n/a | | |"
                    )
                if "steer" in args.what:
                    rows.append(row("server, steered", 41, steer_server_times(url, args.draws)))
                    browser = steer_browser_times(url, args.draws)
                    rows.append(
                        row("browser, steered", 41, browser)
                        if browser
                        else "| browser, steered | 41 | n/a | | |"
                    )
            finally:
                studio.terminate()
        if "projection" in args.what:
            if args.photos is None:
                raise SystemExit("--what projection needs --photos <folder>")
            tables.append("\n".join(projection_table(ckpt, args.photos, args.photo_count, args.random)))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"{describe()}, "
        f"threads {torch.get_num_threads()}, load average {load} (other processes share the cores)"
    )
    if rows:
        print(f"Studio answers, {args.draws} each after one warm-up:")
        print("| measured at | designs per answer | median | p90 | max |\n|---|---|---|---|---|")
        print("\n".join(rows))
    for table in tables:
        print("\n" + table)


if __name__ == "__main__":
    main()
