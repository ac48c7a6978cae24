"""Checkpoints and what is built from them: best.ckpt by FID, GANModule.load_from_checkpoint, settings that
a resume applies or refuses, KID on a small reference set, the end of a time-limited run, the identity
designs carry, and one-line errors."""

import csv
import json

import pytest
import torch

from gan.checkpoint import identity, load_checkpoint, load_generator
from gan.errors import ConfigError
from gan.export import export
from gan.generate import generate
from gan.module import GANModule
from gan.run.train import train
from gan.studio.app import Studio
from tests.conftest import make_cfg, smoke

FID = [
    "callbacks.progress_bar=null",
    "trainer.accelerator=cpu",
    "trainer.max_epochs=1",
    "trainer.log_every_n_steps=1",
    "trainer.enable_model_summary=false",
    "callbacks.fid.feature.name=small_conv",
    "callbacks.fid.num_images=64",
    "callbacks.fid.batch_size=32",
    "callbacks.fid.every_n_iterations=1",
]


def rows(run_dir) -> list[dict]:
    with open(run_dir / "csv" / "metrics.csv", newline="") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def fid_run(tmp_path_factory):
    """6 iterations of the default DCGAN with EMA, FID after every iteration."""
    out = tmp_path_factory.mktemp("fid_run")
    train(
        make_cfg(
            "data=synthetic", "logger=csv", "trick=ema", "trainer.limit_train_batches=6", *FID, output_dir=out
        )
    )
    return out


@pytest.mark.slow
def test_best_checkpoint_holds_the_lowest_fid_and_every_tool_reads_it(fid_run, tmp_path):
    fids = [(int(r["step"]), float(r["val/fid"])) for r in rows(fid_run) if r["val/fid"]]
    assert [step for step, _ in fids] == [1, 2, 3, 4, 5, 6]
    best_step, best = min(fids, key=lambda pair: pair[1])
    ckpt = load_checkpoint(fid_run / "checkpoints" / "best.ckpt")
    assert ckpt["gan"]["iteration"] == best_step
    saved = next(v for k, v in ckpt["callbacks"].items() if k.startswith("Checkpoint"))
    assert float(saved["best_model_score"]) == pytest.approx(best)
    best_path = str(fid_run / "checkpoints" / "best.ckpt")
    assert generate({**defaults(), "ckpt_path": best_path, "num_images": 4, "out_dir": str(tmp_path)})
    assert export({"ckpt_path": best_path, "format": "onnx", "use_ema": True, "out_dir": str(tmp_path)})
    assert Studio(best_path).info()["use_ema"] is True


def defaults() -> dict:
    from gan.generate import parse

    return parse([])


@pytest.mark.slow
def test_load_from_checkpoint_needs_no_argument_and_draws_what_generate_draws(fid_run):
    path = fid_run / "checkpoints" / "last.ckpt"
    module = GANModule.load_from_checkpoint(path)
    z = torch.randn(5, 100, generator=torch.Generator().manual_seed(1))
    expected = load_generator(load_checkpoint(path), use_ema=True)(z)
    assert module.iteration == 6 and not module.training
    assert torch.equal(module.generate(z), expected)


@pytest.mark.slow
def test_a_changed_learning_rate_is_applied_and_said_other_changes_are_refused(fid_run, tmp_path, caplog):
    run = tmp_path / "run"
    train(smoke("trainer.limit_train_batches=2", output_dir=run))
    ckpt = run / "checkpoints" / "last.ckpt"
    with caplog.at_level("INFO"):
        train(
            smoke(
                "trainer.max_epochs=2",
                "optim.generator.lr=1e-3",
                "loss=lsgan",
                f"ckpt_path={ckpt}",
                output_dir=run,
            )
        )
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "optim.generator.lr 0.0002 -> 0.001" in said and "optim.discriminator.lr 0.0002 -> 0.001" in said
    assert "loss._target_ gan.losses.NonSaturating -> gan.losses.LSGAN" in said
    resumed = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert resumed["gan"]["iteration"] == 4
    assert [g["lr"] for opt in resumed["optimizer_states"] for g in opt["param_groups"]] == [1e-3, 1e-3]
    for change, key in (("seed=5", "seed 42 -> 5"), ("grid_images=16", "grid_images 64 -> 16")):
        with pytest.raises(ConfigError, match=f"this run changes {key}, which the checkpoint"):
            train(smoke("trainer.max_epochs=3", change, f"ckpt_path={ckpt}", output_dir=tmp_path / "x"))


