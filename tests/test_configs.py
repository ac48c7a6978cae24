"""Every yaml in conf/ composes and instantiates; wrong overrides fail before training."""

import pytest
import torch
from hydra.utils import instantiate

from gan.build import build_module, build_trainer, instantiate_group, resolve_ckpt_path
from gan.paths import best_path, last_path, run_dir_of
from tests.conftest import CONF, make_cfg

MODEL_DATA = {
    "dcgan256": ["data.image_size=256"],
    "dcgan_upsample": ["data.image_size=28"],
    "mlp": [],
    "cgan": [],
}


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("model", options("model"))
def test_every_model_config_instantiates(model, tmp_path):
    cfg = make_cfg(f"model={model}", "data=synthetic", *MODEL_DATA.get(model, []), output_dir=tmp_path)
    module = build_module(cfg)
    assert module.generator.__class__.__module__.startswith("gan.models")
    assert module.latent_dim == cfg.model.latent_dim


@pytest.mark.parametrize("data", options("data"))
def test_every_data_config_instantiates(data, tmp_path):
    dm = instantiate(make_cfg(f"data={data}", output_dir=tmp_path).data)
    assert dm.image_size > 0 and dm.channels in (1, 3)


@pytest.mark.parametrize("group", ["loss", "optim", "trainer", "callbacks", "trick"])
def test_every_option_of_group_instantiates(group, tmp_path):
    for option in options(group):
        cfg = make_cfg(f"{group}={option}", "data=synthetic", output_dir=tmp_path)
        if group == "trainer" and cfg.trainer.accelerator == "gpu" and not torch.cuda.is_available():
            assert cfg.trainer._target_ == "lightning.pytorch.Trainer"  # composes; building needs a GPU
        elif group == "trainer":
            assert instantiate(cfg.trainer, logger=False, enable_progress_bar=False) is not None
        elif group == "callbacks":
            assert isinstance(instantiate_group(cfg.callbacks), list)
        elif group == "loss":
            assert instantiate(cfg.loss).name == option
        else:
            module = build_module(cfg)
            opt_g, opt_d = (
                module.configure_optimizers()[0][:2]
                if group == "optim" and cfg.optim.scheduler
                else (module.configure_optimizers())
            )
            assert opt_g.param_groups[0]["lr"] > 0 and opt_d.param_groups[0]["lr"] > 0
            if group == "trick":
                assert list(module.tricks) == [option]


@pytest.mark.parametrize("logger", ["csv", "tensorboard", "none"])
def test_logger_configs_instantiate(logger, tmp_path):
    loggers = instantiate_group(make_cfg(f"logger={logger}", output_dir=tmp_path).get("logger"))
    assert len(loggers) == (0 if logger == "none" else 1)


def test_tricks_compose_in_list_order(tmp_path):
    cfg = make_cfg("trick=[instance_noise,label_smoothing,d_pause]", "data=synthetic", output_dir=tmp_path)
    assert list(build_module(cfg).tricks) == ["instance_noise", "label_smoothing", "d_pause"]


@pytest.mark.parametrize(
    "override, expected",
    [("model=nosuchmodel", "no such option"), ("data.batchsize=3", "batchsize"), ("trick=[nope]", "nope")],
)
def test_wrong_override_fails_before_training_with_hydra_message(override, expected, tmp_path, train_cli):
    code, out, err = train_cli("debug=smoke", override, f"hydra.run.dir={tmp_path}")
    assert code != 0
    assert expected in err + out
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize("optim", options("optim"))
def test_d_learning_rate_is_set_plainly_in_every_optim_option(optim, tmp_path):
    def lrs(*overrides):
        cfg = make_cfg(f"optim={optim}", "data=synthetic", *overrides, output_dir=tmp_path)
        optimizers = build_module(cfg).configure_optimizers()
        opt_g, opt_d = optimizers[0] if isinstance(optimizers, tuple) else optimizers
        return opt_g.param_groups[0]["lr"], opt_d.param_groups[0]["lr"]

    g_lr, d_lr = lrs()
    assert lrs("optim.discriminator.lr=0.00123") == (g_lr, 0.00123)  # D alone changes
    g_only = lrs("optim.generator.lr=0.00077")
    assert g_only[0] == 0.00077
    assert g_only[1] == (
        0.00077 if optim in ("adam", "adam_decay") else d_lr
    )  # D follows G where the seed did


@pytest.mark.parametrize(
    ("overrides", "epochs"),
    [
        ([], 60),  # conf/train.yaml's default_epochs
        (["default_epochs=7"], 7),  # the default lives in the config: changing it there changes the limit
        (["default_epochs=7", "max_iterations=5000"], -1),
        (["default_epochs=7", "trainer.max_epochs=3"], 3),
        (["trainer.max_time={minutes: 4}"], -1),
        (["max_iterations=5000"], -1),
        (["trainer.max_steps=100"], -1),
        (["trainer.max_time={minutes: 4}", "trainer.max_epochs=3"], 3),
        (["experiment=small_data", "trainer.max_time=00:00:04:00"], -1),
    ],
)
def test_a_length_the_run_names_is_not_cut_by_the_default_epochs(overrides, epochs, tmp_path):
    # a new user's 4-minute small_data run on 1,000 faces ended after 56 s at the default's 60 epochs
    cfg = make_cfg(
        *overrides, "logger=none", "callbacks=none", "trainer.accelerator=cpu", output_dir=tmp_path
    )
    assert build_trainer(cfg).fit_loop.max_epochs == epochs


def test_the_checkpoint_paths_have_one_home(tmp_path):
    """conf/callbacks/default.yaml's folder, the callbacks, ckpt_path=auto and the tools agree (gan.paths)."""
    callbacks = instantiate_group(make_cfg(output_dir=tmp_path).callbacks)
    checkpoint, on_signal = (
        next(c for c in callbacks if type(c).__name__ == n) for n in ("Checkpoint", "SaveOnSignal")
    )
    assert (checkpoint.last_path, checkpoint.best_path) == (last_path(tmp_path), best_path(tmp_path))
    assert on_signal.path == last_path(tmp_path) == tmp_path / "checkpoints" / "last.ckpt"
    assert resolve_ckpt_path("auto", str(tmp_path)) is None
    last_path(tmp_path).parent.mkdir()
    last_path(tmp_path).write_bytes(b"")
    assert resolve_ckpt_path("auto", str(tmp_path)) == str(last_path(tmp_path))
    assert run_dir_of(best_path(tmp_path)) == tmp_path.resolve()
