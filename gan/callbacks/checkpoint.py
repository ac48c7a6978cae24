"""Lightning's ModelCheckpoint, with `last.ckpt` always holding the end of training.

Lightning saves `last.ckpt` at train end only if no periodic save happened yet, so a run stopped between
two periodic saves (trainer.max_time, max_steps) kept an older state: a 300 s run stopped at iteration
1,404 left last.ckpt at iteration 1,000.
"""

from lightning.pytorch.callbacks import ModelCheckpoint


class Checkpoint(ModelCheckpoint):
    def on_train_end(self, trainer, pl_module) -> None:
        if self.save_last and self._last_global_step_saved != trainer.global_step:
            self._last_checkpoint_saved = ""
        super().on_train_end(trainer, pl_module)
