"""The package works outside the checkout: its wheel carries the configs (gan/conf), `python -m gan` trains
and `python -m gan.generate` samples from a folder that holds no checkout, every import is declared."""

import ast
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(["uv", "build", "--wheel", "--out-dir", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return next(out.glob("gan-*.whl"))


@pytest.mark.slow  # builds a wheel
def test_the_wheel_carries_every_config(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {f"gan/conf/{p.relative_to(ROOT / 'conf')}" for p in (ROOT / "conf").rglob("*.yaml")}
    assert configs and configs <= names
    assert {"gan/__main__.py", "gan/patches.py"} <= names


@pytest.mark.slow  # trains in subprocesses
def test_train_and_generate_from_the_wheel_outside_the_checkout(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "WANDB_MODE": "offline"}
    work = tmp_path / "elsewhere"
    work.mkdir()

    def run(*args):
        done = subprocess.run([sys.executable, *args], cwd=work, env=env, capture_output=True, text=True,
                              timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    where = run("-c", "import gan.cli; print(gan.cli.CONF, gan.cli.TRAIN)")
    assert where.split() == [str(site / "gan" / "conf"), "python", "-m", "gan"]
    out = run("-m", "gan", "debug=smoke", "data=synthetic", "hydra.run.dir=run")
    assert "Next: python -m gan.generate ckpt_path=" in out
    run("-m", "gan.generate", "ckpt_path=run/checkpoints/last.ckpt", "num_images=4")
    assert (work / "run" / "generated" / "grid.png").is_file()


def test_every_imported_package_is_declared():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())
    names = [*declared["project"]["dependencies"], *declared["dependency-groups"]["judges"]]
    for extra in declared["project"]["optional-dependencies"].values():
        names += extra
    normal = {n.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower().replace("-", "_")
              for n in names}  # fmt: skip
    module_of = {"pil": "pillow", "sklearn": "scikit_learn", "yaml": "pyyaml", "dotenv": "python_dotenv",
                 "hydra": "hydra_core"}  # fmt: skip
    imported = set()
    for path in [*(ROOT / "gan").rglob("*.py"), ROOT / "train.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m != "gan"}
    missing = {m for m in third_party if module_of.get(m.lower(), m.lower()) not in normal}
    assert not missing, f"imported but not declared in pyproject.toml: {sorted(missing)}"
