"""The studio's fuzz, longer than CI's: random and mutated requests to every endpoint of a running studio, in
one or more client threads at once; any 5xx, refusal without a sentence or answer slower than 20 s fails.

    uv run python benchmarks/studio_fuzz.py       # 20,000 requests, 2 threads, a fresh 64 px checkpoint
    uv run python benchmarks/studio_fuzz.py --ckpt <run>/checkpoints/last.ckpt --requests 50000 --threads 4

Prints a Markdown row: requests, statuses seen, seconds, requests per second, the slowest answer.
"""

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe  # noqa: E402
from benchmarks.studio import make_checkpoint  # noqa: E402
from tests.test_studio import running  # noqa: E402
from tests.test_studio_fuzz import fuzz  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ckpt", type=Path, help="a checkpoint to serve (default: a fresh 64 px DCGAN)")
    parser.add_argument("--requests", type=int, default=20_000, help="in all, shared by the threads")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = args.ckpt or make_checkpoint(Path(tmp) / "run")
        ckpt = shutil.copy(source, Path(tmp) / "fuzzed.ckpt")  # names the fuzz gives stay in the copy's cache
        results, failures = [], []

        def client(k: int) -> None:
            try:
                results.append(fuzz(server, args.requests // args.threads, args.seed + k))
            except BaseException as err:  # an assertion of the fuzz: reported below
                failures.append(err)

        with running(ckpt, search_steps=1) as server:
            started = time.perf_counter()
            threads = [threading.Thread(target=client, args=(k,)) for k in range(args.threads)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            seconds = time.perf_counter() - started
    if failures:
        raise SystemExit(f"the fuzz failed: {failures[0]!r}")
    codes: dict[int, int] = {}
    for result in results:
        for status, n in result["codes"].items():
            codes[status] = codes.get(status, 0) + n
    total = sum(codes.values())
    print(f"{describe()}\n")
    print("| requests | threads | statuses | seconds | per second | slowest answer |")
    print("|---|---|---|---|---|---|")
    seen = ", ".join(f"{status}: {n}" for status, n in sorted(codes.items()))
    slowest = max(r["slowest"] for r in results)
    print(f"| {total} | {args.threads} | {seen} | {seconds:.0f} | {total / seconds:.0f} | {slowest:.2f} s |")


if __name__ == "__main__":
    main()
