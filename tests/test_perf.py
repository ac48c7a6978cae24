"""The perf group: what perf=fast switches on, the precision `trainer.precision=auto` picks per machine, and
exact resume (SIGKILL mid-run) with every fast switch on: channels_last, torch.compile, on-device batches
and bf16-mixed."""

import signal

import pytest
import torch

from gan import perf
from gan.build import build_trainer
from gan.errors import ConfigError
from tests.conftest import make_cfg
from tests.test_resume import assert_same_state, load, run_with


def test_perf_fast_switches_every_fast_path_on(tmp_path):
    fast, default = make_cfg("perf=fast", output_dir=tmp_path), make_cfg(output_dir=tmp_path)
    assert (fast.perf.channels_last, fast.perf.compile, fast.trainer.precision) == (True, True, "auto")
    assert fast.data.on_device and not default.data.on_device
    assert (default.perf.channels_last, default.perf.compile) == (False, False)
    assert default.trainer.precision == "32-true" and "precision" not in {**fast.perf, **default.perf}


@pytest.mark.parametrize(
    ("native_bf16", "expected"), [(True, "bf16-mixed"), (False, "32-true")], ids=["bf16", "no_bf16"]
)
def test_auto_precision_on_cpu_follows_native_bf16(monkeypatch, native_bf16, expected):
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: True)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: native_bf16)
    assert perf.precision({"accelerator": "cpu", "precision": "auto"}) == expected


def test_auto_precision_on_cuda_follows_the_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for bf16, expected in ((True, "bf16-mixed"), (False, "32-true")):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda bf16=bf16: bf16)
        assert perf.auto_precision("gpu")[0] == expected
        assert perf.auto_precision("auto")[0] == expected


def test_precision_is_the_one_trainer_key_and_the_old_perf_key_names_it():
    assert perf.precision({"precision": "16-mixed"}, {"channels_last": True}) == "16-mixed"
    assert perf.precision({}) == "32-true"
    with pytest.raises(ConfigError, match=r"^perf.precision=bf16-true is now called trainer.precision: set "):
        perf.precision({"precision": "32-true"}, {"precision": "bf16-true"})  # a user's yaml with the old key


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ([], "32-true"),
        (["trainer.precision=bf16-mixed"], "bf16-mixed"),
        (["perf=fast", "trainer.precision=bf16-true"], "bf16-true"),  # the command line over perf=fast's auto
        (["perf=fast", "trainer=cpu"], "auto"),  # perf comes after trainer in the defaults list
    ],
)
def test_the_trainer_gets_the_one_precision_key(overrides, expected, tmp_path, monkeypatch):
    monkeypatch.setattr(perf, "auto_precision", lambda accelerator: ("bf16-mixed", "a test"))
    cfg = make_cfg(
        *overrides, "logger=none", "callbacks=none", "trainer.accelerator=cpu", output_dir=tmp_path
    )
    assert cfg.trainer.precision == expected
    trainer = build_trainer(cfg)
    assert trainer.precision == (expected if expected != "auto" else "bf16-mixed")


@pytest.mark.slow
def test_sigkill_and_resume_with_perf_fast_is_bit_identical(tmp_path_factory, monkeypatch):
    inductor = tmp_path_factory.mktemp("inductor")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(inductor))  # the training subprocesses' compile cache
    fast = ["perf=fast", "trainer.precision=bf16-mixed"]  # bf16 even where auto would pick fp32
    full, resumed, eager = (tmp_path_factory.mktemp(name) for name in ("full", "resumed", "eager"))
    run_with(full, *fast, timeout=900)  # the first run compiles from an empty cache
    assert any(inductor.rglob("*.py")), "perf=fast compiled nothing"
    kill = ["+callbacks.kill._target_=tests.helpers.KillAt", "+callbacks.kill.iteration=6"]
    killed = run_with(resumed, *fast, *kill, check=False, timeout=900)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert load(resumed)["gan"]["iteration"] == 6
    run_with(resumed, *fast, f"ckpt_path={resumed}/checkpoints/last.ckpt", timeout=900)
    reference = load(full)
    assert reference["gan"]["iteration"] == 12
    assert_same_state(reference, load(resumed))
    # the fast paths were on (channels_last, compile, bf16): the same run in eager fp32 ends elsewhere
    run_with(eager)
    key = "generator.net.0.weight"
    assert not torch.equal(load(eager)["state_dict"][key], reference["state_dict"][key])


@pytest.mark.slow  # trains or searches for seconds: the full suite, not the fast tier
def test_a_bf16_run_logs_its_networks_without_lightnings_size_warning(tmp_path):
    done = run_with(tmp_path, "trainer.precision=bf16-mixed", "trainer.max_epochs=1")
    log = done.stdout + done.stderr
    assert "Networks: generator Generator" in log
    assert "not supported by the model summary" not in log
    # each trick's networks under its name, not every trick together as "tricks ModuleDict"
    assert ", ema EMA " in log and " (not trained); " in log and "ModuleDict" not in log