@pytest.mark.slow
def test_kid_with_fewer_real_images_than_its_subset_fits_and_says_so(tmp_path, caplog):
    cfg = make_cfg(
        "data=synthetic",
        "logger=csv",
        "data.dataset_size=48",
        *FID,
        "callbacks.fid.kid=true",
        output_dir=tmp_path,
    )
    with caplog.at_level("INFO"):
        train(cfg)
    assert "KID: subsets of 48 images (the reference set has 48 real images)" in caplog.text
    assert [r["val/kid"] for r in rows(tmp_path) if r["val/kid"]]


@pytest.mark.slow
def test_a_run_stopped_between_log_points_repeats_no_value(tmp_path):
    train(
        smoke(
            "logger=csv",
            "trainer.limit_train_batches=null",
            "trainer.max_epochs=5",
            "trainer.log_every_n_steps=5",
            "max_iterations=7",
            output_dir=tmp_path,
        )
    )
    logged = rows(tmp_path)
    assert [int(r["step"]) for r in logged if r["train/d_loss"]] == [1, 5]
    last = logged[-1]
    assert int(last["step"]) == 7 and last["train/iteration"] == "7.0" and not last["train/d_loss"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["iteration"] == 7 == summary["metrics"]["train/iteration"]
    assert summary["status"] == "finished"


@pytest.mark.slow
def test_a_resume_with_nothing_left_to_train_keeps_the_summary_metrics(tmp_path):
    # a new user's no-op resume of a finished run wrote "metrics": {} over its FID and losses
    train(smoke("logger=csv", output_dir=tmp_path))
    first = json.loads((tmp_path / "summary.json").read_text())
    assert first["metrics"]["train/d_loss"] > 0 and first["iteration"] == 2
    train(smoke("logger=csv", "ckpt_path=auto", output_dir=tmp_path))
    again = json.loads((tmp_path / "summary.json").read_text())
    assert again["metrics"] == first["metrics"] and again["iteration"] == 2
    train(smoke("logger=csv", output_dir=tmp_path / "fresh"))  # a fresh run in the dir carries nothing over
    (tmp_path / "fresh" / "summary.json").write_text(json.dumps({"metrics": {"old/metric": 1.0}}))
    train(smoke("logger=csv", output_dir=tmp_path / "fresh"))
    assert "old/metric" not in json.loads((tmp_path / "fresh" / "summary.json").read_text())["metrics"]


@pytest.mark.slow
def test_designs_carry_their_generator_and_another_checkpoint_is_refused(fid_run, tmp_path):
    path = str(fid_run / "checkpoints" / "last.ckpt")
    studio = Studio(path)
    design = studio.page(3, 1)["designs"][0]
    (tmp_path / "design.png").write_bytes(studio.png(design))
    other = tmp_path / "other"
    train(smoke("data.image_size=16", output_dir=other))
    args = {**defaults(), "ckpt_path": str(other / "checkpoints" / "last.ckpt"), "out_dir": str(tmp_path)}
    with pytest.raises(ConfigError, match=r"were made by another generator \(dcgan at 32 px, iteration 6"):
        generate({**args, "latents": str(tmp_path / "design.png")})
    assert generate({**args, "latents": str(tmp_path / "design.png"), "force": True})
    ckpt = load_checkpoint(path)
    assert identity(ckpt, True)["weights"] == "EMA" and identity(ckpt, False)["weights"] == "raw"
    assert identity(ckpt, True)["digest"] != identity(ckpt, False)["digest"]


@pytest.mark.slow
def test_without_ema_nothing_says_ema(tmp_path):
    train(smoke("model=cdcgan", "data.num_classes=3", output_dir=tmp_path))
    path = str(tmp_path / "checkpoints" / "last.ckpt")
    info = Studio(path, use_ema=True).info()
    assert info["use_ema"] is False and info["model"] == "cdcgan"
    export({"ckpt_path": path, "format": "onnx", "use_ema": True, "out_dir": str(tmp_path / "x")})
    described = json.loads((tmp_path / "x" / "generator.json").read_text())
    assert described["use_ema"] is False and described["label_ids"] == [0, 1, 2]
    with pytest.raises(ConfigError, match="this model was trained on classes"):
        generate({**defaults(), "ckpt_path": path, "label": 5, "out_dir": str(tmp_path)})


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.batch_size=1.5", "error: data.batch_size=1.5: must be a whole number >= 1"),
        ("trick=[emma]", "error: trick=emma: no such option (did you mean ema?); options: ada, apa, "),
        ("trainer.max_time={minuts: 1}", "error: trainer.max_time: unknown key 'minuts'; use {minutes: 5}"),
        ("max_iteration=10", "error: max_iteration: no such key (did you mean max_iterations?)"),
        (
            "+max_iteration=10",
            "error: +max_iteration: the run reads no such key (did you mean max_iterations?)",
        ),
        (
            "+data.imagesize=64",
            "error: data.imagesize: not a setting of data (did you mean data.image_size?)",
        ),
    ],
)
def test_config_mistakes_are_one_line_with_exit_2(override, message, tmp_path, train_cli):
    code, _, err = train_cli("debug=smoke", "data=synthetic", override, f"hydra.run.dir={tmp_path}/r")
    assert code == 2 and len(err.strip().splitlines()) == 1, err[-2000:]
    assert err.startswith(message), err
    assert not (tmp_path / "r").exists()  # nothing was written, so no empty run directory is left


