"""Durations as a person reads them, and progress lines for work done before or between training iterations
(the FID encoder, the domain classifier): the share done and the time left, every `every` seconds."""

import logging
import time

log = logging.getLogger(__name__)


def duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return (
        f"{hours} h {minutes:02d} min"
        if hours
        else f"{minutes} min {seconds:02d} s"
        if minutes
        else f"{seconds} s"
    )


def time_budget(trainer):
    """The Timer of a run with `trainer.max_time`; None when the run has no time limit."""
    from lightning.pytorch.callbacks import Timer

    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
    return timer if timer is not None and timer._duration is not None else None


def say(text: str) -> None:
    """A line for the user, on stdout without a log prefix, and in the run's log file too (Hydra's
    `<task>.log`): a nohup or SLURM user reading the file sees what the screen showed."""
    print(text, flush=True)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler) and handler.stream is not None:
            handler.stream.write(text + "\n")
            handler.flush()


class Ticker:
    """Call with the number of steps done; a line at most every `every` seconds, none after the last step."""

    def __init__(self, what: str, total: int, every: float = 15.0):
        self.what, self.total, self.every = what, total, every
        self.start = self.last = time.perf_counter()

    def __call__(self, done: int) -> None:
        now = time.perf_counter()
        if now - self.last < self.every or not 0 < done < self.total:
            return
        self.last = now
        left = (now - self.start) / done * (self.total - done)
        log.info(
            "%s: %d/%d (%d%%), %s left", self.what, done, self.total, 100 * done // self.total, duration(left)
        )
