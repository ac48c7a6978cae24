"""One live run per run directory: a lock file holding the owner's PID and host.

A second run started in a directory a live run holds (same `hydra.run.dir`, or `ckpt_path=auto` while the
first still trains) would overwrite its checkpoint, config and logs: it stops with one line instead. A lock
left by a killed run (its PID no longer alive on this host) is taken over.
"""

import json
import os
import shutil
import socket
from contextlib import contextmanager
from pathlib import Path

from gan.errors import ConfigError

LOCK = ".run.lock"
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")


def other_rank() -> bool:
    """A DDP process other than rank 0: rank 0 owns the run directory."""
    return any(os.environ.get(v, "0") != "0" for v in RANK_VARIABLES)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def holder(lock: Path) -> dict | None:
    """The live run holding `lock`, or None when free or stale."""
    try:
        owner = json.loads(lock.read_text())
        pid, host = int(owner["pid"]), str(owner["host"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing or unreadable: nobody to protect
    if host != socket.gethostname():
        return owner  # cannot check a PID on another machine: assume it is alive
    return owner if pid != os.getpid() and alive(pid) else None


def save_record(run_dir: str | Path, cfg) -> None:
    """Hydra's record of the run (.hydra/config.yaml, hydra.yaml, overrides.yaml), as Hydra writes it, but
    once the run is accepted (`hydra.output_subdir: null`): Hydra writes it before the task starts, so a run
    refused in a live run's folder, or a resume refused at another batch size, rewrote that run's record."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    if not HydraConfig.initialized() or other_rank():
        return
    hydra_cfg = HydraConfig.get()
    out = Path(run_dir) / ".hydra"
    out.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, out / "config.yaml")
    OmegaConf.save(OmegaConf.create({"hydra": hydra_cfg}), out / "hydra.yaml")
    OmegaConf.save(hydra_cfg.overrides.task, out / "overrides.yaml")


def discard_if_empty(run_dir: str | Path) -> None:
    """A run that failed before writing anything leaves no directory behind (Hydra made it first)."""
    run_dir = Path(run_dir)
    if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= {".hydra", "train.log"}:
        shutil.rmtree(run_dir, ignore_errors=True)


@contextmanager
def hold(run_dir: str | Path):
    """Hold `run_dir` for this process (rank 0 only; DDP's other ranks share the directory)."""
    if other_rank():
        yield
        return
    lock = Path(run_dir) / LOCK
    owner = holder(lock)
    if owner is not None:
        raise ConfigError(
            f"run directory {run_dir} is in use by another run (PID {owner['pid']} on {owner['host']}); "
            f"wait for it to finish, or pass another hydra.run.dir (delete {lock} if that run is gone)"
        )
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    try:
        yield
    finally:
        if holder(lock) is None and lock.is_file():
            lock.unlink(missing_ok=True)
