"""The one exception type for bad configuration or input, raised before any work is lost."""


class ConfigError(ValueError):
    """A config value, combination, path or file the run cannot use. The message says how to fix it."""
