"""`python -m gan.components`: every trick yaml with its docstring's line, a new trick file and yaml listed
with no table edited, the Markdown form, and a wrong group in one line."""

import ast
import shutil

import yaml

from gan.components import main
from tests.conftest import CONF, ROOT


def listing(capsys, *argv) -> dict[str, str]:
    """{option: its line} from the plain output of one group."""
    assert main(list(argv)) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    return dict(line.strip().split(maxsplit=1) for line in lines if line.strip())


def expected_first_line(path) -> str:
    """The yaml's top comment, else its target's module docstring: the first line of either."""
    text = path.read_text()
    top = []
    for line in text.splitlines():
        if line.startswith("# @package"):
            continue
        if not line.startswith("#"):
            break
        top.append(line.lstrip("# "))
    if top:
        return top[0]
    module = yaml.safe_load(text)["_target_"].rsplit(".", 1)[0]
    source = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    return ast.get_docstring(ast.parse(source.read_text())).splitlines()[0]


def test_every_trick_yaml_is_listed_with_its_docstring_line(capsys):
    listed = listing(capsys, "trick")
    yamls = sorted(p for p in (CONF / "trick").glob("*.yaml"))
    assert sorted(listed) == [p.stem for p in yamls]
    for path in yamls:
        first, line = expected_first_line(path), listed[path.stem]
        assert line.startswith(first) or first.startswith(line), path.stem  # a sentence may end mid-line
    assert listed["apa"].startswith("Adaptive pseudo augmentation, APA (Jiang et al., NeurIPS 2021")
    assert (
        listed["r1"]
        == "R1 gradient penalty on real data (Mescheder et al. 2018): gamma/2 * E[|grad_x D(x)|^2]."
    )


def test_a_new_trick_file_and_yaml_appear_with_no_table_edited(tmp_path, capsys, monkeypatch):
    conf = shutil.copytree(CONF, tmp_path / "conf")
    package = tmp_path / "my_tricks"
    package.mkdir()
    (package / "shiny.py").write_text(
        '"""Shiny: a trick made for this test.\n\nMore words."""\n\nclass Shiny:\n    pass\n'
    )
    (conf / "trick" / "shiny.yaml").write_text("# @package trick.shiny\n_target_: my_tricks.shiny.Shiny\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = listing(capsys, "trick")
    after = listing(capsys, "trick", "--conf", str(conf))
    assert "shiny" not in before and after.pop("shiny") == "Shiny: a trick made for this test."
    assert after == before


def test_every_group_and_the_markdown_table(capsys):
    assert main(["--markdown"]) == 0
    out = capsys.readouterr().out
    headings = [line[5:-1] for line in out.splitlines() if line.startswith("### ")]
    groups = [
        "data",
        "model",
        "loss",
        "trick",
        "optim",
        "perf",
        "trainer",
        "logger",
        "callbacks",
        "experiment",
    ]
    assert headings[: len(groups)] == groups and "hydra" not in headings and "paths" not in headings
    assert "| `hinge` | Hinge loss (Lim & Ye; SAGAN/BigGAN). |" in out  # a shared module: the class's line
    assert "| `cpu` | default + accelerator=cpu |" in out  # no words in the yaml: what it sets
    assert "| `default` | lightning.pytorch.Trainer |" in out  # a re-exported target: its name


def test_a_wrong_group_is_one_line_with_exit_2(capsys):
    assert main(["tricks"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: no config group tricks; choose from data, model")
