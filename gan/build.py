"""Build a run's parts from its config: datamodule, GANModule, callbacks, loggers, trainer."""

import fnmatch
import inspect
import logging
import os
import subprocess

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf

from gan.callbacks.budget import IterationBudget
from gan.callbacks.io import SafeCheckpointIO
from gan.checkpoint import load_checkpoint
from gan.data.base import GANDataModule
from gan.errors import ConfigError, instantiate
from gan.module import GANModule

log = logging.getLogger(__name__)

#: constructor arguments of G and D that describe the data: they come from the built datamodule
DATA_VALUES = ("image_size", "channels", "num_classes")


def data_values(node: DictConfig, where: str, datamodule: GANDataModule) -> dict:
    """The arguments of `node`'s constructor that the data decides, read from the datamodule."""
    params = inspect.signature(get_object(node._target_)).parameters
    values = {key: getattr(datamodule, key) for key in DATA_VALUES if key in params}
    for key, value in values.items():
        if node.get(key) is not None and node[key] != value:
            raise ConfigError(
                f"{where}.{key}={node[key]} but the data has {key}={value}: drop {where}.{key}, "
                f"it comes from the data (set data.{key} to change it)"
            )
    return values


def build_module(cfg: DictConfig, datamodule: GANDataModule | None = None) -> GANModule:
    """G, D, loss and tricks from the composed config, checked to fit together; the datamodule is built
    (its values read: image size, channels, classes) but no data is loaded."""
    datamodule = datamodule or build_datamodule(cfg)
    for name, node in (cfg.get("trick") or {}).items():
        if node is not None and "_target_" not in node:
            raise ConfigError(
                f"trick.{name} is set but the trick is not selected: add it with trick=[...,{name}]"
            )
    config = OmegaConf.to_container(cfg, resolve=True)
    for net in ("generator", "discriminator"):
        values = data_values(cfg.model[net], f"model.{net}", datamodule)
        config["model"][net].update(values)  # the checkpoint's config rebuilds G alone (gan.generate)
    config["class_names"] = list(datamodule.class_names)  # for the studio's class menu
    config["image_shape"] = [datamodule.channels, datamodule.image_size, datamodule.image_size]
    if HydraConfig.initialized():  # which config-group options made this run (the studio names the model)
        config["choices"] = {k: v for k, v in HydraConfig.get().runtime.choices.items() if "hydra" not in k}
    return GANModule.from_config(config, datamodule.classes)


def build_datamodule(cfg: DictConfig) -> GANDataModule:
    return instantiate(cfg.data)


def instantiate_group(node: DictConfig | None) -> list:
    """A dict of `_target_` nodes (callbacks, loggers) as a list; null entries are switched off."""
    if not node:
        return []
    return [instantiate(sub) for sub in node.values() if sub is not None and "_target_" in sub]


def build_trainer(cfg: DictConfig) -> L.Trainer:
    callbacks = instantiate_group(cfg.get("callbacks"))
    if cfg.get("max_iterations"):
        callbacks.append(IterationBudget(cfg.max_iterations))
    loggers = instantiate_group(cfg.get("logger"))
    extra = {} if "plugins" in cfg.trainer else {"plugins": [SafeCheckpointIO()]}  # a user's own plugins win
    # plain containers: Lightning reads trainer.max_time={minutes: 5} as a dict, not a DictConfig
    return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, _convert_="all", **extra)


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


#: what a checkpoint's weights and data order depend on: a resumed run must agree on each
RESUME_KEYS = {
    "model.generator": lambda c: c["model"]["generator"]["_target_"].removeprefix("gan.models."),
    "model.discriminator": lambda c: c["model"]["discriminator"]["_target_"].removeprefix("gan.models."),
    "model.latent_dim": lambda c: c["model"]["latent_dim"],
    "data.image_size": lambda c: c["model"]["generator"].get("image_size", c["data"].get("image_size")),
    "data.channels": lambda c: c["model"]["generator"].get("channels", c["data"].get("channels")),
    "trick": lambda c: ",".join(sorted(k for k, v in (c.get("trick") or {}).items() if v)) or "none",
}

