"""Build a run's parts from its config: datamodule, GANModule, callbacks, loggers, trainer."""

import inspect
import os
import subprocess

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf

from gan.callbacks.budget import IterationBudget
from gan.data.base import GANDataModule
from gan.errors import ConfigError, instantiate
from gan.io import SafeCheckpointIO
from gan.module import GANModule
from gan.paths import last_path
from gan.perf import precision

#: constructor arguments of G and D (and of any network nested in them) that describe the data: they come
#: from the built datamodule
DATA_VALUES = ("image_size", "channels", "num_classes")


def data_values(node: dict | DictConfig, where: str, datamodule: GANDataModule) -> dict:
    """The arguments of `node`'s constructor that the data decides, read from the datamodule."""
    try:
        params = inspect.signature(get_object(node["_target_"])).parameters
    except (TypeError, ValueError):  # a builtin without a readable signature takes none of them
        return {}
    values = {key: getattr(datamodule, key) for key in DATA_VALUES if key in params}
    for key, value in values.items():
        if node.get(key) is not None and node[key] != value:
            raise ConfigError(
                f"{where}.{key}={node[key]} but the data has {key}={value}: drop {where}.{key}, "
                f"it comes from the data (set data.{key} to change it)"
            )
    return values


def fill_data_values(node, where: str, datamodule: GANDataModule) -> None:
    """Give every `_target_` node in the plain container `node`, nested ones included (a D wrapping a D),
    the data's values its constructor takes, in place: what is built and what the checkpoint keeps."""
    if isinstance(node, dict):
        if "_target_" in node:
            node.update(data_values(node, where, datamodule))
        for key, child in node.items():
            fill_data_values(child, f"{where}.{key}", datamodule)
    elif isinstance(node, list):
        for i, child in enumerate(node):
            fill_data_values(child, f"{where}[{i}]", datamodule)


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
    for net in ("generator", "discriminator"):  # the checkpoint's config rebuilds G alone (gan.generate)
        fill_data_values(config["model"][net], f"model.{net}", datamodule)
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


def epoch_limit(cfg: DictConfig) -> int:
    """trainer.max_epochs as given; when null, none if the run names its length (a 4-minute max_time on
    1,000 photos must not end at the default's 60 epochs: Lightning's rule for max_steps, max_time), else
    `default_epochs` (conf/train.yaml)."""
    given = cfg.trainer.get("max_epochs")
    if given is not None:
        return given
    names_length = (
        cfg.get("max_iterations") or cfg.trainer.get("max_time") or cfg.trainer.get("max_steps", -1) != -1
    )
    return -1 if names_length else cfg.default_epochs


def build_trainer(cfg: DictConfig) -> L.Trainer:
    callbacks = instantiate_group(cfg.get("callbacks"))
    if cfg.get("max_iterations"):
        callbacks.append(IterationBudget(cfg.max_iterations))
    loggers = instantiate_group(cfg.get("logger"))
    extra = {} if "plugins" in cfg.trainer else {"plugins": [SafeCheckpointIO()]}  # a user's own plugins win
    chosen = precision(cfg.trainer, cfg.get("perf"))
    # plain containers: Lightning reads trainer.max_time={minutes: 5} as a dict, not a DictConfig
    return instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=loggers or False,
        precision=chosen,
        max_epochs=epoch_limit(cfg),
        _convert_="all",
        **extra,
    )


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def resolve_ckpt_path(ckpt_path: str | None, output_dir: str) -> str | None:
    """`ckpt_path=auto` resumes this run dir's last.ckpt when there is one; a given path must exist."""
    if not ckpt_path:
        return None
    if ckpt_path == "auto":
        last = str(last_path(output_dir))
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
