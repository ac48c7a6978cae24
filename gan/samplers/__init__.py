"""Samplers: which latents G draws in `python -m gan.generate` and on the studio's page. See `base.py`."""

from gan.samplers.base import Models, Sampler, build

__all__ = ["Models", "Sampler", "build"]
