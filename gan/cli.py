"""One command-line dialect and one error style for every entry point: Hydra overrides (`key=value`), and a
config problem is one line, `error: ...`, with exit code 2.

Hydra reports a mistyped option or a YAML error in a user's config at length (a search path, or a
traceback of Hydra's own frames, exit 1). `install()` rewords those for train.py: the option that does not
exist with the group's options and the closest one, the file and line of a YAML error. Anything else keeps
Hydra's report, and `HYDRA_FULL_ERROR=1` still shows every traceback.

The tools (`python -m gan.generate`, `gan.export`, `gan.studio`, `gan.sweep_report`) compose
`conf/<tool>.yaml` with their overrides through Hydra's compose API (`run_tool`); `--help` lists each option
with its default and the comment line above it in that file. A tool config may pick a config group in its
defaults list (`- sampler: plain`, the comment line above it is its help): `sampler=drs`, `sampler.psi=0.7`.
"""

import difflib
import errno
import inspect
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import yaml
from hydra.errors import MissingConfigException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from gan.errors import ConfigError
from gan.renamed import OPTIONS, RENAMED, upgrade_overrides

#: the configs: inside the installed package (the wheel carries conf/ as gan/conf), else the checkout's conf/
CONF = next(
    p for p in (Path(__file__).parent / "conf", Path(__file__).resolve().parents[1] / "conf") if p.is_dir()
)
#: how a user here starts a command: `uv run python` in the checkout, `python` where the package is installed
PYTHON = "uv run python" if CONF.parent != Path(__file__).parent else "python"
TRAIN = f"{PYTHON} train.py" if PYTHON.startswith("uv") else "python -m gan"
QUOTE = "quote a value that holds = , [ ] { } or ( ): key='...'"


def group_options(group: str) -> list[str]:
    from hydra.core.global_hydra import GlobalHydra

    if not GlobalHydra.instance().is_initialized():
        return []
    return sorted(GlobalHydra.instance().config_loader().get_group_options(group))


