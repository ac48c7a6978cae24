"""`max_iterations`: stop after that many iterations (batches trained), whatever the number of optimizer
steps per iteration (Lightning's `trainer.max_steps` counts those: 2 per iteration, fewer with n_critic or
d_pause). The run then ends as at any limit: last.ckpt, the final grid and FID."""

import lightning as L


class IterationBudget(L.Callback):
    def __init__(self, max_iterations: int):
        self.max_iterations = max_iterations

    def on_train_start(self, trainer, module) -> None:
        if module.iteration >= self.max_iterations:  # a resumed run that already got there
            trainer.should_stop = True

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if module.iteration >= self.max_iterations:
            trainer.should_stop = True
