"""`init_from=<checkpoint>`: start G, D and the EMA copy from another run's weights (transfer learning, e.g.
a model trained on more data), with fresh optimizers, counters and schedules. Not a resume: the config may
differ (another dataset, loss, tricks, learning rate). Pair it with `trick=freeze_d` to keep D's first
blocks fixed (FreezeD, Mo et al. 2020).

    python train.py data=image_folder data.root=<shoes> init_from=<fashion_mnist_run>/checkpoints/best.ckpt

A different image size is refused (every layer of G and D would differ); layers whose shapes differ (a new
class count, another width) keep their fresh initialisation and are named in one line.
"""

import logging

import torch

from gan.checkpoint import EMA_PREFIX, load_checkpoint
from gan.errors import ConfigError

log = logging.getLogger(__name__)
PARTS = ("generator.", "discriminator.", EMA_PREFIX)


def transfer(module, path: str) -> dict[str, list[str]]:
    """Copy every tensor of G, D and EMA's average whose name and shape match; returns what was copied,
    what differs in shape and what the checkpoint lacks."""
    ckpt = load_checkpoint(path)
    source = ckpt["config"].get("image_shape")
    target = list(module.config["image_shape"])
    if source is not None and list(source)[1:] != target[1:]:
        raise ConfigError(
            f"init_from={path}: trained at {source[1]}x{source[2]} px, this run is {target[1]}x{target[2]}: "
            "every layer of G and D would differ. Set data.image_size to the checkpoint's size"
        )
    theirs = {k: v for k, v in ckpt["state_dict"].items() if k.startswith(PARTS)}
    if "ema" in module.tricks and not any(k.startswith(EMA_PREFIX) for k in theirs):
        # a source without EMA: the average starts at the source's G, as a fresh run's starts at G
        g = {k.removeprefix("generator."): v for k, v in theirs.items() if k.startswith("generator.")}
        theirs.update({EMA_PREFIX + k: v for k, v in g.items()})
    ours = module.state_dict()
    copied, differ, missing = [], [], []
    for key, value in ours.items():
        if not key.startswith(PARTS):
            continue
        if key not in theirs:
            missing.append(key)
        elif theirs[key].shape != value.shape:
            differ.append(f"{key} {list(theirs[key].shape)} vs {list(value.shape)}")
        else:
            copied.append(key)
    if not copied:
        raise ConfigError(f"init_from={path}: no layer of this model is in that checkpoint (another model?)")
    with torch.no_grad():
        module.load_state_dict({k: theirs[k] for k in copied}, strict=False)
    parts = "G, D and EMA's average" if "ema" in module.tricks else "G and D"
    log.info(
        "init_from=%s: %d tensors of %s copied; optimizers and counters start fresh", path, len(copied), parts
    )
    if differ or missing:
        kept = differ + [f"{k} (not in the checkpoint)" for k in missing]
        log.warning("init_from: %d tensor(s) keep their fresh initialisation: %s", len(kept), ", ".join(kept))
    return {"copied": copied, "differ": differ, "missing": missing}
