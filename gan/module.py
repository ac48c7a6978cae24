"""GANModule: the one LightningModule that trains every GAN here, with manual optimization.

Per batch: D step, then G step (the seeds' order). This file is plumbing: what D sees, the objectives and
penalties live in `gan/step.py`, the maths in the loss (`gan/losses/`), and tricks change inputs, targets,
terms and schedules through the hooks in `gan/tricks/base.py`; none of them needs an edit here. Both steps
go through `manual_backward` and Lightning's optimizer wrappers, so precision plugins and strategies (AMP,
DDP) apply unchanged. No host sync in the step by default (see `gan/guard.py`).

Counters: Lightning's `global_step` counts every optimizer step (D and G), so `trainer.max_steps=2000` is
about 1000 iterations. `iteration` (batches seen), `d_steps` and `g_steps` are our own, logged and
checkpointed.
"""

import logging
import math

import lightning as L
import torch
from omegaconf import OmegaConf
from torch import nn

from gan.cadence import due
from gan.checkpoint import load_checkpoint, rebuild_config, rng_state, set_rng_state
from gan.conditioning import condition_input, condition_of, draw_condition
from gan.errors import instantiate
from gan.guard import DivergenceError, DivergenceGuard
from gan.loggers import log_metrics
from gan.losses import GANLoss
from gan.priors import sample_latent
from gan.renamed import upgrade_state
from gan.run.resume import apply_optimizer_settings, between_epochs, save_as_next_epoch
from gan.step import FeatureTaps, Seen, d_objective, g_objective
from gan.tricks import Trick

__all__ = ["GANModule", "DivergenceError"]
log = logging.getLogger(__name__)


