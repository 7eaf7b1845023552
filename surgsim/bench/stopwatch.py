"""Timing from outside: the time spent inside chosen methods of chosen objects (the object's code is not changed), and
the best and median time per call of a step function."""

from __future__ import annotations

import time

import numpy as np


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


def time_chunks(step, steps: int, sync=lambda: None) -> tuple[float, float, int]:
    """(best, median) time per step over 5 chunks of ``steps``/5 steps, and the steps run: the best chunk is the
    machine's speed when nothing else competes for it (a shared CPU), the median what a user would see."""
    chunks = 5 if steps >= 5 else 1
    per_chunk = max(1, steps // chunks)
    times = []
    for _ in range(chunks):
        start = time.perf_counter()
        for _ in range(per_chunk):
            step()
        sync()
        times.append((time.perf_counter() - start) / per_chunk)
    return float(min(times)), float(np.median(times)), chunks * per_chunk
