"""Where a run keeps its checkpoints: the one spelling of `<run>/checkpoints/last.ckpt`, `best.ckpt` and
`iteration_<N>.ckpt`, for training (ckpt_path=auto, the checkpoint callbacks) and the tools (gan.generate,
gan.export write next to the run a checkpoint came from).

    from gan.paths import last_path, run_dir_of
    last_path("logs/train/runs/<date>")            # logs/train/runs/<date>/checkpoints/last.ckpt
    run_dir_of("<run>/checkpoints/best.ckpt")       # <run>

conf/callbacks/default.yaml names the same folder (`dirpath: ${paths.output_dir}/checkpoints`); a test
checks the two agree.
"""

from pathlib import Path

#: the run directory's folder of checkpoints
CHECKPOINTS = "checkpoints"
#: the checkpoint to resume from (every `every_n_iterations`, at the end, on a signal)
LAST = "last.ckpt"
#: the checkpoint with the best `optimized_metric` (lowest val/fid by default)
BEST = "best.ckpt"


def checkpoints_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINTS


def last_path(run_dir: str | Path) -> Path:
    return checkpoints_dir(run_dir) / LAST


def best_path(run_dir: str | Path) -> Path:
    return checkpoints_dir(run_dir) / BEST


def kept_name(iteration: int) -> str:
    """The copy `callbacks.model_checkpoint.keep_at` keeps of the run at `iteration`."""
    return f"iteration_{iteration}.ckpt"


def run_dir_of(ckpt_path: str | Path) -> Path:
    """The run directory a checkpoint in its `checkpoints/` folder belongs to (the tools write beside it)."""
    return Path(ckpt_path).resolve().parents[1]