def test_a_run_directory_that_cannot_be_made_is_one_line(tmp_path, train_cli):
    code, _, err = train_cli("debug=smoke", "data=synthetic", f"hydra.run.dir={tmp_path}/{'x' * 300}")
    assert code == 2 and len(err.strip().splitlines()) == 1, err[-2000:]
    assert err.startswith(f"error: File name too long: {str(tmp_path)[:20]}") and "...xxx" in err
    assert "255 characters: shorten hydra.run.dir" in err


def test_a_yaml_error_in_a_users_experiment_is_one_line(tmp_path, train_cli):
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "mine.yaml").write_text("# @package _global_\nmodel:\n  latent_dim: [1, 2\n")
    code, _, err = train_cli(
        f"hydra.searchpath=[file://{tmp_path}]", "experiment=mine", f"hydra.run.dir={tmp_path}/r"
    )
    assert code == 2 and len(err.strip().splitlines()) == 1, err[-2000:]
    assert err.startswith(f"error: YAML syntax error in {tmp_path}/experiment/mine.yaml, line 4")


def test_a_file_that_is_not_a_checkpoint_is_named_so(tmp_path):
    (tmp_path / "generator.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a readable checkpoint \\(not a PyTorch file, or cut short\\)"):
        Studio(str(tmp_path / "generator.json"))


@pytest.mark.slow
def test_a_refused_run_leaves_the_runs_record_untouched_and_one_refused_at_start_leaves_nothing(
    tmp_path, train_cli
):
    """Hydra wrote .hydra/ before the run was checked: a refused resume said batch size 32 in a folder whose
    checkpoint trained at 16; a run refused at start left a directory, a "failed" summary.json."""
    run = tmp_path / "run"
    smoke = ("debug=smoke", "data=synthetic")
    assert train_cli(*smoke, "data.batch_size=16", f"hydra.run.dir={run}")[0] == 0
    record = {p.name: p.read_text() for p in [*(run / ".hydra").iterdir(), run / "summary.json"]}
    assert "data.batch_size=16" in record["overrides.yaml"] and "batch_size: 16" in record["config.yaml"]
    code, _, err = train_cli(*smoke, "data.batch_size=32", "ckpt_path=auto", f"hydra.run.dir={run}")
    assert code == 2 and "data.batch_size" in err, err[-2000:]
    assert {p.name: p.read_text() for p in [*(run / ".hydra").iterdir(), run / "summary.json"]} == record
    for too_big in ("data.batch_size=100000", "data.dataset_size=8"):
        code, _, err = train_cli(*smoke, too_big, f"hydra.run.dir={tmp_path}/new")
        assert code == 2 and "fewer than data.batch_size" in err, err
        assert not (tmp_path / "new").exists()