class GANModule(L.LightningModule):
    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        loss: GANLoss,
        optim: dict,
        latent_dim: int,
        prior: str = "gaussian",
        tricks: dict[str, Trick] | None = None,
        image_shape: tuple[int, int, int] = (3, 64, 64),
        classes: list[int] | None = None,
        grid_images: int = 64,
        sample_seed: int = 0,
        nan_policy: str = "stop",
        max_loss: float = 1e6,
        channels_last: bool = False,
        compile: bool = False,
        compile_mode: str = "default",
        config: dict | None = None,
    ):
        super().__init__()
        self.automatic_optimization = False
        self.generator, self.discriminator, self.loss = generator, discriminator, loss
        self.tricks = nn.ModuleDict(tricks or {})
        for name, trick in self.tricks.items():
            trick._name = name
            trick.attach(loss)
            trick.setup(generator, discriminator)
        layers = [layer for part in (loss, *self.tricks.values()) for layer in part.feature_layers]
        self.taps = FeatureTaps(discriminator, layers)  # a layer D lacks fails here, at start-up
        self.optim_cfg, self.latent_dim, self.prior = optim, latent_dim, prior
        self.config = (
            config  # the resolved run config; saved in checkpoints so `gan.generate` needs nothing else
        )
        self.nan_policy = nan_policy
        self.guard = DivergenceGuard(nan_policy, max_loss)  # checks the policy
        self.channels_last, self.compile_nets, self.compile_mode = channels_last, compile, compile_mode
        self.iteration = self.d_steps = self.g_steps = 0
        self.logged_at = 0  # iteration of the last training row
        self._register_fixed_batch(grid_images, sample_seed, image_shape, classes or [])

    # ---- components ---------------------------------------------------------------------------------

    @property
    def condition(self) -> str:
        return condition_of(self.generator)

    def _register_fixed_batch(self, n: int, seed: int, image_shape, classes: list[int]) -> None:
        """The latent batch (and labels or images) every sample grid is drawn from, fixed for the run."""
        if self.condition == "label":
            per_class = max(1, n // len(classes))
            labels = torch.tensor(classes).repeat_interleave(per_class)
            self.sample_nrow = per_class
        else:
            labels = torch.zeros(0, dtype=torch.long)
            self.sample_nrow = max(1, int(math.sqrt(n)))
        self.sample_seed = seed
        gen = torch.Generator().manual_seed(seed)
        n = len(labels) or n
        self.register_buffer("fixed_z", sample_latent(self.prior, n, self.latent_dim, generator=gen))
        self.register_buffer("fixed_labels", labels)
        images = torch.zeros(n if self.condition == "image" else 0, *image_shape)
        self.register_buffer("fixed_images", images)
        self.register_buffer("has_fixed_images", torch.tensor(False))

    def on_fit_start(self) -> None:
        """Per-rank noise under DDP; the fast paths (perf.channels_last, perf.compile), which leave
        state_dict keys unchanged."""
        if self.trainer.world_size > 1:  # same seed on every rank would give every rank the same z
            torch.manual_seed(self.sample_seed + self.global_rank)
        if self.channels_last:
            self.generator.to(memory_format=torch.channels_last)
            self.discriminator.to(memory_format=torch.channels_last)
        if self.compile_nets:
            self.generator.compile(mode=self.compile_mode)
            self.discriminator.compile(mode=self.compile_mode)

    def on_train_epoch_start(self) -> None:
        for trick in self.tricks.values():
            trick.begin_epoch(self.current_epoch)

    def on_train_start(self) -> None:
        self.logged_at = self.iteration  # a resumed run has nothing new to log at the restored iteration
        apply_optimizer_settings(self.optimizers(), self._schedulers(), self.optim_cfg, self.iteration)

    def configure_optimizers(self):
        opt_g = instantiate(self.optim_cfg["generator"], _convert_="all")(self.generator.parameters())
        opt_d = instantiate(self.optim_cfg["discriminator"], _convert_="all")(self.discriminator.parameters())
        scheduler = self.optim_cfg.get("scheduler")
        if not scheduler:
            return [opt_g, opt_d]
        make = instantiate(scheduler, _convert_="all")
        return [opt_g, opt_d], [make(opt_g), make(opt_d)]

    # ---- sampling -----------------------------------------------------------------------------------

    def sample_latent(self, n: int) -> torch.Tensor:
        z = sample_latent(self.prior, n, self.latent_dim, device=self.device)
        for trick in self.tricks.values():
            z = trick.sample_latent(z)
        return z

    def sampling_generator(self) -> nn.Module:
        generator = self.generator
        for trick in self.tricks.values():
            generator = trick.sampling_generator(generator, self)
        return generator

    @torch.no_grad()
    def generate(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Images from the sampling generator (EMA if on) in eval mode; `cond` as the generator expects."""
        generator = self.sampling_generator()
        was_training = generator.training
        generator.eval()
        try:
            return generator(z, cond)
        finally:
            generator.train(was_training)

    def draw_inputs(self, n: int, generator: torch.Generator | None = None, label: int | None = None):
        """(z, cond) for `n` new samples from the prior, with classes (or images) as in the fixed batch."""
        z = sample_latent(self.prior, n, self.latent_dim, generator=generator).to(self.device)
        cond = draw_condition(self.condition, n, self.fixed_labels, self.fixed_images, generator, label)
        return z, cond

    def sample_fixed(self) -> torch.Tensor:
        fixed_cond = condition_input(self.condition, self.fixed_labels, self.fixed_images)
        return self.generate(self.fixed_z, fixed_cond)

    # ---- training -----------------------------------------------------------------------------------

    def _d_view(self, x: torch.Tensor, which: str) -> torch.Tensor:
        for trick in self.tricks.values():
            x = trick.d_input(x, which)
        return x

    def _after_step(self, which: str, loss: torch.Tensor) -> None:
        for trick in self.tricks.values():
            trick.after_step(which, loss, self)

    def _optimizer_step(self, opt, loss: torch.Tensor, scheduler, grad_norm: bool) -> torch.Tensor | None:
        """Backward, guarded step, scheduler; returns the gradient norm when asked (a log point)."""
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        norm = None
        if grad_norm:
            params = [p for group in opt.param_groups for p in group["params"] if p.grad is not None]
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
        scaled = getattr(self.trainer.precision_plugin, "scaler", None) is not None
        self.guard.step(opt.optimizer, loss, self.iteration, scaled, opt.step)
        if scheduler is not None:
            scheduler.step()
        return norm

    def training_step(self, batch, batch_idx: int) -> None:
        real, labels = batch
        if self.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        opt_g, opt_d = self.optimizers()
        sched_g, sched_d = self._schedulers()
        tricks = list(self.tricks.values())
        for trick in tricks:
            trick.begin_iteration(self.iteration)
        if self.condition == "image" and not self.has_fixed_images:
            index = torch.arange(len(self.fixed_images), device=real.device) % real.shape[0]
            self.fixed_images.copy_(real[index])
            self.has_fixed_images.fill_(True)
        step_d = all(t.should_step_d() for t in tricks)
        step_g = all(t.should_step_g() for t in tricks)
        log_now = self.is_log_point(self.iteration + 1)
        g_cond = condition_input(self.condition, labels, real)
        d_cond = condition_input(condition_of(self.discriminator), labels, real)

        # One G forward and one view of each batch serve both steps (the fake view detached for D). G's
        # batch is viewed first: a trick may use it when it transforms the real one (APA).
        with torch.set_grad_enabled(step_g):
            fake_seen = self._d_view(self.generator(self.sample_latent(real.shape[0]), g_cond), "fake")
        seen = Seen(self._d_view(real, "real"), fake_seen, d_cond, self.discriminator, self.taps)
        row = {}

        # ---- D step ----
        d_seen = seen.for_d()
        with torch.set_grad_enabled(step_d):
            d_loss = d_objective(self.loss, tricks, d_seen, penalties=step_d)
        if step_d:
            row["train/d_grad_norm"] = self._optimizer_step(opt_d, d_loss, sched_d, log_now)
            self.d_steps += 1
        self._after_step("d", d_loss.detach())

        # ---- G step: D's logits come fresh from the updated D ----
        if step_g:
            self.toggle_optimizer(opt_g)  # D's params stop requiring grad: no wasted D weight gradients
            g_loss = g_objective(self.loss, tricks, seen.for_g(d_seen.targets))
            row["train/g_grad_norm"] = self._optimizer_step(opt_g, g_loss, sched_g, log_now)
            self.untoggle_optimizer(opt_g)
            self.g_steps += 1
            self._after_step("g", g_loss.detach())
            row["train/g_loss"] = g_loss.detach()

        self.iteration += 1
        if log_now:  # only at log points: no per-step host sync
            row["train/d_loss"] = d_loss.detach()
            self._log_row(row, d_seen.logits("real"), d_seen.logits("fake"), opt_g, opt_d)

    def is_log_point(self, iteration: int) -> bool:
        """Training rows go out every `trainer.log_every_n_steps` iterations, at the first and at each
        epoch's last (loss plots and short runs)."""
        return due(iteration, self.trainer.log_every_n_steps, first=1) or self.trainer.is_last_batch

    def on_train_end(self) -> None:
        self.guard.check()
        if self.logged_at != self.iteration:  # stopped between two log points (max_time, a signal)
            log_metrics(self.trainer, self._counters(), self.iteration)

    def _schedulers(self):
        schedulers = self.lr_schedulers()
        return schedulers if isinstance(schedulers, list) else (None, None)

    def _log_row(self, row: dict, real_logits, fake_logits, opt_g, opt_d) -> None:
        """One row of training metrics, at this iteration, for every logger (gan/loggers.py)."""
        row = {k: v for k, v in row.items() if v is not None}
        row.update(
            {
                "train/d_real": self.loss.score(real_logits.detach()).mean(),
                "train/d_fake": self.loss.score(fake_logits.detach()).mean(),
                "train/lr_g": opt_g.param_groups[0]["lr"],
                "train/lr_d": opt_d.param_groups[0]["lr"],
            }
        )
        for name, trick in self.tricks.items():
            for key, value in trick.metrics().items():
                row[f"trick/{name}/{key}"] = value
        skipped = self.guard.check()  # the guard's device-side count, read where this row syncs anyway
        if skipped:
            row["train/skipped_steps"] = skipped
        losses = {k: row[k] for k in ("train/d_loss", "train/g_loss") if k in row}
        self.log_dict(losses, prog_bar=True, logger=False)  # the progress bar; loggers get the row below
        log_metrics(self.trainer, {**row, **self._counters()}, self.iteration)
        self.logged_at = self.iteration

    def _counters(self) -> dict:
        return {
            "train/iteration": self.iteration,
            "train/d_steps": self.d_steps,
            "train/g_steps": self.g_steps,
        }

    # ---- checkpoint ---------------------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: dict, classes: list[int]) -> "GANModule":
        """The module a resolved config describes (`gan.build.build_module` adds the data's values; every
        checkpoint carries the result), its loss and tricks checked to fit together."""
        cfg = OmegaConf.create(config)
        loss = instantiate(cfg.loss)
        tricks = {k: instantiate(node) for k, node in (cfg.get("trick") or {}).items() if node is not None}
        nets = {net: instantiate(cfg.model[net]) for net in ("generator", "discriminator")}
        loss.check(nets["discriminator"])
        perf = config.get("perf", {})
        module = cls(
            generator=nets["generator"],
            discriminator=nets["discriminator"],
            loss=loss,
            optim=config["optim"],
            latent_dim=cfg.model.latent_dim,
            prior=cfg.model.prior,
            tricks=tricks,
            image_shape=tuple(config["image_shape"]),
            classes=classes,
            grid_images=config.get("grid_images", 64),
            sample_seed=config.get("seed") or 0,
            nan_policy=config.get("nan_policy", "stop"),
            max_loss=config.get("max_loss", 1e6),
            channels_last=perf.get("channels_last", False),
            compile=perf.get("compile", False),
            compile_mode=perf.get("compile_mode", "default"),
            config=config,
        )
        for trick in module.tricks.values():  # named by the module: the messages say trick=<name>
            trick.check(loss, dict(module.tricks))
        return module

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path, map_location=None, **kwargs) -> "GANModule":
        """The module of a gan checkpoint, rebuilt from the config inside it (no other argument), in eval
        mode: `module.generate(z, cond)` draws what `gan.generate` draws."""
        ckpt = load_checkpoint(checkpoint_path)
        classes = ckpt["state_dict"]["fixed_labels"].unique().tolist()
        module = cls.from_config(rebuild_config(ckpt), classes)
        module.load_state_dict(ckpt["state_dict"])
        module.on_load_checkpoint(ckpt)
        return module.to(map_location or "cpu").eval()

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["gan"] = {
            "iteration": self.iteration,
            "d_steps": self.d_steps,
            "g_steps": self.g_steps,
            "skipped_steps": self.guard.check() if self.guard.active else 0,
        }
        checkpoint["rng"] = rng_state()
        checkpoint["config"] = self.config
        if self._trainer is not None and between_epochs(self.trainer.fit_loop) and "loops" in checkpoint:
            save_as_next_epoch(checkpoint)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        upgrade_state(checkpoint["state_dict"])  # an older one's keys in today's names (Lightning loads next)
        counters = checkpoint.get("gan", {})
        self.iteration = counters.get("iteration", 0)
        self.d_steps = counters.get("d_steps", 0)
        self.g_steps = counters.get("g_steps", 0)
        self.guard.previous = counters.get("skipped_steps", 0)
        self._rng_to_restore = checkpoint.get("rng")

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        # Restored as late as possible: nothing between loading and the first step may draw from the RNGs.
        if getattr(self, "_rng_to_restore", None):
            set_rng_state(self._rng_to_restore)
            self._rng_to_restore = None
