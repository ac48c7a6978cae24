"""Training health: flags the failure modes the seeds describe, early, as logged warnings and W&B alerts.

- D wins outright: over the last `window` training rows D scores real images near 1 and fakes near 0
  (losses with probabilities: BCE, LSGAN; S0's conclusion). G's gradient then vanishes or saturates.
- Mode collapse: the diversity of the fixed-batch samples (mean pairwise distance) falls far below its best.
- Frozen losses: D and G losses stop moving at all.

The loss checks run at every training row (every `trainer.log_every_n_steps` iterations) once `window`
rows exist, so D winning from the start is flagged by iteration ~75 with the defaults; diversity is measured
at `first_check` and then every `every_n_iterations` (`health/diversity`). Each alarm is raised once, and
again only after its condition has cleared.
"""

import logging

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger

from gan.loggers import log_metrics

log = logging.getLogger(__name__)


def slope(values: list[float]) -> float:
    n = len(values)
    if n < 2:
        return 0.0
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    num = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values))
    return num / sum((i - mean_x) ** 2 for i in range(n))


def d_wins(d_real: list[float], d_fake: list[float], window: int, threshold: float = 0.05) -> bool:
    """D's mean score on reals above 1 - threshold and on fakes below threshold, over the last `window`."""
    if len(d_real) < window or len(d_fake) < window:
        return False
    return sum(d_fake[-window:]) / window < threshold and sum(d_real[-window:]) / window > 1 - threshold


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
    SERIES = ("d_real", "d_fake", "g_loss", "d_loss")

    def __init__(
        self,
        every_n_iterations: int = 250,
        first_check: int = 50,
        window: int = 4,
        d_fake_threshold: float = 0.05,
        collapse_ratio: float = 0.3,
    ):
        self.every_n_iterations, self.first_check, self.window = every_n_iterations, first_check, window
        self.d_fake_threshold, self.collapse_ratio = d_fake_threshold, collapse_ratio
        self.series: dict[str, list[float]] = {key: [] for key in (*self.SERIES, "diversity")}
        self.alerts: list[str] = []
        self.active: list[str] = []  # alarms raised and not cleared since

    def setup(self, trainer, module, stage: str) -> None:
        self.trainer = trainer  # for W&B alerts from observe()
        self.probabilistic = bool(getattr(module.loss, "probabilistic", False))

    def observe(self, metrics: dict[str, float], iteration: int) -> None:
        if "train/d_loss" not in metrics:
            return
        for key in self.SERIES:
            if f"train/{key}" in metrics:
                self.series[key].append(metrics[f"train/{key}"])
        s = self.series
        self.raise_if(
            "d_wins",
            self.probabilistic and d_wins(s["d_real"], s["d_fake"], self.window, self.d_fake_threshold),
            f"D wins outright: over the last {self.window} log points D(x) is {s['d_real'][-1]:.3f} on reals "
            f"and D(G(z)) {s['d_fake'][-1]:.2g} on fakes, so G learns nothing. Try label_smoothing, "
            "instance_noise, diffaugment, a lower D lr, or a recipe for small data.",
            iteration,
        )
        self.raise_if(
            "frozen",
            losses_frozen(s["d_loss"], s["g_loss"], self.window),
            "D and G losses have stopped moving: learning rates may have decayed to 0 or a net died.",
            iteration,
        )

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        i = module.iteration
        if i == self.first_check or (i > self.first_check and i % self.every_n_iterations == 0):
            self.check_diversity(trainer, module)

    def check_diversity(self, trainer, module) -> None:
        value = diversity(module.sample_fixed())
        self.series["diversity"].append(value)
        log_metrics(trainer, {"health/diversity": value}, module.iteration)
        history = self.series["diversity"]
        self.raise_if(
            "collapse",
            collapsed(history, self.collapse_ratio),
            f"possible mode collapse: sample diversity fell to {value:.3f} from a best of "
            f"{max(history):.3f}. Look at the latest sample grid.",
            module.iteration,
        )

    def raise_if(self, name: str, condition: bool, message: str, iteration: int) -> None:
        if not condition:
            if name in self.active:
                self.active.remove(name)
            return
        if name in self.active:
            return
        self.active.append(name)
        text = f"iteration {iteration}: {message}"
        self.alerts.append(text)
        log.warning("Health: %s", text)
        for logger in self.trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.experiment.alert(title="GAN training health", text=text)

    def state_dict(self) -> dict:
        return {"series": self.series, "alerts": self.alerts, "active": self.active}

    def load_state_dict(self, state: dict) -> None:
        self.series, self.alerts = state["series"], state["alerts"]
        self.active = state.get("active", [])