#: how a resumed run treats a setting that differs from its checkpoint's; the first matching pattern wins.
#: apply: the new value is used from the next iteration (said in one line); ignore: it does not change
#: training (length, cadences, logging, speed, paths); refuse: the checkpoint's weights or state depend on it
RESUME_RULES = (
    ("optim.*.lr", "apply"),  # fine-tuning at a new rate: set over the restored optimizer state
    ("optim.*.betas", "apply"),
    ("optim.*.weight_decay", "apply"),
    ("optim.*.momentum", "apply"),
    ("optim.*.eps", "apply"),
    ("optim.*.fused", "ignore"),
    ("optim.*.foreach", "ignore"),
    ("loss.*", "apply"),
    ("nan_policy", "apply"),
    ("max_loss", "apply"),
    ("trainer.precision", "apply"),
    ("data.root", "apply"),  # the same images moved
    # the data's own values (null in today's yamls): what G and D were built with is compared (RESUME_KEYS)
    ("data.channels", "ignore"),
    ("data.num_classes", "ignore"),
    ("data.num_workers", "ignore"),
    ("data.pin_memory", "ignore"),
    ("data.on_device", "ignore"),
    ("data.cache_dir", "ignore"),
    ("data.strict", "ignore"),
    ("trainer.*", "ignore"),
    ("max_iterations", "ignore"),
    ("init_from", "ignore"),  # where the first weights came from; the checkpoint holds them now
    ("perf.*", "ignore"),
    ("callbacks.*", "ignore"),
    ("logger.*", "ignore"),
    ("paths.*", "ignore"),
    ("ckpt_path", "ignore"),
    ("optimized_metric", "ignore"),
    ("task_name", "ignore"),
    ("choices.*", "ignore"),  # the option names; their values are compared key by key above
    ("*", "refuse"),  # model, data, tricks, optimizer kinds, schedule, seed, grid_images, new keys
)


def flatten(node, prefix: str = "") -> dict:
    if not isinstance(node, dict):
        return {prefix: node}
    out = {}
    for key, value in node.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def resume_verdicts(saved: dict, config: dict) -> dict[str, list[str]]:
    """The settings that differ from the checkpoint's, as "key old -> new", grouped by verdict."""
    old, new = flatten(saved), flatten(config)
    verdicts = {"apply": [], "ignore": [], "refuse": []}
    for key in sorted(old.keys() | new.keys()):
        if old.get(key, "<unset>") == new.get(key, "<unset>"):
            continue
        verdict = next(v for pattern, v in RESUME_RULES if fnmatch.fnmatchcase(key, pattern))
        verdicts[verdict].append(f"{key} {old.get(key, '<unset>')} -> {new.get(key, '<unset>')}")
    return verdicts


def check_resume(ckpt_path: str, config: dict, batch_size: int) -> int:
    """Before Lightning loads it: the file is a gan checkpoint of this model, data and batch size, and every
    other changed setting is either applied (said in one line) or refused naming the key. Returns the
    checkpoint's iteration."""
    ckpt = load_checkpoint(ckpt_path)
    saved = ckpt["config"]
    differ = [key for key, read in RESUME_KEYS.items() if read(saved) != read(config)]
    if differ:
        was = ", ".join(f"{key}={RESUME_KEYS[key](saved)}" for key in differ)
        now = ", ".join(f"{key}={RESUME_KEYS[key](config)}" for key in differ)
        raise ConfigError(
            f"ckpt_path={ckpt_path}: checkpoint was trained with {was}; this run has {now}. "
            "Resume with the overrides of the run that wrote it, or start a new run directory"
        )
    saved_batch = saved["data"].get("batch_size")
    if saved_batch != batch_size:
        raise ConfigError(
            f"ckpt_path={ckpt_path}: checkpoint was trained with data.batch_size={saved_batch}; this run has "
            f"{batch_size}, which would change which images come next. Pass data.batch_size={saved_batch}"
        )
    verdicts = resume_verdicts(saved, config)
    if verdicts["refuse"]:
        raise ConfigError(
            f"ckpt_path={ckpt_path}: this run changes {'; '.join(verdicts['refuse'])}, which the "
            "checkpoint's weights or state depend on. Resume with the checkpoint's value, or start a new "
            "run directory"
        )
    applied = [c for c in verdicts["apply"] if not c.startswith("optim.")]  # the module says those
    if applied:
        log.info("Resuming with changed settings, applied from the next iteration: %s", ", ".join(applied))
    return int(ckpt.get("gan", {}).get("iteration", 0))


def resolve_ckpt_path(ckpt_path: str | None, output_dir: str) -> str | None:
    """`ckpt_path=auto` resumes this run dir's last.ckpt when there is one; a given path must exist."""
    if not ckpt_path:
        return None
    if ckpt_path == "auto":
        last = os.path.join(output_dir, "checkpoints", "last.ckpt")
        found = os.path.isfile(last)
        print(
            f"ckpt_path=auto: resuming from {last}"
            if found
            else "ckpt_path=auto: no checkpoint, starting fresh"
        )
        return last if found else None
    if not os.path.isfile(ckpt_path):
        raise ConfigError(f"ckpt_path={ckpt_path}: no such checkpoint file")
    return ckpt_path
