"""One training run from a composed config; `train.py` is the command-line entry point."""

import logging
import os
import signal
import warnings

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from gan.build import build_datamodule, build_module, build_trainer, git_commit, resolve_ckpt_path
from gan.callbacks.fid import FID
from gan.callbacks.interrupt import SaveOnSignal, StoppedBySignal
from gan.errors import ConfigError
from gan.guard import DivergenceError
from gan.loggers import finish_wandb
from gan.run.clock import say
from gan.run.ending import end_block, no_checkpoint, worker_died
from gan.run.resume import check_resume
from gan.run.rundir import hold, save_record
from gan.run.summary import Summary
from gan.run.transfer import transfer
from gan.run.validate import validate

log = logging.getLogger(__name__)


def output_dir(cfg: DictConfig) -> str:
    return cfg.paths.output_dir if "paths" in cfg else HydraConfig.get().runtime.output_dir


class DropNoise(logging.Filter):
    """Lightning lines a user can do nothing about or that say again what ours say: its advert for a cloud
    logger, GPU/TPU/HPU status on machines that have none, its note that our own summary callback replaces its
    table, bf16 AMP (gan.perf's line), the time limit (the end block)."""

    NOISE = (
        "💡 Tip:",
        "GPU available: False, used: False",
        "TPU available: False",
        "HPU available: False",
        "Trainer already configured with model summary callbacks",
        "Using bfloat16 Automatic Mixed Precision",  # gan.perf says which precision, and why
        "Time limit reached.",  # its elapsed time includes the final FID's set-aside: the end block says it
    )

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.NOISE)


def quiet_lightning() -> None:
    """Every log line once, and in the run's log file. Lightning's package loggers get their own console
    handler when Lightning is imported before the root logger has one (then they stop propagating, so the
    run's log file misses them) or print a line twice beside Hydra's handler: under Hydra, their handlers go
    and Hydra's root handlers print each line once."""
    if logging.getLogger().hasHandlers():  # Lightning imported before Hydra's set-up adds its own handlers
        for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
            own = logging.getLogger(name)
            for handler in list(own.handlers):
                own.removeHandler(handler)
            own.propagate = True
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        if not any(isinstance(f, DropNoise) for f in logging.getLogger(name).filters):
            logging.getLogger(name).addFilter(DropNoise())
    # torch.compile on a CPU-only machine: "No CUDA runtime is found" from the C++ extension loader
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    # torch 2.14 deprecates LeafSpec, which Lightning 2.6's internals still build on every fit
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning)
    # torchmetrics' note that KID and IS keep their features in memory: 5k samples of small features
    warnings.filterwarnings(
        "ignore", message=r"Metric `(Kernel Inception Distance|InceptionScore)` will save"
    )
    # our rows go out every log_every_n_steps iterations across epochs (gan/loggers.py), however short
    warnings.filterwarnings("ignore", message=r"The number of training batches \(\d+\) is smaller than")
    # Lightning cannot see that our sampler resumes mid-epoch exactly (gan/data/sampler.py, tested)
    warnings.filterwarnings(
        "ignore", message=r"You're resuming from a checkpoint that ended before the epoch"
    )


def sweeping() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def optimising() -> bool:
    """A sweeper that reads the returned metric (Optuna, ...), not Hydra's basic grid sweeper."""
    return sweeping() and "BasicSweeper" not in str(HydraConfig.get().sweeper.get("_target_"))


def check_metric(cfg: DictConfig, trainer, datamodule) -> None:
    """In a sweep, the metric the sweeper optimises must be logged: else every trial would train, then
    the sweeper fail at the end with no completed trial. The val/* metrics come from the fid callback."""
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
    datamodule.setup("fit")  # an empty folder, a batch larger than the data: refused before any file
    module = build_module(cfg, datamodule)
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), output_dir(cfg))
    if cfg.get("init_from") and not ckpt_path:  # a resume already holds the transferred weights
        transfer(module, cfg.init_from)
    resumed_at = check_resume(ckpt_path, module.config, cfg.data.batch_size) if ckpt_path else 0
    trainer = build_trainer(cfg)
    check_metric(cfg, trainer, datamodule)
    save_record(output_dir(cfg), cfg)
    for logger in trainer.loggers:  # each keeps what was logged up to the checkpoint, none after it
        if hasattr(logger, "resume_at"):
            logger.resume_at(resumed_at)
    summary = Summary(output_dir(cfg), resumed=bool(ckpt_path))
    trainer.callbacks.append(summary)
    for callback in trainer.callbacks:
        if isinstance(callback, SaveOnSignal):
            callback.summary = summary
    if trainer.is_global_zero:
        say(f"Run directory: {output_dir(cfg)}")
    hparams = OmegaConf.to_container(cfg, resolve=True)
    hparams["git_commit"] = git_commit()
    for logger in trainer.loggers:
        logger.log_hyperparams(hparams)
    status, missing = "failed", None
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
        missing = no_checkpoint(trainer)
        status = "finished, no checkpoint saved" if missing else "finished"
    except StoppedBySignal as stop:
        status = f"stopped by {signal.Signals(stop.signum).name}, checkpoint saved"
        # the same signal again while exiting (`uv run` and srun forward what the group already got): leave at
        # once with the same code, not with a KeyboardInterrupt traceback from an atexit hook
        signal.signal(stop.signum, lambda signum, frame: os._exit(128 + signum))
        raise SystemExit(128 + stop.signum) from None
    except DivergenceError:
        status = "diverged"
        raise
    except RuntimeError as err:
        if (message := worker_died(err, trainer, module)) is None:
            raise
        status = "failed: a data loader worker died"
        log.error(message)
        raise SystemExit(1) from None
    finally:
        finish_wandb()
        if trainer.is_global_zero:
            summary.write(status, trainer, module)
    if trainer.is_global_zero:
        say("\n".join(end_block(trainer, module, summary.total_seconds, summary.segments, output_dir(cfg))))
    if missing:
        log.error(missing)
        raise SystemExit(1)
    metric = cfg.get("optimized_metric")
    value = trainer.callback_metrics.get(metric) if metric else None
    if metric and value is None and optimising():
        log.warning("optimized_metric=%s was not logged (is FID off?); returning None to the sweeper", metric)
    return float(value) if value is not None else None
