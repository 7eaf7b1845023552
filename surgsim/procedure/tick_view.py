"""What the procedure runtime sees of one physics tick: plain data, SI units, scene (RAS) frame.

The session loop fills a :class:`TickView` after each tick from the solver's node positions, the instruments' state
and the events the coupling reported during the tick, and hands it to
:meth:`surgsim.procedure.runtime.ProcedureRuntime.update`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from surgsim.procedure.region_geometry import segment_point_distances

ToolCapsule = tuple[np.ndarray, np.ndarray, float]  # segment ends p0, p1 [m] and radius [m]
# A capsule whose segment passes this close to the tip belongs to the working end (the jaws, the hook).
_REACHES_TIP_M = 1e-6


@dataclass(frozen=True, eq=False)
class InstrumentView:
    """One instrument after a tick.

    - ``tip_m`` [3] [m]: the tip, as in the trace's samples
    - ``capsules``: its geometry as (p0 [m], p1 [m], radius [m]) capsules, shaft and jaws alike
    - ``force_n`` [3] [N]: the tissue's force on the tool
    - ``jaw``: 0 open .. 1 closed; ``energy``: cautery on
    - ``grasped_nodes`` [K] int: tissue node ids held in the jaws
    """

    tip_m: np.ndarray
    capsules: tuple[ToolCapsule, ...] = ()
    force_n: np.ndarray = field(default_factory=lambda: np.zeros(3))
    jaw: float = 0.0
    energy: bool = False
    grasped_nodes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self):
        object.__setattr__(self, "tip_m", np.asarray(self.tip_m, dtype=np.float64).reshape(3))
        object.__setattr__(self, "force_n", np.asarray(self.force_n, dtype=np.float64).reshape(3))
        object.__setattr__(self, "grasped_nodes", np.asarray(self.grasped_nodes, dtype=np.int64).reshape(-1))
        object.__setattr__(self, "capsules", tuple(
            (np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64), float(radius))
            for p0, p1, radius in self.capsules
        ))

    @property
    def force_magnitude_n(self) -> float:
        return math.sqrt(self.force_n.dot(self.force_n))  # np.linalg.norm's own sum, without its 3 µs of checks

    def working_end(self) -> tuple[ToolCapsule, ...]:
        """The capsules that reach the tip (jaws, hook): what touches tissue on purpose."""
        return tuple(
            capsule for capsule in self.capsules
            if segment_point_distances(capsule[0], capsule[1], self.tip_m[None])[0] <= _REACHES_TIP_M
        )


class TickView:
    """One physics tick: ``tick`` number, ``time_s`` [s] at its end, ``dt_s`` [s] the time since the previous view,
    the tissue's node ``positions`` [N, 3] [m], every procedure instrument by name, and the coupling's ``events`` of
    this tick.

    ``positions`` may be given as an array or as a function that returns one: it is then called once, when a goal
    or zone first needs the tissue (most ticks need none, and copying every node from the device costs more than the
    rest of the procedure's bookkeeping)."""

    __slots__ = ("tick", "time_s", "dt_s", "instruments", "events", "_positions", "_source")

    def __init__(self, tick: int, time_s: float, dt_s: float, positions: "np.ndarray | Callable[[], np.ndarray]",
                 instruments: Mapping[str, InstrumentView], events=()):
        self.tick = tick
        self.time_s = time_s
        self.dt_s = dt_s
        self.instruments = instruments
        self.events = tuple(events)
        self._positions = None
        self._source = positions

    @property
    def positions_given(self) -> bool:
        """Whether the positions are at hand (an array was given, or the function was called already)."""
        return self._positions is not None or not callable(self._source)

    @property
    def positions(self) -> np.ndarray:
        if self._positions is None:
            source = self._source
            self._positions = np.asarray(source() if callable(source) else source, dtype=np.float64)
        return self._positions
