"""Summarise a Hydra multirun: one row per job with its swept values, final/best FID (or last losses),
iterations and wall time; written as Markdown, a bar chart and a contact sheet of each job's last grid.

    python -m gan.sweep_report logs/train/multiruns/<date>      # or sweep_dir=logs/train/multiruns/<date>
"""

import json
import sys
from pathlib import Path

import yaml

from gan.cli import run_tool
from gan.errors import ConfigError
from gan.run.rundir import LOCK, holder


def read_jobs(sweep_dir: Path) -> list[dict]:
    jobs = []
    for job_dir in sorted((p for p in sweep_dir.iterdir() if (p / ".hydra").is_dir()), key=job_order):
        overrides = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text()) or []
        summary_path = job_dir / "summary.json"
        summary = (
            json.loads(summary_path.read_text())
            if summary_path.is_file()
            else {"status": unfinished(job_dir)}
        )
        grids = sorted((job_dir / "samples").glob("iter_*.png"))
        jobs.append(
            {
                "dir": job_dir,
                "overrides": dict(o.split("=", 1) for o in overrides),
                "summary": summary,
                "grid": grids[-1] if grids else None,
            }
        )
    if not jobs:
        raise ConfigError(f"{sweep_dir}: no job directories (with .hydra/) found; is this a multirun dir?")
    return jobs


def job_order(job_dir: Path) -> tuple:
    """Hydra's job numbers in numeric order (2 before 10); other names after them, alphabetically."""
    return (0, int(job_dir.name), "") if job_dir.name.isdigit() else (1, 0, job_dir.name)


def unfinished(job_dir: Path) -> str:
    """A job with no summary: still "running" while a live process holds its directory, else "failed"."""
    return "running" if holder(job_dir / LOCK) is not None else "failed"


def swept_keys(jobs: list[dict]) -> list[str]:
    keys = sorted({k for job in jobs for k in job["overrides"]})
    return [k for k in keys if len({job["overrides"].get(k) for job in jobs}) > 1]


#: what may be charted: sample-quality metrics, comparable across jobs that share the real images and the
#: feature network. Losses are not (a G loss of 2.3 under BCE and 0.05 under LSGAN say nothing of quality).
CHARTED = ("val/best_fid", "val/fid")
#: swept settings that change what a FID is measured against or in which features
INCOMPARABLE = ("data", "callbacks.fid")


def chart_metric(jobs: list[dict]) -> tuple[str | None, str]:
    """The metric the bar chart shows, or None and why nothing is charted."""
    finished = [job for job in jobs if job["summary"].get("metrics")]
    metric = next((m for m in CHARTED if any(m in job["summary"]["metrics"] for job in finished)), None)
    if metric is None:
        return None, (
            "no bar chart: no job logged FID, and losses are not comparable across loss functions and "
            "tricks (turn FID on to compare jobs)"
        )
    swept = [k for k in swept_keys(jobs) if k.startswith(INCOMPARABLE)]
    if swept:
        return None, f"no bar chart: FID is not comparable across jobs that sweep {', '.join(swept)}"
    return metric, ""


def fmt(value) -> str:
    return "" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


#: further sample-quality columns, shown when a job logged them (the domain features add them offline)
QUALITY = {
    "val/precision": "precision",
    "val/recall": "recall",
    "val/copying": "copying C_T",
    "val/kid": "KID",
}


def markdown(jobs: list[dict]) -> str:
    keys = swept_keys(jobs)
    logged = {k for job in jobs for k in job["summary"].get("metrics", {})}
    quality = [k for k in QUALITY if k in logged]
    header = ["job", *keys, "final FID", "best FID", *(QUALITY[k] for k in quality)]
    header += ["d_loss", "g_loss", "iterations", "wall time"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for job in jobs:
        s, m = job["summary"], job["summary"].get("metrics", {})
        wall = f"{s['wall_seconds']:.0f} s" if "wall_seconds" in s else s.get("status", "")
        row = [
            job["dir"].name,
            *(job["overrides"].get(k, "") for k in keys),
            fmt(m.get("val/fid")),
            fmt(m.get("val/best_fid")),
            *(fmt(m.get(k)) for k in quality),
            fmt(m.get("train/d_loss")),
            fmt(m.get("train/g_loss")),
            fmt(s.get("iteration")),
            wall,
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def bar_chart(jobs: list[dict], metric: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # a failed job has no bar (0 would look best)
    jobs = [job for job in jobs if metric in job["summary"].get("metrics", {})]
    keys = swept_keys(jobs) if len(jobs) > 1 else []
    labels = [
        "\n".join(f"{k}={job['overrides'].get(k, '')}" for k in keys) or job["dir"].name for job in jobs
    ]
    values = [job["summary"]["metrics"][metric] for job in jobs]
    fig, ax = plt.subplots(figsize=(max(4, 1.6 * len(jobs)), 4))
    ax.bar(range(len(jobs)), values)
    ax.set_xticks(range(len(jobs)), labels, fontsize=7)
    ax.set_ylabel(metric)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def contact_sheet(jobs: list[dict], path: Path) -> Path | None:
    from PIL import Image, ImageDraw

    grids = [(job, Image.open(job["grid"]).convert("RGB")) for job in jobs if job["grid"] is not None]
    if not grids:
        return None
    side = 256
    sheet = Image.new("RGB", (side * len(grids), side + 16), "white")
    for i, (job, grid) in enumerate(grids):
        sheet.paste(grid.resize((side, side)), (i * side, 16))
        ImageDraw.Draw(sheet).text((i * side + 4, 2), f"job {job['dir'].name}", fill="black")
    sheet.save(path)
    return path


def report(sweep_dir: str | Path | None) -> str:
    if not sweep_dir:
        raise ConfigError("sweep_dir=null: pass the multirun directory, e.g. logs/train/multiruns/<date>")
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise ConfigError(f"{sweep_dir}: no such sweep directory")
    jobs = read_jobs(sweep_dir)
    table = markdown(jobs)
    metric, why_not = chart_metric(jobs)
    chart = sweep_dir / "report.png"
    if metric is not None:
        bar_chart(jobs, metric, chart)
        note = f"report.png charts {metric}."
    else:
        chart.unlink(missing_ok=True)
        note = why_not[0].upper() + why_not[1:] + "."
    (sweep_dir / "report.md").write_text(f"# Sweep {sweep_dir.name}\n\n{table}\n\n{note}\n")
    contact_sheet(jobs, sweep_dir / "contact_sheet.png")
    return f"{table}\n\n{note}"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if len(argv) == 1 and "=" not in argv[0] and not argv[0].startswith("-"):
        argv = [f"sweep_dir='{argv[0]}'"]  # the directory alone, as before options existed
    run_tool("sweep_report", __doc__, lambda args: print(report(args["sweep_dir"])), argv)


if __name__ == "__main__":
    main()
