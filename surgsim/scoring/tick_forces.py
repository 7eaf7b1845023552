"""The force on every instrument tip at every tick, for the trace's samples.

Samples are taken every few ticks (:data:`surgsim.session.SAMPLE_EVERY_TICKS`), but a force peak lasts a few ticks:
read from samples alone, the maximum force, the time above the force limit and the force distribution would miss
or mis-time it. The session therefore hands each tick's forces to a :class:`TickForceRecorder` (one call per tick),
and each sample carries ``tick_forces_n``: the force magnitudes [N] at every tick since the previous sample, the last
one being the sample's own tick. The scorer computes its force metrics from these.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from surgsim.trace import InstrumentSample


class TickForceRecorder:
    """Collects the tip force magnitudes of each tick until the next sample takes them."""

    def __init__(self, instruments: tuple[str, ...]):
        self._forces: dict[str, list[float]] = {name: [] for name in instruments}

    def add(self, force_on: Callable[[str], np.ndarray]) -> None:
        """Record the forces of one tick: ``force_on(instrument)`` is the tissue's force on its tip [N] (a vector)."""
        for name, forces in self._forces.items():
            force = np.asarray(force_on(name), dtype=np.float64)
            forces.append(math.sqrt(force.dot(force)))  # np.linalg.norm's own sum, without its 3 µs of checks

    def attach(self, samples: dict[str, InstrumentSample]) -> dict[str, InstrumentSample]:
        """``samples`` with the forces recorded since the previous sample; starts collecting afresh."""
        attached = {
            name: sample.model_copy(update={"tick_forces_n": self._forces[name]}) for name, sample in samples.items()
        }
        self._forces = {name: [] for name in self._forces}
        return attached
