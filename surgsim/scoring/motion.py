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


def motion_in(
    series: SampleSeries, gaps: np.ndarray, force_limit_n: float, holds: np.ndarray | None = None
) -> Motion:
    """The motion and force metrics of the gaps selected by the boolean mask ``gaps``; ``holds`` (a mask over all
    gaps) marks instructed holds, which are not idle time however still the tips are."""
    durations = np.diff(series.times_s)[gaps]
    steps = np.linalg.norm(np.diff(series.tips_m, axis=1), axis=2)[:, gaps]  # [I, G] distance moved per gap
    forces = series.forces_n[:, 1:][:, gaps]  # [I, G] force at each gap's end
    speeds = steps / np.where(durations > 0, durations, np.inf)
    idle = np.all(speeds < IDLE_SPEED_M_S, axis=0)
    if holds is not None:
        idle &= ~holds[gaps]
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


# Below this path an instrument did not move: a ratio of two last-bit differences (another CPU's re-simulation of a
# held tip) is no economy of motion. 1 µm is far below a hand's tremor and far above float noise.
MIN_PATH_MM = 1e-3


def economy_of_motion(straight_line_mm: float, path_length_mm: float) -> float | None:
    """Shortest path over actual path, in (0, 1]; None when the instrument did not move (:data:`MIN_PATH_MM`)."""
    return straight_line_mm / path_length_mm if path_length_mm >= MIN_PATH_MM else None


@dataclass(frozen=True)
class ForceSeries:
    """Force magnitudes on every tip, each standing for a stretch of time that ends at its time.

    From a trace whose samples carry ``tick_forces_n`` (:mod:`surgsim.scoring.tick_forces`): one value per tick, each
    standing for that tick (``dt_s``), so peaks between samples count. From an older trace: the samples' forces,
    each standing for the gap since the sample before (as :func:`motion_in` reads them).
    """

    instruments: tuple[str, ...]
    times_s: np.ndarray  # [T] the end of each stretch
    durations_s: np.ndarray  # [T]
    forces_n: np.ndarray  # [I, T]
    every_tick: bool  # True: one value per tick

    @classmethod
    def from_trace(cls, trace: Trace, series: SampleSeries) -> "ForceSeries":
        names = series.instruments
        samples = trace.samples
        if not samples or any(s.instruments[name].tick_forces_n is None for s in samples for name in names):
            return cls(names, series.times_s[1:], np.diff(series.times_s), series.forces_n[:, 1:], False)
        dt = trace.header.dt_s
        ticks, forces = [], [[] for _ in names]
        for sample in samples:
            count = len(sample.instruments[names[0]].tick_forces_n)
            ticks.extend(range(sample.tick - count + 1, sample.tick + 1))
            for index, name in enumerate(names):
                values = sample.instruments[name].tick_forces_n
                if len(values) != count:
                    raise InputError(trace.path, f"the sample at tick {sample.tick} has {len(values)} tick forces "
                                                 f"for {name} and {count} for {names[0]}.")
                forces[index].extend(values)
        times = np.asarray(ticks, dtype=float) * dt
        return cls(names, times, np.full(len(times), dt), np.asarray(forces, dtype=float).reshape(len(names), -1),
                   True)

    def within(self, start_s: float | None, end_s: float) -> np.ndarray:
        """Mask of the stretches ending in (start_s, end_s]."""
        inside = self.times_s <= end_s
        return inside if start_s is None else inside & (self.times_s > start_s)


@dataclass(frozen=True)
class ForceStats:
    """Force metrics of one window: every tick when the trace has them (:class:`ForceSeries`)."""

    max_force_N: float
    mean_contact_force_N: float | None
    force_rms_N: float | None  # root mean square over the time in contact
    force_p95_N: float | None  # 95th percentile over the time in contact
    time_above_force_limit_s: float
    max_force_by_instrument: dict[str, float]


def force_stats(forces: ForceSeries, mask: np.ndarray, force_limit_n: float) -> ForceStats:
    """The force metrics of the stretches selected by ``mask``; ``force_limit_n`` the limit that applies there."""
    durations = forces.durations_s[mask]
    values = forces.forces_n[:, mask]  # [I, S]
    above = np.any(values > force_limit_n, axis=0)
    in_contact = values > CONTACT_FORCE_N
    weights = np.broadcast_to(durations, values.shape)[in_contact]
    contact_values = values[in_contact]
    contact_time = float(weights.sum())
    if contact_time > 0:
        mean = float((contact_values * weights).sum() / contact_time)
        rms = float(np.sqrt((contact_values**2 * weights).sum() / contact_time))
        p95 = weighted_percentile(contact_values, weights, 95.0)
    else:
        mean = rms = p95 = None
    return ForceStats(
        max_force_N=float(values.max(initial=0.0)),
        mean_contact_force_N=mean,
        force_rms_N=rms,
        force_p95_N=p95,
        time_above_force_limit_s=float(durations[above].sum()),
        max_force_by_instrument={name: float(values[i].max(initial=0.0)) for i, name in enumerate(forces.instruments)},
    )


def weighted_percentile(values: np.ndarray, weights: np.ndarray, percent: float) -> float:
    """The smallest value below or at which ``percent`` % of the total weight lies (the inverted weighted CDF)."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, percent / 100.0 * cumulative[-1] * (1 - 1e-12), side="left"))
    return float(values[order][min(index, len(values) - 1)])
