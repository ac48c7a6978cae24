"""The one home of checkpoint files, for training, `gan.generate`, `gan.export` and the studio.

A checkpoint is Lightning's dict plus `config` (the run's resolved config: it rebuilds G alone), `gan`
(iteration and step counters) and `rng` (the RNG states, as tensors and lists, so every checkpoint loads
with `torch.load(weights_only=True)`).
"""

import hashlib
import random
import zipfile
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from gan.errors import ConfigError, instantiate
from gan.paths import CHECKPOINTS
from gan.renamed import upgrade, upgrade_state

EMA_PREFIX = "tricks.ema.average."


def rng_state() -> dict:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "python": list(random.getstate()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_checkpoint(path: str | Path | None) -> dict:
    """A gan checkpoint, memory-mapped (tensors are read when used), or one line saying what it is not."""
    if not path or not Path(path).is_file():
        raise ConfigError(f"ckpt_path={path}: no such checkpoint file")
    if not zipfile.is_zipfile(path):  # what torch.save writes; a JSON, PNG or truncated file is not
        raise ConfigError(
            f"ckpt_path={path}: not a readable checkpoint (not a PyTorch file, or cut short); "
            f"pass a .ckpt from a run's {CHECKPOINTS}/ folder"
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:
        raise ConfigError(
            f"ckpt_path={path}: not a readable checkpoint ({type(err).__name__}: {err})"
        ) from err
    if not isinstance(ckpt, dict) or "config" not in ckpt or "state_dict" not in ckpt:
        raise ConfigError(f"ckpt_path={path}: not a gan checkpoint (no config or state_dict inside)")
    upgrade(ckpt["config"])  # an older checkpoint's keys in today's names
    upgrade_state(ckpt["state_dict"])
    return ckpt


def has_ema(ckpt: dict) -> bool:
    return any(k.startswith(EMA_PREFIX) for k in ckpt["state_dict"])


def rebuild_config(ckpt: dict) -> dict:
    """The checkpoint's config, to rebuild its networks from: nothing is downloaded (FashionGen's encoder
    weights are in the checkpoint)."""
    config = OmegaConf.to_container(OmegaConf.create(ckpt["config"]))
    if "encoder_weights" in config["model"]["generator"]:
        config["model"]["generator"]["encoder_weights"] = "none"
    return config


def load_generator(ckpt: dict, use_ema: bool = True) -> torch.nn.Module:
    """G from the checkpoint's config and weights: EMA's average when asked and present, in eval mode."""
    generator = instantiate(OmegaConf.create(rebuild_config(ckpt)["model"]["generator"]))
    prefix = EMA_PREFIX if use_ema and has_ema(ckpt) else "generator."
    state = ckpt["state_dict"]
    generator.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
    return generator.eval()


def load_discriminator(ckpt: dict) -> torch.nn.Module:
    """D from the checkpoint's config and weights, in eval mode, frozen (the studio measures with it)."""
    discriminator = instantiate(OmegaConf.create(rebuild_config(ckpt)["model"]["discriminator"]))
    prefix, state = "discriminator.", ckpt["state_dict"]
    discriminator.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
    return discriminator.eval().requires_grad_(False)


def model_name(config: dict) -> str:
    """The model's config-group name (`cdcgan`), recorded at training; else its module's name."""
    return config.get("choices", {}).get("model") or config["model"]["generator"]["_target_"].split(".")[-2]


def identity(ckpt: dict, use_ema: bool) -> dict:
    """What names the generator a design was drawn from: its weights' digest, with words for a person."""
    prefix = EMA_PREFIX if use_ema and has_ema(ckpt) else "generator."
    digest = hashlib.sha1()
    for key, value in sorted(ckpt["state_dict"].items()):
        if key.startswith(prefix):
            digest.update(key.encode())
            digest.update(value.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    config = ckpt["config"]
    return {
        "digest": digest.hexdigest()[:16],
        "model": model_name(config),
        "image_size": config["model"]["generator"].get("image_size"),
        "iteration": ckpt.get("gan", {}).get("iteration"),
        "weights": "EMA" if prefix == EMA_PREFIX else "raw",
    }
