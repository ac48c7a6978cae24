"""Loss (and FID) curves as a PNG in the run dir at the end of training, for users with no dashboard.

It observes the rows every logger receives (gan/loggers.py `log_metrics`), so its x-axis is the loggers'
iteration and it holds exactly what was logged: no value is repeated at a later iteration.
"""

from pathlib import Path

import lightning as L

from gan.io import non_essential


class LossPlot(L.Callback):
    KEYS = ("train/d_loss", "train/g_loss", "train/d_real", "train/d_fake", "val/fid")

    def __init__(self, path: str):
        self.path = Path(path)
        self.history: dict[str, list[tuple[int, float]]] = {}

    def observe(self, metrics: dict[str, float], iteration: int) -> None:
        for key, value in metrics.items():
            if key in self.KEYS:
                self.history.setdefault(key, []).append((iteration, value))

    def on_train_end(self, trainer, module) -> None:
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
        ("FID", ["val/fid"]),
    ]
    panels = [(title, [k for k in keys if k in history]) for title, keys in panels]
    panels = [p for p in panels if p[1]]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.5), squeeze=False)
    for ax, (title, keys) in zip(axes[0], panels, strict=True):
        for key in keys:
            steps, values = zip(*history[key], strict=True)
            ax.plot(steps, values, label=key.split("/")[-1], marker="o" if len(steps) < 3 else None)
        ax.set_title(title)
        ax.set_xlabel("iteration")
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
