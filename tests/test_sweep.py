"""A 2x2 multirun makes four job dirs and the sweep report names the swept values; launchers compose."""

import subprocess
import sys

import pytest

from gan.errors import ConfigError
from gan.sweep_report import report
from tests.conftest import ROOT


@pytest.mark.slow
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
    table, note = report(sweep).split("\n\n")
    for value in ("trick", "loss", "label_smoothing", "instance_noise", "nonsaturating", "lsgan"):
        assert value in table
    assert len(table.splitlines()) == 2 + 4 and "| 2 |" in table  # 4 rows, 2 iterations each
    assert note.startswith("No bar chart: no job logged FID")  # smoke runs have no FID; losses differ
    for name in ("report.md", "contact_sheet.png"):
        assert (sweep / name).stat().st_size > 0


def test_report_of_a_non_sweep_dir_fails_clearly(tmp_path):
    with pytest.raises(ConfigError, match="no job directories"):
        report(tmp_path)
    with pytest.raises(ConfigError, match="no such sweep directory"):
        report(tmp_path / "nope")


@pytest.mark.parametrize(
    "launcher", ["hydra/launcher=joblib", "hydra/launcher=submitit_slurm", "hparams_search=optuna"]
)
@pytest.mark.slow  # imports the launchers
def test_launchers_and_sweepers_compose(launcher, train_cli):
    code, out, err = train_cli(launcher, "--cfg", "hydra")
    assert code == 0, err[-2000:]
    expected = {"joblib": "JoblibLauncher", "submitit_slurm": "SlurmLauncher", "optuna": "OptunaSweeper"}
    assert expected[launcher.split("=")[1]] in out


def test_optuna_sweep_without_fid_fails_before_training(tmp_path, train_cli):
    search = ("hparams_search=optuna", "hydra.sweeper.n_trials=3", f"hydra.sweep.dir={tmp_path}")
    code, _, err = train_cli(*search, "debug=smoke", "data=synthetic")
    assert code != 0
    assert (
        "error: optimized_metric=val/best_fid needs FID, which is off for this run (callbacks.fid=null)"
        in err
    )
    assert not list(tmp_path.rglob("summary.json")) and not list(tmp_path.rglob("*.ckpt"))  # no trial trained


def fake_job(sweep, number: int, fid: float | None, lr: str):
    job = sweep / str(number)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(f"- optim.generator.lr={lr}\n")
    if fid is not None:
        summary = {
            "iteration": 10,
            "wall_seconds": 5.0,
            "metrics": {"val/best_fid": fid},
            "status": "finished",
        }
        (job / "summary.json").write_text(__import__("json").dumps(summary))


def test_report_sorts_jobs_numerically_and_leaves_failed_jobs_out_of_the_chart(tmp_path, monkeypatch):
    import matplotlib.axes

    for number in range(12):
        fake_job(tmp_path, number, None if number == 2 else 100.0 - number, f"{number}e-4")
    drawn = []
    bar = matplotlib.axes.Axes.bar
    monkeypatch.setattr(
        matplotlib.axes.Axes,
        "bar",
        lambda self, x, h, *a, **k: drawn.append(list(h)) or bar(self, x, h, *a, **k),
    )
    table = report(tmp_path).split("\n\n")[0].splitlines()[2:]
    assert [row.split("|")[1].strip() for row in table] == [str(n) for n in range(12)]
    assert table[2].rstrip(" |").endswith("failed") and "| 2e-4 |" in table[2]
    assert drawn == [[100.0 - n for n in range(12) if n != 2]]


def test_report_charts_no_losses_and_no_fids_across_feature_spaces(tmp_path):
    for number, loss in enumerate(["nonsaturating", "lsgan"]):
        job = tmp_path / "losses" / str(number)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(f"- loss={loss}\n")
        summary = {"iteration": 10, "wall_seconds": 5.0, "status": "finished"}
        summary["metrics"] = {"train/g_loss": [2.28, 0.048][number]}
        (job / "summary.json").write_text(__import__("json").dumps(summary))
    said = report(tmp_path / "losses")
    assert "No bar chart: no job logged FID, and losses are not comparable" in said
    assert not (tmp_path / "losses" / "report.png").exists()
    assert said.splitlines()[-1] in (tmp_path / "losses" / "report.md").read_text()
    for number, name in enumerate(["inception", "small_conv"]):
        job = tmp_path / "features" / str(number)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(f"- callbacks.fid.feature.name={name}\n")
        summary = {"iteration": 10, "status": "finished", "metrics": {"val/fid": 10.0 + number}}
        (job / "summary.json").write_text(__import__("json").dumps(summary))
    said = report(tmp_path / "features")
    assert "FID is not comparable across jobs that sweep callbacks.fid.feature.name" in said


def test_report_shows_precision_recall_and_copying_when_jobs_logged_them(tmp_path):
    for number, copying in enumerate([-0.4, -6.2]):
        job = tmp_path / str(number)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(f"- seed={number}\n")
        metrics = {"val/fid": 1.5, "val/precision": 0.61, "val/recall": 0.42, "val/copying": copying}
        summary = {"iteration": 10, "wall_seconds": 5.0, "status": "finished", "metrics": metrics}
        (job / "summary.json").write_text(__import__("json").dumps(summary))
    header, _, *rows = report(tmp_path).split("\n\n")[0].splitlines()
    assert (
        "| final FID | best FID | precision | recall | copying C_T | d_loss |" in header
        and "KID" not in header
    )
    assert rows[1].startswith("| 1 | 1 | 1.500 |  | 0.610 | 0.420 | -6.200 |"), rows
