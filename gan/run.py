"""One training run from a composed config; `train.py` is the command-line entry point."""

import json
import logging
import time
import warnings
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from gan.build import (
    build_datamodule,
    build_module,
    build_trainer,
    check_resume,
    git_commit,
    resolve_ckpt_path,
)
from gan.callbacks.interrupt import StoppedBySignal
from gan.errors import ConfigError
from gan.loggers import finish_wandb
from gan.rundir import hold
from gan.validate import validate

log = logging.getLogger(__name__)


def output_dir(cfg: DictConfig) -> str:
    return cfg.paths.output_dir if "paths" in cfg else HydraConfig.get().runtime.output_dir


class DropNoise(logging.Filter):
    """Lightning lines a user can do nothing about: its advert for a cloud logger, and TPU/HPU status on
    machines that have none."""

    NOISE = ("💡 Tip:", "TPU available: False", "HPU available: False")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.NOISE)


def quiet_lightning() -> None:
    """Every log line once. The `lightning` package logger has its own console handler and also propagates
    to the root logger, where Hydra's handler prints the line a second time (and into the run's log file):
    under Hydra, Lightning's own handler goes."""
    lightning_log = logging.getLogger("lightning")
    if logging.getLogger().hasHandlers():
        for handler in list(lightning_log.handlers):
            lightning_log.removeHandler(handler)
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        if not any(isinstance(f, DropNoise) for f in logging.getLogger(name).filters):
            logging.getLogger(name).addFilter(DropNoise())
    # torch 2.14 deprecates LeafSpec, which Lightning 2.6's internals still build on every fit
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning)


def sweeping() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def optimising() -> bool:
    """A sweeper that reads the returned metric (Optuna, ...), not Hydra's basic grid sweeper."""
    return sweeping() and "BasicSweeper" not in str(HydraConfig.get().sweeper.get("_target_"))


def check_metric(cfg: DictConfig, trainer, datamodule) -> None:
    """In a sweep, the metric the sweeper optimises must be logged: else every trial would train, then
    the sweeper fail at the end with no completed trial. The val/* metrics come from the fid callback."""
    from gan.callbacks.fid import FID

    metric = cfg.get("optimized_metric")
    if not (metric and optimising() and str(metric).startswith("val/")):
        return
    fid = next((c for c in trainer.callbacks if isinstance(c, FID)), None)
    offline = getattr(datamodule, "domain_fid", False) or getattr(datamodule, "selfsup_fid", False)
    if fid is None or not (fid.enabled or offline):
        why = "callbacks.fid=null" if fid is None else "no Inception weights"
        raise ConfigError(
            f"optimized_metric={metric} needs FID, which is off for this run ({why}): set FID_WEIGHTS in "
            ".env, or callbacks.fid.feature.name=classifier on labelled data, or small_conv for a quick proxy"
        )


def train(cfg: DictConfig) -> float | None:
    """Validate, build, fit; returns the monitored metric (`optimized_metric`) for Hydra sweepers."""
    quiet_lightning()
    validate(cfg)
    with hold(output_dir(cfg)):
        return fit(cfg)


def fit(cfg: DictConfig) -> float | None:
    import lightning as L

    L.seed_everything(cfg.seed, workers=True)
    datamodule = build_datamodule(cfg)
    module = build_module(cfg, datamodule)
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), output_dir(cfg))
    if ckpt_path:
        check_resume(ckpt_path, module.config, cfg.data.batch_size)
    trainer = build_trainer(cfg)
    check_metric(cfg, trainer, datamodule)
    print(f"Run directory: {output_dir(cfg)}", flush=True)
    start = time.perf_counter()
    hparams = OmegaConf.to_container(cfg, resolve=True)
    hparams["git_commit"] = git_commit()
    for logger in trainer.loggers:
        logger.log_hyperparams(hparams)
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    except StoppedBySignal as stop:
        raise SystemExit(128 + stop.signum) from None
    finally:
        finish_wandb()
    write_summary(Path(output_dir(cfg)), trainer, module, time.perf_counter() - start)
    metric = cfg.get("optimized_metric")
    value = trainer.callback_metrics.get(metric) if metric else None
    if metric and value is None and optimising():
        log.warning("optimized_metric=%s was not logged (is FID off?); returning None to the sweeper", metric)
    return float(value) if value is not None else None


def write_summary(run_dir: Path, trainer, module, seconds: float) -> None:
    """What `gan.sweep_report` reads: counters, wall time and the last value of every metric."""
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    summary = {
        "iteration": module.iteration,
        "d_steps": module.d_steps,
        "g_steps": module.g_steps,
        "wall_seconds": seconds,
        "metrics": metrics,
        "status": "finished",
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
