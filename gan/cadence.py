"""The one cadence rule of the iteration clock (gan/loggers.py): "every N iterations", optionally also at a
first iteration (a grid at iteration 1, the first health check early)."""


def due(iteration: int, every: int, first: int | None = None) -> bool:
    """At `first`, and at every multiple of `every` from then on; `every` <= 0 means never (but `first`)."""
    if iteration == first:
        return True
    after_first = first is None or iteration > first
    return every > 0 and iteration % every == 0 and after_first
