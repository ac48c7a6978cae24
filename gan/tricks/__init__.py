"""Training tricks, one file each: a pure function plus a `Trick` subclass. See `base.py` for the hooks."""

from gan.tricks.base import Trick

__all__ = ["Trick"]
