"""Loss (and FID) curves as a PNG in the run dir at the end of training, for users with no dashboard."""

from pathlib import Path

import lightning as L

from gan.callbacks.io import non_essential


class LossPlot(L.Callback):
    KEYS = ("train/d_loss", "train/g_loss", "train/d_real", "train/d_fake")

    def __init__(self, path: str):
        self.path = Path(path)
        self.history: dict[str, list[tuple[int, float]]] = {}

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if module.iteration % trainer.log_every_n_steps == 0 or module.iteration == 1:
            self.record(trainer, module)

    def record(self, trainer, module) -> None:
        for key, value in trainer.callback_metrics.items():
            if key in self.KEYS or key.startswith("val/fid"):
                self.history.setdefault(key, []).append((module.iteration, float(value)))

    def on_train_end(self, trainer, module) -> None:
        self.record(trainer, module)
        if trainer.is_global_zero and self.history:
            with non_essential(f"the loss plot {self.path}"):
                write_plot(self.history, self.path)

    def state_dict(self) -> dict:
        return {"history": self.history}

    def load_state_dict(self, state: dict) -> None:
        self.history = {k: [tuple(p) for p in v] for k, v in state["history"].items()}


def write_plot(history: dict[str, list[tuple[int, float]]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("losses", ["train/d_loss", "train/g_loss"]),
        ("D outputs", ["train/d_real", "train/d_fake"]),
        ("FID", [k for k in history if k == "val/fid"]),
    ]
    panels = [(title, [k for k in keys if k in history]) for title, keys in panels]
    panels = [p for p in panels if p[1]]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.5), squeeze=False)
    for ax, (title, keys) in zip(axes[0], panels, strict=True):
        for key in keys:
            steps, values = zip(*history[key], strict=True)
            ax.plot(steps, values, label=key.split("/")[-1])
        ax.set_title(title)
        ax.set_xlabel("iteration")
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
