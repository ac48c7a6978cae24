"""How fast the studio answers a page draw; prints a Markdown table.

    uv run python benchmarks/studio.py                      # a 64 px DCGAN (made here unless --ckpt)
    uv run python benchmarks/studio.py --ckpt <run>/checkpoints/last.ckpt --draws 50

The studio runs as a user runs it (`python -m gan.studio` in its own process). "server" is the time from
sending POST /api/page to having the whole JSON answer (latents and PNGs) in a client on the same machine;
"browser" is what the page itself reports after a click on "Draw page" in headless Chromium: request,
answer, and every image decoded (only when Debian's chromium and chromium-driver are installed).
"""

import argparse
import json
import os
import platform
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


def start_studio(ckpt: Path, port: int) -> subprocess.Popen:
    studio = subprocess.Popen(
        [sys.executable, "-m", "gan.studio", f"ckpt_path={ckpt}", f"port={port}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = studio.stdout.readline()
    if "Studio for" not in line:
        raise SystemExit(f"the studio did not start: {line}")
    return studio


def server_times(url: str, count: int, draws: int) -> list[float]:
    times = []
    for seed in range(draws + 1):
        body = json.dumps({"seed": seed, "count": count}).encode()
        start = time.perf_counter()
        with urllib.request.urlopen(urllib.request.Request(url + "api/page", data=body, method="POST")) as r:
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


def row(what: str, count: int, times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p90 = ms[min(len(ms) - 1, int(0.9 * len(ms)))]
    return f"| {what} | {count} | {statistics.median(ms):.0f} ms | {p90:.0f} ms | {ms[-1]:.0f} ms |"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ckpt", type=Path, help="a checkpoint to serve (default: a fresh 64 px DCGAN)")
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--counts", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--port", type=int, default=7871)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = args.ckpt or make_checkpoint(Path(tmp) / "run")
        studio = start_studio(ckpt, args.port)
        url = f"http://127.0.0.1:{args.port}/"
        try:
            rows = []
            for count in args.counts:
                rows.append(row("server", count, server_times(url, count, args.draws)))
                browser = browser_times(url, count, args.draws)
                rows.append(row("browser", count, browser) if browser else f"| browser | {count} | n/a | | |")
        finally:
            studio.terminate()
    print(
        f"Studio page draw, {args.draws} draws each: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__}, threads {torch.get_num_threads()}"
    )
    print("| measured at | designs per page | median | p90 | max |\n|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
