"""Test-only callbacks for training subprocesses (loaded through Hydra overrides), beside tests/helpers.py."""

from pathlib import Path

import lightning as L
import torch


class SaveTrickState(L.Callback):
    """At the end of training, every rank saves its tricks' buffers to `<path>/rank<r>.pt`."""

    def __init__(self, path: str):
        self.path = Path(path)

    def on_train_end(self, trainer, module) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu() for k, v in module.tricks.state_dict().items()}
        state["world_size"] = torch.tensor(trainer.world_size)
        torch.save(state, self.path / f"rank{trainer.global_rank}.pt")