def missing_option(err: MissingConfigException) -> str | None:
    path = err.missing_cfg_file or ""
    if "/" not in path:
        return None
    group, name = path.rsplit("/", 1)
    if new := OPTIONS.get(group, {}).get(name):  # in a yaml file (the command line reads it as today's)
        return f"{group}={name} is now called {new}: write {new}"
    options = list(err.options or []) or group_options(group)
    close = difflib.get_close_matches(name, options, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    if group in ("hydra/launcher", "hydra/sweeper") and not close:
        hint = " (the launchers and sweepers are an extra: pip install 'gan[launchers]')"
    return f"{group}={name}: no such option{hint}; options: {', '.join(options) or 'none'}"


def yaml_error(err: BaseException) -> str | None:
    while err is not None and not isinstance(err, yaml.YAMLError):
        err = err.__cause__ or err.__context__
    if err is None:
        return None
    mark = getattr(err, "problem_mark", None)
    where = f"{mark.name}, line {mark.line + 1}, column {mark.column + 1}" if mark else "a config file"
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return f"YAML syntax error in {where}: {problem}"


def renamed_key(err: BaseException) -> str | None:
    """An override of a key that was renamed: its new name."""
    found = re.match(r"Could not override '([^']+)'", str(err))
    if found is None or found.group(1) not in RENAMED:
        return None
    old, new = found.group(1), RENAMED[found.group(1)]
    return f"{old} is now called {new}: pass {new}=... instead"


def train_keys() -> list[str]:
    """Every dotted key of the training config as composed with no overrides."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()  # only ever on the way out, after an error
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3", job_name="train"):
        cfg = OmegaConf.to_container(compose(config_name="train"), resolve=False)

    def walk(node, prefix=""):
        for key, value in node.items():
            yield prefix + str(key)
            if isinstance(value, dict):
                yield from walk(value, f"{prefix}{key}.")

    return list(walk(cfg))


def closest_key(key: str, keys: list[str]) -> str:
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def unknown_key(err: BaseException) -> str | None:
    """`max_iteration=10` (not in the config) or `+data.imagesize=64` (not an argument): the closest key."""
    text = f"{err}\n{err.__cause__ or ''}"
    found = re.match(r"Could not override '([^']+)'", text)
    if found and "not in struct" in text:
        key = found.group(1)
        return f"{key}: no such key{closest_key(key, train_keys())}"
    found = re.search(r"unexpected keyword argument '([^']+)'.*?full_key: (\S+)", text, re.S)
    if found:
        key = f"{found.group(2)}.{found.group(1)}"
        return f"{key}: not a setting of {found.group(2)}{closest_key(key, train_keys())}"
    return None


def unread_added_keys(argv: list[str]) -> str | None:
    """`+max_iteration=10` adds a top-level key that nothing reads: refused, not silently ignored."""
    added = [arg[1:].split("=", 1)[0] for arg in argv if arg.startswith("+") and not arg.startswith("++")]
    top = [key for key in added if "." not in key and not (CONF / key).is_dir()]  # `+experiment=x` is a group
    if not top:
        return None
    keys = train_keys()
    for key in top:
        if key not in keys:
            return f"+{key}: the run reads no such key{closest_key(key, keys)}"
    return None


#: a path the run cannot make (its directory, before any work): what to change
PATH_ERRORS = {
    errno.ENAMETOOLONG: "; a file or folder name has at most 255 characters: shorten hydra.run.dir",
    errno.EACCES: "; pass a hydra.run.dir this user can write",
    errno.EROFS: "; pass a hydra.run.dir on a writable disk",
    errno.ENOENT: "",
}


def one_line(err: BaseException) -> str | None:
    """Our one-line wording of a config problem; None for anything else."""
    if isinstance(err, ConfigError):
        return str(err)
    if isinstance(err, MissingConfigException):
        return missing_option(err)
    if renamed_key(err):
        return renamed_key(err)
    if unknown_key(err):
        return unknown_key(err)
    found = yaml_error(err)
    if found:
        return found
    if isinstance(err, OSError) and err.errno in PATH_ERRORS and err.filename:
        name = str(err.filename)
        shown = name if len(name) <= 80 else f"{name[:60]}...{name[-17:]} ({len(name)} characters)"
        return f"{err.strerror}: {shown}" + PATH_ERRORS[err.errno]
    if isinstance(err, OmegaConfBaseException) and "\n" not in str(err).strip():
        return str(err).strip()
    return None


def install() -> None:
    """Route Hydra's error reporting (composition, overrides) through `one_line`."""
    from gan.patches import route_hydra_errors  # imports Lightning: only for the training command

    def one_line_report(report):
        def run_and_report(func):
            try:
                return func()
            except Exception as err:
                message = None if os.environ.get("HYDRA_FULL_ERROR") == "1" else one_line(err)
                if message is None:
                    failed = err

                    def again():
                        raise failed

                    return report(again)  # Hydra's own report
                print(f"error: {message}", file=sys.stderr)
                raise SystemExit(2) from None

        return run_and_report

    route_hydra_errors(one_line_report)
    sys.argv[1:], notes = upgrade_overrides(sys.argv[1:])  # trick=d_freeze: read as trick=d_pause
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if message := unread_added_keys(sys.argv[1:]):
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


# ---- the tools: python -m gan.<tool> key=value ... ----------------------------------------------------


def tool_groups(tool: str) -> dict[str, str]:
    """The config groups conf/<tool>.yaml picks in its defaults list, each with its default option."""
    defaults = OmegaConf.to_container(OmegaConf.load(CONF / f"{tool}.yaml")).get("defaults") or []
    return {key: value for entry in defaults if isinstance(entry, dict) for key, value in entry.items()}


def option_help(tool: str) -> dict[str, str]:
    """conf/<tool>.yaml's options, then its groups, each with the comment line just above it (its --help
    text)."""
    described, groups, comment = {}, {}, []
    for line in (CONF / f"{tool}.yaml").read_text().splitlines():
        entry = re.fullmatch(r"\s+- (\w+): *\S+", line)  # a group in the defaults list
        if line.strip().startswith("#"):
            comment.append(line.strip().lstrip("#").strip())
        elif entry:
            groups[entry.group(1)] = " ".join(comment)
            comment = []
        elif line[:1].isalnum() and ":" in line and not line.startswith("defaults:"):
            described[line.split(":", 1)[0]] = " ".join(comment)
            comment = []
        else:
            comment = []
    return {**described, **groups}


def show(value) -> str:
    """A default as one writes it on the command line."""
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def usage(tool: str, doc: str) -> str:
    defaults, described = OmegaConf.load(CONF / f"{tool}.yaml"), option_help(tool)
    rows = [(f"{key}={show(value)}", described.get(key, "")) for key, value in defaults.items()]
    rows = [row for row in rows if not row[0].startswith("defaults=")]
    for group, option in tool_groups(tool).items():
        options = ", ".join(sorted(path.stem for path in (CONF / group).glob("*.yaml")))
        rows.append((f"{group}={option}", f"{described.get(group, '')} (conf/{group}/: {options})".strip()))
    width = max(len(left) for left, _ in rows) + 2
    return "\n".join(
        [
            f"usage: python -m gan.{tool} [key=value ...]",
            "",
            inspect.cleandoc(doc),
            "",
            f"options (Hydra overrides, as for train.py; defaults from conf/{tool}.yaml):",
            *(f"  {left:<{width}}{right}" for left, right in rows),
        ]
    )


def first_line(err: BaseException) -> str:
    return next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)


