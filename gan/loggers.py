"""Logger factories. W&B runs offline unless WANDB_MODE or WANDB_API_KEY (from `.env`) says otherwise."""

import os

from lightning.pytorch.loggers import WandbLogger


def wandb_mode() -> str:
    return os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_API_KEY") else "offline")


def wandb_logger(
    save_dir: str,
    project: str = "gan",
    entity: str | None = None,
    name: str | None = None,
    group: str | None = None,
    tags: list[str] | None = None,
    log_model: bool = False,
) -> WandbLogger:
    return WandbLogger(
        save_dir=save_dir,
        project=os.environ.get("WANDB_PROJECT") or project,
        entity=os.environ.get("WANDB_ENTITY") or entity,
        name=name,
        group=group,
        tags=tags,
        log_model=log_model,
        mode=wandb_mode(),
    )


def finish_wandb() -> None:
    """Close the W&B run so the next job of a multirun starts its own."""
    import sys

    if "wandb" in sys.modules:
        import wandb

        if wandb.run is not None:
            wandb.finish()
