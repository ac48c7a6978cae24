"""A 2x2 multirun makes four job dirs and the sweep report names the swept values; launchers compose."""

import subprocess
import sys

import pytest

from gan.errors import ConfigError
from gan.sweep_report import report
from tests.conftest import ROOT


def test_2x2_multirun_and_report(tmp_path):
    sweep = tmp_path / "sweep"
    done = subprocess.run(
        [
            sys.executable,
            "train.py",
            "-m",
            "debug=smoke",
            "data=synthetic",
            "logger=csv",
            "trick=label_smoothing,instance_noise",
            "loss=nonsaturating,lsgan",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = sorted(p.name for p in sweep.iterdir() if (p / ".hydra").is_dir())
    assert jobs == ["0", "1", "2", "3"]
    table = report(sweep)
    for value in ("trick", "loss", "label_smoothing", "instance_noise", "nonsaturating", "lsgan"):
        assert value in table
    assert len(table.splitlines()) == 2 + 4 and "| 2 |" in table  # 4 rows, 2 iterations each
    for name in ("report.md", "report.png", "contact_sheet.png"):
        assert (sweep / name).stat().st_size > 0


def test_report_of_a_non_sweep_dir_fails_clearly(tmp_path):
    with pytest.raises(ConfigError, match="no job directories"):
        report(tmp_path)
    with pytest.raises(ConfigError, match="no such sweep directory"):
        report(tmp_path / "nope")


@pytest.mark.parametrize(
    "launcher", ["hydra/launcher=joblib", "hydra/launcher=submitit_slurm", "hparams_search=optuna"]
)
def test_launchers_and_sweepers_compose(launcher, tmp_path):
    done = subprocess.run(
        [sys.executable, "train.py", launcher, "--cfg", "hydra"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    expected = {"joblib": "JoblibLauncher", "submitit_slurm": "SlurmLauncher", "optuna": "OptunaSweeper"}
    assert expected[launcher.split("=")[1]] in done.stdout