def check_overrides(tool: str, argv: list[str]) -> None:
    """Each argument is `key=value` for one of the tool's options; else one line naming the closest."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType
    from hydra.errors import HydraException

    options, groups = list(option_help(tool)), tool_groups(tool)
    parser = OverridesParser.create()
    for arg in argv:
        if "=" not in arg:
            raise ConfigError(f"{arg}: options are key=value (python -m gan.{tool} --help lists them)")
        try:
            [override] = parser.parse_overrides([arg])
        except HydraException as err:
            raise ConfigError(f"{arg}: not key=value ({first_line(err)}); {QUOTE}") from None
        key = override.key_or_group
        if key.split(".")[0] in groups and override.type == OverrideType.CHANGE:
            continue  # a group's option or one of its settings: Hydra's composition checks it
        if key not in options or override.type != OverrideType.CHANGE:
            close = difflib.get_close_matches(key.lstrip("+~"), options, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(
                f"{arg}: no such option{hint}; options: {', '.join(options)} (python -m gan.{tool} --help)"
            )


def arguments(tool: str, argv: list[str]) -> dict:
    """conf/<tool>.yaml with `argv`'s overrides, composed by Hydra, as a plain dict."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException

    check_overrides(tool, argv)
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3", job_name=tool):
        try:
            cfg = compose(config_name=tool, overrides=list(argv))
        except MissingConfigException as err:  # sampler=drss: the group's options, the closest
            raise ConfigError(missing_option(err) or first_line(err)) from None
        except HydraException as err:  # a comma in a value (Hydra reads a sweep), ...
            raise ConfigError(group_setting(tool, argv, err) or f"{first_line(err)}; {QUOTE}") from None
    return OmegaConf.to_container(cfg, resolve=True)


def group_setting(tool: str, argv: list[str], err: Exception) -> str | None:
    """`sampler.psi=0.7` where the chosen sampler has no psi: the settings it has."""
    found = re.match(r"Could not override '(\w+)\.([^']+)'", str(err))
    groups = tool_groups(tool)
    if found is None or found.group(1) not in groups:
        return None
    group, key = found.groups()
    option = next((a.split("=", 1)[1] for a in argv if a.startswith(f"{group}=")), groups[group])
    settings = ", ".join(k for k in OmegaConf.load(CONF / group / f"{option}.yaml") if k != "_target_")
    return f"{group}.{key}: {group}={option} has no such setting; its settings: {settings or 'none'}"


def run_tool(tool: str, doc: str, func: Callable[[dict], object], argv: list[str] | None = None):
    """`python -m gan.<tool>`: --help, or `func` of the composed options; a ConfigError: one line, exit 2."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--help" in argv or "-h" in argv:
        print(usage(tool, doc))
        raise SystemExit(0)
    try:
        return func(arguments(tool, argv))
    except ConfigError as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
