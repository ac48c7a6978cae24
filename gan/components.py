"""Every option of every config group with one line on what it is, read from the configs and the code.

    uv run python -m gan.components                 # every group
    uv run python -m gan.components trick sampler   # some groups
    uv run python -m gan.components --markdown      # a Markdown table per group
    uv run python -m gan.components --conf DIR      # another conf/ tree

An option's line is the first sentence (at most 160 characters) of, in this order:
1. the comment block at the top of its yaml (the `# @package` line aside): written for that very option;
2. the module docstring of its `_target_`, when the yaml names one target and the module defines it (a
   module several options of the group share gives the target's own docstring instead: the losses);
   a target another module re-exports is shown by its name (`lightning.pytorch.Trainer`);
3. the yaml's first comment line;
4. what the yaml sets (`default + accelerator=cpu`).
Nothing is imported (the files are parsed), so a new trick file and yaml appear with no table edited.
`hydra` and `paths` are not listed: Hydra's and the run's own settings, not options to choose.
"""

import argparse
import ast
import re
import sys
from pathlib import Path

import yaml

#: the groups in the order a run composes them; any other group directory follows, alphabetically
ORDER = (
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
    "debug",
    "sampler",
)
SKIP = ("hydra", "paths")
MAX_CHARS = 160
#: a sentence ends at . ! or ? before a capital, a quote or a bracket, but not after "et al." or "e.g."
SENTENCE_END = re.compile(r"(?<=[.!?])(?<! al\.)(?<!e\.g\.)(?<!i\.e\.)\s+(?=[A-Z`(\"'])")
#: the configs: inside the installed package (the wheel carries conf/ as gan/conf), else the checkout's
CONF = next(
    (p for p in (Path(__file__).parent / "conf", Path(__file__).resolve().parents[1] / "conf") if p.is_dir()),
    Path("conf"),
)


def first_sentence(text: str) -> str:
    """The first sentence of the first paragraph, on one line, cut at MAX_CHARS."""
    paragraph = " ".join(text.strip().split("\n\n")[0].split())
    sentence = re.split(SENTENCE_END, paragraph, maxsplit=1)[0]
    if len(sentence) > MAX_CHARS:
        sentence = sentence[: MAX_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return sentence


def comments(text: str) -> tuple[str, str]:
    """(the comment block above the first key, the first comment line anywhere), `# @package` aside."""
    header, first, above_keys = [], "", True
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# @package"):
            continue
        if stripped.startswith("#"):
            words = stripped.lstrip("#").strip()
            first = first or words
            if above_keys:
                header.append(words)
        elif stripped:
            above_keys = False
    return "\n".join(header), first


def targets(node) -> list[str]:
    """Every `_target_` in a parsed yaml, nested ones included, each once, in order."""
    found = []
    if isinstance(node, dict):
        if isinstance(node.get("_target_"), str):
            found.append(node["_target_"])
        for value in node.values():
            found += targets(value)
    elif isinstance(node, list):
        for value in node:
            found += targets(value)
    return list(dict.fromkeys(found))


def locate(target: str) -> tuple[Path, str] | None:
    """The source file of `target`'s module and the name inside it, found on sys.path without importing."""
    parts = target.split(".")
    for root in [Path(p or ".") for p in sys.path]:
        for cut in range(len(parts) - 1, 0, -1):
            base = root.joinpath(*parts[:cut])
            for source in (base.with_suffix(".py"), base / "__init__.py"):
                if source.is_file():
                    return source, parts[cut]
    return None


def docstrings(source: Path, name: str) -> tuple[str, str, bool]:
    """(module docstring, `name`'s own docstring, whether the module defines `name`)."""
    tree = ast.parse(source.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef) and node.name == name:
            return ast.get_docstring(tree) or "", ast.get_docstring(node) or "", True
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.get_docstring(tree) or "", "", True
    return ast.get_docstring(tree) or "", "", False


def settings(parsed) -> str:
    """What a yaml with no words says, by its contents: `default + accelerator=cpu`."""
    if not isinstance(parsed, dict):
        return ""
    picks = [next(iter(d.values())) if isinstance(d, dict) else d for d in parsed.get("defaults") or []]
    picks = [str(p).split("/")[-1] for p in picks if p != "_self_"]
    values = [f"{k}={v}" for k, v in parsed.items() if k != "defaults" and not isinstance(v, dict | list)]
    return " + ".join(picks + values)


def describe(path: Path, shared: set[str]) -> str:
    """One line on the option `path` (a yaml), by the rules in this module's docstring."""
    text = path.read_text(encoding="utf-8")
    header, first_comment = comments(text)
    if header:
        return first_sentence(header)
    parsed = yaml.safe_load(text)
    found = targets(parsed)
    where = locate(found[0]) if len(found) == 1 else None
    if where:
        module_doc, own_doc, defined = docstrings(*where)
        if not defined:
            return found[0]
        doc = own_doc if where[0] in shared and own_doc else module_doc
        if doc:
            return first_sentence(doc)
    elif len(found) == 1:
        return found[0]
    return first_sentence(first_comment) if first_comment else settings(parsed)


def groups(conf: Path) -> list[str]:
    present = sorted(p.name for p in conf.iterdir() if p.is_dir() and p.name not in SKIP)
    return [g for g in ORDER if g in present] + [g for g in present if g not in ORDER]


def options(conf: Path, group: str) -> dict[str, str]:
    """{option: its line} for one group, options in name order."""
    paths = sorted((conf / group).glob("*.yaml"))
    modules = []
    for path in paths:
        found = targets(yaml.safe_load(path.read_text(encoding="utf-8")))
        where = locate(found[0]) if len(found) == 1 else None
        modules.append(where[0] if where else None)
    shared = {m for m in modules if m is not None and modules.count(m) > 1}
    return {path.stem: describe(path, shared) for path in paths}


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(listing: dict[str, dict[str, str]], markdown: bool) -> str:
    lines = []
    for group, described in listing.items():
        if markdown:
            lines += [f"### `{group}`", "", "| option | what it is |", "|---|---|"]
            lines += [f"| `{name}` | {cell(line)} |" for name, line in described.items()]
        else:
            width = max(map(len, described), default=0)
            lines += [group] + [f"  {name:<{width}}  {line}" for name, line in described.items()]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gan.components", description=__doc__.splitlines()[0])
    parser.add_argument("group", nargs="*", help="groups to list (default: all)")
    parser.add_argument("--markdown", action="store_true", help="a Markdown table per group")
    parser.add_argument("--conf", type=Path, default=CONF, help=f"the conf/ directory (default {CONF})")
    args = parser.parse_args(argv)
    if not args.conf.is_dir():
        print(f"error: --conf {args.conf}: no such directory", file=sys.stderr)
        return 2
    known = groups(args.conf)
    unknown = [g for g in args.group if g not in known]
    if unknown:
        print(f"error: no config group {', '.join(unknown)}; choose from {', '.join(known)}", file=sys.stderr)
        return 2
    listing = {group: options(args.conf, group) for group in args.group or known}
    sys.stdout.write(render(listing, args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
