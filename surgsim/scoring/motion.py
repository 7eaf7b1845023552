"""Motion and force metrics over the trace's instrument samples.

The samples become arrays (:class:`SampleSeries`). A *gap* is the interval between two successive samples, and the
values of a sample stand for the gap that ends at it (sample-and-hold backwards): the sample at tick 0 marks where
things started, and every later sample describes the interval since the one before. A time window (a step) is the
set of gaps that end inside it, so the gaps of consecutive windows add up exactly to the whole session.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from surgsim.errors import InputError
from surgsim.trace import Trace

# A tip slower than this is not moving (drift and tremor of a hand holding still are below it).
IDLE_SPEED_M_S = 0.005
# A tip force below this is not contact: the coupling's resting noise stays under it.
CONTACT_FORCE_N = 0.05


@dataclass(frozen=True)
class SampleSeries:
    instruments: tuple[str, ...]
    times_s: np.ndarray  # [K]
    tips_m: np.ndarray  # [I, K, 3]
    forces_n: np.ndarray  # [I, K], magnitude of the force on each tip

    @classmethod
    def from_trace(cls, trace: Trace, instruments: tuple[str, ...]) -> "SampleSeries":
        """Arrays of ``trace``'s samples; every sample must hold exactly ``instruments`` (the procedure's)."""
        expected = set(instruments)
        for record in trace.samples:
            if set(record.instruments) != expected:
                raise InputError(
                    trace.path,
                    f"the sample at tick {record.tick} has instruments {sorted(record.instruments)}, but the "
                    f"procedure has {sorted(expected)}.",
                )
        times = np.array([trace.time_s(record.tick) for record in trace.samples], dtype=float)
        tips = np.array([[record.instruments[name].tip_m for record in trace.samples] for name in instruments])
        forces = np.array([[record.instruments[name].force_n for record in trace.samples] for name in instruments])
        count = len(trace.samples)
        tips = tips.reshape(len(instruments), count, 3)
        forces = np.linalg.norm(forces.reshape(len(instruments), count, 3), axis=2)
        return cls(tuple(instruments), times, tips, forces)

    def gaps_ending_in(self, start_s: float | None, end_s: float) -> np.ndarray:
        """Mask over the K-1 gaps of those ending in (start_s, end_s]; ``start_s=None`` means from the beginning."""
        ends = self.times_s[1:]
        inside = ends <= end_s
        return inside if start_s is None else inside & (ends > start_s)


@dataclass(frozen=True)
class InstrumentMotion:
    """One instrument in one window. ``straight_line_mm`` is the distance from where the tip was when the window began
    to where it was when the window ended: the shortest path that would have done the same."""

    path_length_mm: float
    straight_line_mm: float
    max_force_N: float


@dataclass(frozen=True)
class Motion:
    idle_time_s: float
    max_force_N: float
    mean_contact_force_N: float | None  # None: no contact at all
    time_above_force_limit_s: float
    instruments: dict[str, InstrumentMotion]


def motion_in(series: SampleSeries, gaps: np.ndarray, force_limit_n: float) -> Motion:
    """The motion and force metrics of the gaps selected by the boolean mask ``gaps``."""
    durations = np.diff(series.times_s)[gaps]
    steps = np.linalg.norm(np.diff(series.tips_m, axis=1), axis=2)[:, gaps]  # [I, G] distance moved per gap
    forces = series.forces_n[:, 1:][:, gaps]  # [I, G] force at each gap's end
    speeds = steps / np.where(durations > 0, durations, np.inf)
    idle = np.all(speeds < IDLE_SPEED_M_S, axis=0)
    above = np.any(forces > force_limit_n, axis=0)
    in_contact = forces > CONTACT_FORCE_N
    contact_time = float((in_contact * durations).sum())
    mean_contact = float((forces * in_contact * durations).sum() / contact_time) if contact_time > 0 else None
    selected = np.flatnonzero(gaps)
    instruments = {}
    for index, name in enumerate(series.instruments):
        if selected.size:
            first, last = series.tips_m[index, selected[0]], series.tips_m[index, selected[-1] + 1]
            straight = float(np.linalg.norm(last - first))
        else:
            straight = 0.0
        instruments[name] = InstrumentMotion(
            path_length_mm=float(steps[index].sum()) * 1000.0,
            straight_line_mm=straight * 1000.0,
            max_force_N=float(forces[index].max(initial=0.0)),
        )
    return Motion(
        idle_time_s=float(durations[idle].sum()),
        max_force_N=float(forces.max(initial=0.0)),
        mean_contact_force_N=mean_contact,
        time_above_force_limit_s=float(durations[above].sum()),
        instruments=instruments,
    )


def economy_of_motion(straight_line_mm: float, path_length_mm: float) -> float | None:
    """Shortest path over actual path, in (0, 1]; None when the instrument did not move."""
    return straight_line_mm / path_length_mm if path_length_mm > 0 else None
