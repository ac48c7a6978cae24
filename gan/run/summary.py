"""`summary.json` in the run directory: how the run ended, its counters, wall time (this segment's and the
whole run's) and the last value of
every metric (a resumed run's earlier ones included); what `gan.sweep_report` reads. Written atomically, or
skipped with one line (a full disk)."""

import json
import time
from pathlib import Path

import lightning as L

from gan.io import non_essential, write_text


class Summary(L.Callback):
    """Also a Callback, for its clock alone: every checkpoint holds the run's wall time and segment so far,
    so a run resumed after a kill -9 (which writes no summary.json) still counts the lost segment's time."""

    def __init__(self, run_dir: str | Path, resumed: bool = False):
        self.path, self.start = Path(run_dir) / "summary.json", time.perf_counter()
        # a resumed run keeps the metrics it logged before (a resume with nothing left to train logs none)
        before = self.read() if resumed else {}
        self.earlier = before.get("metrics", {})
        self.earlier_seconds = before.get("total_wall_seconds", before.get("wall_seconds", 0.0))
        self.segments = before.get("segments", 1 if before else 0) + 1

    def state_dict(self) -> dict:
        return {"total_wall_seconds": self.total_seconds, "segments": self.segments}

    def load_state_dict(self, state: dict) -> None:
        self.earlier_seconds = max(self.earlier_seconds, state["total_wall_seconds"])
        self.segments = max(self.segments, state["segments"] + 1)

    def read(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    @property
    def total_seconds(self) -> float:
        """Wall time of every segment of the run (a resumed run's earlier ones included)."""
        return self.earlier_seconds + time.perf_counter() - self.start

    def write(self, status: str, trainer=None, module=None) -> None:
        metrics = trainer.callback_metrics if trainer is not None else {}
        seconds = time.perf_counter() - self.start
        summary = {
            "status": status,
            "iteration": getattr(module, "iteration", 0),
            "d_steps": getattr(module, "d_steps", 0),
            "g_steps": getattr(module, "g_steps", 0),
            "wall_seconds": seconds,
            "total_wall_seconds": self.earlier_seconds + seconds,
            "segments": self.segments,
            "metrics": {**self.earlier, **{k: float(v) for k, v in metrics.items() if v.numel() == 1}},
        }
        with non_essential(str(self.path)):
            write_text(self.path, json.dumps(summary, indent=1))
