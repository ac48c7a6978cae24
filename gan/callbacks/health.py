"""Training health: flags the failure modes the seeds describe, early, as logged warnings and W&B alerts.

- D wins outright: over the last `span` iterations D scores real images above 1 - `d_threshold` and fakes
  below `d_threshold` on average (losses with probabilities: BCE; S0's conclusion), so G's gradient vanishes
  or saturates. The default 0.005 is strict on purpose: a healthy DCGAN passes through D(G(z)) ~ 0.02 for
  tens of iterations early on (measured on the digits, 2026-12-01); a beaten G sits orders of magnitude lower.
- Mode collapse: the diversity of the fixed-batch samples (mean pairwise distance) falls far below its best;
  or, from the first check on, half of them or more have a near-identical copy among the others (RMS
  difference under `copy_tolerance` per pixel on [-1, 1]: 0.03, where a healthy 32 px DCGAN's closest pair
  at iteration 50 differs by 0.08-0.11 and real faces by 0.32; measured 2026-12-06). A run that collapsed
  before its first check has no best to fall from, and its precision looks excellent.
- Frozen losses: D and G losses stop moving at all over the last `span` iterations.

The loss checks run at every training row (every `trainer.log_every_n_steps` iterations) once the rows cover
half the span, so D winning from the start is flagged by iteration 75 with the defaults; diversity is
measured at `first_check` and then every `every_n_iterations` (`health/diversity`). Each alarm is raised
once, and again only after its condition has cleared.
"""

import logging

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger

from gan.cadence import due
from gan.loggers import log_metrics

log = logging.getLogger(__name__)


def slope(values: list[float]) -> float:
    n = len(values)
    if n < 2:
        return 0.0
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    num = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values))
    return num / sum((i - mean_x) ** 2 for i in range(n))


Series = list[tuple[int, float]]  # (iteration, value)


def recent(series: Series, span: int) -> list[float] | None:
    """The values of the last `span` iterations; None until the series covers half a span."""
    if not series or series[0][0] > series[-1][0] - span / 2:
        return None
    values = [v for i, v in series if i > series[-1][0] - span]
    return values if len(values) >= 2 else None


def d_wins(d_real: Series, d_fake: Series, span: int, threshold: float = 0.005) -> bool:
    """D's mean score on reals above 1 - threshold and on fakes below threshold, over the last `span`."""
    real, fake = recent(d_real, span), recent(d_fake, span)
    if real is None or fake is None:
        return False
    return sum(fake) / len(fake) < threshold and sum(real) / len(real) > 1 - threshold


def losses_frozen(d_loss: Series, g_loss: Series, span: int, eps: float = 1e-6) -> bool:
    d, g = recent(d_loss, span), recent(g_loss, span)
    if d is None or g is None:
        return False
    return all(max(v) - min(v) < eps for v in (d, g))


def diversity(images: torch.Tensor) -> float:
    """Mean pairwise L2 distance between samples, per pixel (so sizes compare)."""
    flat = images.float().flatten(1)
    return float(torch.pdist(flat).mean() / flat.shape[1] ** 0.5)


def near_copies(images: torch.Tensor, tolerance: float) -> int:
    """How many samples have another closer than `tolerance` (RMS per pixel)."""
    flat = images.float().flatten(1)
    distances = torch.cdist(flat, flat) / flat.shape[1] ** 0.5
    distances.fill_diagonal_(float("inf"))
    return int((distances.min(1).values < tolerance).sum())


def collapsed(history: list[float], ratio: float = 0.3) -> bool:
    return len(history) >= 2 and history[-1] < ratio * max(history)


class Health(L.Callback):
    SERIES = ("d_real", "d_fake", "g_loss", "d_loss")

    def __init__(
        self,
        every_n_iterations: int = 250,
        first_check: int = 50,
        span: int = 100,
        d_threshold: float = 0.005,
        collapse_ratio: float = 0.3,
        copy_tolerance: float = 0.03,
    ):
        self.every_n_iterations, self.first_check, self.span = every_n_iterations, first_check, span
        self.d_threshold, self.collapse_ratio, self.copy_tolerance = (
            d_threshold,
            collapse_ratio,
            copy_tolerance,
        )
        self.series: dict[str, list] = {key: [] for key in (*self.SERIES, "diversity")}
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
                self.series[key].append((iteration, metrics[f"train/{key}"]))
        s = self.series
        self.raise_if(
            "d_wins",
            self.probabilistic and d_wins(s["d_real"], s["d_fake"], self.span, self.d_threshold),
            f"D wins outright: over the last {self.span} iterations D(x) is about "
            f"{s['d_real'][-1][1]:.3f} on reals and D(G(z)) {s['d_fake'][-1][1]:.2g} on fakes, so G learns "
            "nothing. Try label_smoothing, instance_noise, diffaugment, a lower D lr, or a recipe for small "
            "data.",
            iteration,
        )
        self.raise_if(
            "frozen",
            losses_frozen(s["d_loss"], s["g_loss"], self.span),
            "D and G losses have stopped moving: learning rates may have decayed to 0 or a net died.",
            iteration,
        )

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if due(module.iteration, self.every_n_iterations, first=self.first_check):
            self.check_diversity(trainer, module)

    def check_diversity(self, trainer, module) -> None:
        samples = module.sample_fixed()
        copies = near_copies(samples, self.copy_tolerance)
        self.raise_if(
            "copies",
            copies >= len(samples) / 2,
            f"{copies} of the {len(samples)} fixed samples are near-identical to another one: the "
            "generator has collapsed. Look at the latest sample grid; resume from an earlier checkpoint "
            "with a lower lr, or try experiment=small_data.",
            module.iteration,
        )
        value = diversity(samples)
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
        self.series = {
            k: [tuple(p) if isinstance(p, list) else p for p in v] for k, v in state["series"].items()
        }
        self.alerts = state["alerts"]
        self.active = state.get("active", [])
