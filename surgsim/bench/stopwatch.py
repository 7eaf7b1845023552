"""Time spent inside chosen methods of chosen objects, measured from outside (the object's code is not changed)."""

from __future__ import annotations

import time


class Stopwatch:
    """Accumulates the wall time spent in ``owner.method`` (wrapped on the instance) and how often it ran.

    Wrapping several methods that call each other counts the inner time in both: time disjoint stages only."""

    def __init__(self, owner, method: str):
        self.seconds = 0.0
        self.calls = 0
        original = getattr(owner, method)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.calls += 1

        setattr(owner, method, timed)

    def reset(self) -> None:
        self.seconds = 0.0
        self.calls = 0
