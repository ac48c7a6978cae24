"""Checks on the resolved config that fail fast, before data loads or models build, naming the key."""

from omegaconf import DictConfig, OmegaConf

from gan.errors import ConfigError
from gan.priors import PRIORS


def _positive(cfg: DictConfig, key: str, allow_zero: bool = False) -> None:
    value = OmegaConf.select(cfg, key)
    if value is None:
        return
    if not isinstance(value, int | float) or value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{key}={value!r}: must be a number {'>= 0' if allow_zero else '> 0'}")


def _whole(cfg: DictConfig, key: str, least: int) -> None:
    value = OmegaConf.select(cfg, key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
        raise ConfigError(f"{key}={value!r}: must be a whole number >= {least}")


TIMEDELTA_KEYS = ("weeks", "days", "hours", "minutes", "seconds", "milliseconds", "microseconds")


def _max_time(value) -> None:
    """Lightning's forms: "DD:HH:MM:SS" or a dict of timedelta's keyword arguments."""
    example = "use {minutes: 5} (keys: " + ", ".join(TIMEDELTA_KEYS) + ") or DD:HH:MM:SS"
    if value is None:
        return
    if isinstance(value, str):
        parts = value.split(":")
        if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
            raise ConfigError(f"trainer.max_time={value!r}: not DD:HH:MM:SS; {example}")
        return
    if not isinstance(value, dict | DictConfig):
        raise ConfigError(f"trainer.max_time={value!r}: {example}")
    for key, amount in value.items():
        if key not in TIMEDELTA_KEYS:
            raise ConfigError(f"trainer.max_time: unknown key {key!r}; {example}")
        if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
            raise ConfigError(f"trainer.max_time.{key}={amount!r}: must be a number >= 0")


def validate(cfg: DictConfig) -> None:
    for key in ("data.batch_size", "data.image_size", "model.latent_dim"):
        _whole(cfg, key, 1)
    _whole(cfg, "max_iterations", 1)
    _whole(cfg, "default_epochs", 1)
    _max_time(OmegaConf.select(cfg, "trainer.max_time"))
    for net in ("generator", "discriminator"):
        _positive(cfg, f"optim.{net}.lr")
        _positive(cfg, f"optim.{net}.weight_decay", allow_zero=True)
    if cfg.data.get("channels") not in (None, 1, 3):  # null: the dataset's own
        raise ConfigError(f"data.channels={cfg.data.get('channels')!r}: allowed values are 1 or 3")
    if cfg.model.get("prior") not in PRIORS:
        raise ConfigError(f"model.prior={cfg.model.get('prior')!r}: allowed values are {list(PRIORS)}")
    num_workers = cfg.data.get("num_workers", 0)
    if not isinstance(num_workers, int) or num_workers < 0:
        raise ConfigError(f"data.num_workers={num_workers!r}: must be an integer >= 0")
