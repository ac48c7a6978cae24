"""The one exception type for bad configuration or input, raised before any work is lost, and Hydra's
instantiate letting it through unwrapped."""

import importlib.util

from hydra.errors import InstantiationException
from hydra.utils import instantiate as hydra_instantiate


class ConfigError(ValueError):
    """A config value, combination, path or file the run cannot use. The message says how to fix it."""


def instantiate(node, **kwargs):
    """Hydra's instantiate, but a ConfigError from a constructor reaches the user unwrapped."""
    try:
        return hydra_instantiate(node, **kwargs)
    except InstantiationException as err:
        if isinstance(err.__cause__, ConfigError):
            raise err.__cause__ from None
        raise


def require_extra(extra: str, *modules: str, what: str) -> None:
    """A ConfigError naming the pip extra when `what` needs modules this installation lacks."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"{what} needs {', '.join(missing)}: pip install 'gan[{extra}]'")
