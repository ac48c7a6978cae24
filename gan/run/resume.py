"""Resuming a run: what a checkpoint must agree on, and what a changed setting does.

`check_resume` runs before Lightning loads anything: a checkpoint of another model, size, trick set or batch
size is refused in one line, and every other changed setting is applied (said in one line) or refused by
`RESUME_RULES`. `apply_optimizer_settings` then sets the config's optimizer values over the state Lightning
restored (a changed learning rate is a fine-tune, not an error).
"""

import fnmatch
import logging

from gan.checkpoint import load_checkpoint
from gan.errors import ConfigError

log = logging.getLogger(__name__)

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
    ("default_epochs", "ignore"),
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


#: optimizer settings a resumed run takes from its config, not from the checkpoint's optimizer state
HYPERPARAMETERS = ("lr", "betas", "weight_decay", "momentum", "eps")


def apply_optimizer_settings(optimizers, schedulers, optim_cfg: dict, iteration: int) -> list[str]:
    """After a resume, Lightning restores each optimizer's settings from the checkpoint; a value the config
    changes (fine-tuning at a new learning rate) is applied instead, and said in one line. Under an lr
    schedule the new value is the schedule's base, and the schedule's current factor is kept."""
    changes = []
    for name, opt, scheduler in zip(("generator", "discriminator"), optimizers, schedulers, strict=True):
        for key in HYPERPARAMETERS:
            wanted = optim_cfg[name].get(key)
            for group in opt.param_groups:
                base = "initial_lr" if key == "lr" and "initial_lr" in group else key
                if wanted is None or base not in group:
                    continue
                old = group[base]
                new = tuple(wanted) if isinstance(old, tuple) else wanted
                if old == new:
                    continue
                if base == "initial_lr":
                    group["lr"] *= new / old
                group[base] = new
                changes.append(f"optim.{name}.{key} {old} -> {new}")
        if scheduler is not None and hasattr(scheduler, "base_lrs"):
            scheduler.base_lrs = [group.get("initial_lr", group["lr"]) for group in opt.param_groups]
    if changes:
        applied = ", ".join(changes)
        log.info("Resumed with changed settings, applied from iteration %d: %s", iteration, applied)
    return changes


def between_epochs(fit_loop) -> bool:
    """An epoch's last batch ran and the epoch was counted: the state at the end of a run that stopped on an
    epoch boundary. Lightning reads it back as "the epoch ends now" and spends the first epoch of an extended
    run (`trainer.max_epochs` raised) on that end, training nothing: it is saved as the next epoch's start."""
    epochs = fit_loop.epoch_progress.current
    last_batch = fit_loop.epoch_loop.batch_progress.is_last_batch
    return last_batch and epochs.ready == epochs.processed == epochs.completed


def save_as_next_epoch(checkpoint: dict) -> None:
    batches = checkpoint["loops"]["fit_loop"]["epoch_loop.batch_progress"]
    batches["current"] = dict.fromkeys(batches["current"], 0)
    batches["is_last_batch"] = False
