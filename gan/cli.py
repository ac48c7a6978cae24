"""One error style for every entry point: a config problem is one line, `error: ...`, and exit code 2.

Hydra reports a mistyped option or a YAML error in a user's config at length (a search path, or a
traceback of Hydra's own frames, exit 1). `install()` rewords those: the option that does not exist with
the group's options and the closest one, the file and line of a YAML error. Anything else keeps Hydra's
report, and `HYDRA_FULL_ERROR=1` still shows every traceback.
"""

import difflib
import os
import sys

import yaml
from hydra.errors import MissingConfigException
from omegaconf.errors import OmegaConfBaseException

from gan.errors import ConfigError


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
    options = list(err.options or []) or group_options(group)
    close = difflib.get_close_matches(name, options, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
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


def one_line(err: BaseException) -> str | None:
    """Our one-line wording of a config problem; None for anything else."""
    if isinstance(err, ConfigError):
        return str(err)
    if isinstance(err, MissingConfigException):
        return missing_option(err)
    found = yaml_error(err)
    if found:
        return found
    if isinstance(err, OmegaConfBaseException) and "\n" not in str(err).strip():
        return str(err).strip()
    return None


def install() -> None:
    """Route Hydra's error reporting (composition, overrides) through `one_line`."""
    import hydra._internal.utils as hydra_utils

    report = hydra_utils.run_and_report
    if getattr(report, "gan_one_line", False):
        return

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

    run_and_report.gan_one_line = True
    hydra_utils.run_and_report = run_and_report
