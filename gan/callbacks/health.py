"""Training health: flags the failure modes the seeds describe, as logged warnings and W&B alerts.

- D overpowering G: D(G(z)) near 0 while G's loss keeps rising (S0's conclusion).
- Mode collapse: the diversity of the fixed-batch samples (mean pairwise distance) falls far below its best.
- Frozen losses: D and G losses stop moving at all.
`health/diversity` is logged at every check.
"""

import logging

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger

log = logging.getLogger(__name__)


def slope(values: list[float]) -> float:
    n = len(values)
    if n < 2:
        return 0.0
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    num = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values))
    return num / sum((i - mean_x) ** 2 for i in range(n))


def d_overpowering(d_fake: list[float], g_loss: list[float], window: int, threshold: float = 0.05) -> bool:
    if len(d_fake) < window or len(g_loss) < window:
        return False
    return sum(d_fake[-window:]) / window < threshold and slope(g_loss[-window:]) > 0


def losses_frozen(d_loss: list[float], g_loss: list[float], window: int, eps: float = 1e-6) -> bool:
    if len(d_loss) < window or len(g_loss) < window:
        return False
    return all(max(v[-window:]) - min(v[-window:]) < eps for v in (d_loss, g_loss))


def diversity(images: torch.Tensor) -> float:
    """Mean pairwise L2 distance between samples, per pixel (so sizes compare)."""
    flat = images.float().flatten(1)
    return float(torch.pdist(flat).mean() / flat.shape[1] ** 0.5)


def collapsed(history: list[float], ratio: float = 0.3) -> bool:
    return len(history) >= 2 and history[-1] < ratio * max(history)


class Health(L.Callback):
    def __init__(
        self,
        every_n_iterations: int = 500,
        window: int = 10,
        d_fake_threshold: float = 0.05,
        collapse_ratio: float = 0.3,
    ):
        self.every_n_iterations, self.window = every_n_iterations, window
        self.d_fake_threshold, self.collapse_ratio = d_fake_threshold, collapse_ratio
        self.series: dict[str, list[float]] = {"d_fake": [], "g_loss": [], "d_loss": [], "diversity": []}
        self.alerts: list[str] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if module.iteration % trainer.log_every_n_steps == 0:
            for key in ("d_fake", "g_loss", "d_loss"):
                if f"train/{key}" in trainer.callback_metrics:
                    self.series[key].append(float(trainer.callback_metrics[f"train/{key}"]))
        if module.iteration % self.every_n_iterations == 0:
            self.check(trainer, module)

    def check(self, trainer, module) -> list[str]:
        self.series["diversity"].append(diversity(module.sample_fixed()))
        for logger in trainer.loggers:
            logger.log_metrics({"health/diversity": self.series["diversity"][-1]}, step=trainer.global_step)
        found = []
        s = self.series
        if d_overpowering(s["d_fake"], s["g_loss"], self.window, self.d_fake_threshold):
            found.append(
                "D is overpowering G: D(G(z)) is near 0 and G's loss keeps rising. Try label_smoothing, "
                "instance_noise, d_freeze or a lower D lr (optim=ttur reversed)."
            )
        if collapsed(s["diversity"], self.collapse_ratio):
            found.append(
                f"possible mode collapse: sample diversity fell to {s['diversity'][-1]:.3f} from a best "
                f"of {max(s['diversity']):.3f}. Look at the latest sample grid."
            )
        if losses_frozen(s["d_loss"], s["g_loss"], self.window):
            found.append(
                "D and G losses have stopped moving: learning rates may have decayed to 0 or a net died."
            )
        for message in found:
            self.alert(trainer, module, message)
        return found

    def alert(self, trainer, module, message: str) -> None:
        text = f"iteration {module.iteration}: {message}"
        self.alerts.append(text)
        log.warning("Health: %s", text)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.experiment.alert(title="GAN training health", text=text)

    def state_dict(self) -> dict:
        return {"series": self.series, "alerts": self.alerts}

    def load_state_dict(self, state: dict) -> None:
        self.series, self.alerts = state["series"], state["alerts"]
