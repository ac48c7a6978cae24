"""The tools' command line: Hydra overrides over conf/<tool>.yaml, --help listing each option, one-line
errors."""

import json
import subprocess
import sys

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from gan import export, generate, sweep_report
from gan.cli import CONF, arguments, one_line, option_help
from gan.studio import server
from tests.conftest import ROOT, make_cfg

MAINS = {
    "generate": generate.main,
    "export": export.main,
    "studio": server.main,
    "sweep_report": sweep_report.main,
}
#: the options and defaults each tool had before it read conf/<tool>.yaml: they keep working
BEFORE = {
    "generate": {
        "ckpt_path": None,
        "num_images": 64,
        "mode": "grid",
        "steps": 10,
        "rows": 4,
        "label": None,
        "individual": False,
        "out_dir": None,
        "seed": 0,
        "use_ema": True,
        "device": "cpu",
        "chunk": 256,
        "latents": None,
        "force": False,
        "psi": 1.0,  # issue 26: truncation, 1 draws from the prior as before
        "sampler": {"_target_": "gan.samplers.plain.Plain"},  # issue 39: the sampler group, as before
    },
    "export": {"ckpt_path": None, "format": "onnx", "use_ema": True, "out_dir": None},
    "studio": {
        "ckpt_path": None,
        "port": 7860,
        "host": "127.0.0.1",
        "use_ema": True,
        "search_steps": 60,
        "build_encoder": False,
        "sampler": {"_target_": "gan.samplers.plain.Plain"},
    },
    "sweep_report": {"sweep_dir": None},
}


@pytest.mark.parametrize("tool", list(MAINS))
def test_help_lists_every_option_with_its_default_and_a_description(tool, capsys):
    with pytest.raises(SystemExit) as stop:
        MAINS[tool](["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    described = option_help(tool)
    for key, value in OmegaConf.to_container(OmegaConf.load(CONF / f"{tool}.yaml")).items():
        if key == "defaults":  # the config group: `sampler=plain` and its comment
            key, value = "sampler", "plain"
        default = json.dumps(value) if value is None or isinstance(value, bool) else str(value)
        assert described[key] and f"  {key}={default} " in out and described[key] in out, key
    assert arguments(tool, []) == BEFORE[tool]


@pytest.mark.slow
def test_python_m_gan_generate_help_prints_the_options():
    done = subprocess.run(
        [sys.executable, "-m", "gan.generate", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "  num_images=64 " in done.stdout, done.stderr


@pytest.mark.parametrize(
    "argv, message",
    [
        (["num_imgs=5"], "num_imgs=5: no such option (did you mean num_images?); options: ckpt_path, "),
        (["+extra=1"], "+extra=1: no such option; options: "),
        (["num_images"], "num_images: options are key=value (python -m gan.generate --help lists them)"),
        (["ckpt_path=epoch=3.ckpt"], "ckpt_path=epoch=3.ckpt: not key=value ("),
        (["out_dir=a,b"], "Ambiguous value for argument 'out_dir=a,b'; quote a value"),
        (["mode=walk"], "mode='walk': allowed values are grid, interpolate"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        generate.main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith(f"error: {message}") and err.count("\n") == 1, err


def test_overrides_follow_hydras_grammar():
    args = arguments(
        "generate", ["ckpt_path='runs/epoch=3.ckpt'", "num_images=5", "label=7", "use_ema=false"]
    )
    assert args == {
        **BEFORE["generate"],
        "ckpt_path": "runs/epoch=3.ckpt",
        "num_images": 5,
        "label": 7,
        "use_ema": False,
    }


def test_sweep_report_takes_the_directory_alone_or_as_sweep_dir(tmp_path, capsys):
    job = tmp_path / "0"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("- loss=lsgan\n")
    sweep_report.main([str(tmp_path)])
    alone = capsys.readouterr().out
    sweep_report.main([f"sweep_dir={tmp_path}"])
    assert alone == capsys.readouterr().out and "| 0 |" in alone and (tmp_path / "report.md").is_file()


@pytest.mark.parametrize("old, new", [("num_samples", "grid_images"), ("data.normalize", "data.pixel_range")])
@pytest.mark.slow
def test_a_renamed_training_key_names_its_new_name(old, new, tmp_path):
    with pytest.raises(ConfigCompositionException) as caught:
        make_cfg(f"{old}=false", output_dir=tmp_path)
    assert one_line(caught.value) == f"{old} is now called {new}: pass {new}=... instead"
