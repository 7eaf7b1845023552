"""Does a re-simulation reproduce a recording? A comparison within tolerances, told in the trainee's terms.

The trainee's commands are the evidence; everything else in a trace (events, samples, the end) is an outcome that a
re-simulation of those commands recomputes. This module compares a recorded trace with its re-simulation
(:func:`surgsim.replay.replay_trace`) and says, for each kind of quantity, the largest deviation and whether it is
within tolerance.

Tolerances (and why):

- **Positions** (instrument tips, event positions) within ``POSITION_ATOL_M + POSITION_RTOL × |value|`` =
  1 µm + 1e-6 × |value|, and **forces** (sample vectors, per-tick magnitudes, event forces) within
  ``FORCE_ATOL_N + FORCE_RTOL × |value|`` = 1 µN + 1e-6 × |value|. The tick runs in float64 JIT-compiled code
  (Taichi, PyBullet); on another CPU the compiler may fuse or reorder operations, which changes results in the last
  bits (relative 1e-16 per operation). Measured on the shipped traces: forces differ by at most 1.4e-12 N between a
  2-core x86-64 CI machine and the recording machine, tips and events not at all. The bounds leave a margin of about
  10^6 over that, and lie 10^3-10^4 below anything a trainee or a metric can tell apart (haptic devices resolve
  ~10 mN; the report rounds forces to 0.1 mN and lengths to 0.1 µm, :data:`surgsim.scoring.report.DECIMALS`).
  A forged force (scaled, deleted, invented) is off by orders of magnitude more.
- **Jaw openings** within ``JAW_ATOL`` = 1e-6 (of 0..1): the instrument's jaw follows its command through the same
  float code.
- **Event kinds, instruments, regions, non-numeric details, energy, the end's reason**: exact.
- **Event times**: within one tick (``dt_s``). A threshold crossed in the last bits of one tick may be crossed on the
  next one on another machine; the event is the same event. Its numbers (force, position, details) are then those of
  a neighbouring tick and are not compared; an event at the same tick must match them within the tolerances.
- **Which samples**: every sample tick must be in both (a trace is sampled at fixed ticks, so a missing sample was
  deleted and an extra one invented).

Bit-identity on the recording's own machine is a stronger promise, checked by :func:`surgsim.replay.compare_traces`
(the tests keep it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from surgsim.events import Event
from surgsim.trace import Trace

POSITION_ATOL_M = 1e-6
POSITION_RTOL = 1e-6
FORCE_ATOL_N = 1e-6
FORCE_RTOL = 1e-6
JAW_ATOL = 1e-6
_TIME_SLACK_S = 1e-9
# Event details that surgsim records since a later version than some traces (the opened area of tears and cuts): a
# recording without them is still the same event. What is scored is the re-simulation's, which has them.
LATER_DETAIL_KEYS = frozenset({"area_mm2"})
# How many discrepancies the one-paragraph message names before "and N more".
MESSAGE_DISCREPANCIES = 3

QUANTITIES = {
    # quantity → (unit, absolute tolerance, relative tolerance)
    "tip position": ("m", POSITION_ATOL_M, POSITION_RTOL),
    "force": ("N", FORCE_ATOL_N, FORCE_RTOL),
    "jaw": ("", JAW_ATOL, 0.0),
    "event time": ("s", None, None),  # one tick: filled in from the trace's dt_s
    "event force": ("N", FORCE_ATOL_N, FORCE_RTOL),
    "event position": ("m", POSITION_ATOL_M, POSITION_RTOL),
}


@dataclass
class Deviation:
    """The largest deviation of one quantity, and where (simulated time)."""

    largest: float = 0.0
    at_s: float | None = None
    compared: int = 0

    def add(self, deviation: float, time_s: float) -> None:
        self.compared += 1
        if deviation > self.largest:
            self.largest, self.at_s = deviation, time_s


@dataclass
class Comparison:
    """The outcome of comparing a recording with its re-simulation."""

    deviations: dict[str, Deviation] = field(default_factory=lambda: {name: Deviation() for name in QUANTITIES})
    discrepancies: list[str] = field(default_factory=list)  # sentences in the trainee's terms, in time order
    _times: list[float] = field(default_factory=list)

    @property
    def reproduces(self) -> bool:
        return not self.discrepancies

    def flag(self, time_s: float, sentence: str) -> None:
        self.discrepancies.append(sentence)
        self._times.append(time_s)

    def in_time_order(self) -> list[str]:
        order = sorted(range(len(self.discrepancies)), key=lambda index: (self._times[index], index))
        return [self.discrepancies[index] for index in order]

    def summary(self) -> str:
        """The discrepancies, earliest first, as one sentence-list for a one-paragraph message."""
        sentences = self.in_time_order()
        shown = "; ".join(sentences[:MESSAGE_DISCREPANCIES])
        more = len(sentences) - MESSAGE_DISCREPANCIES
        return shown + (f"; and {more} more difference{'s' if more > 1 else ''}" if more > 0 else "")

    def largest_deviations(self) -> str:
        """``tip position 0 m, force 1.4e-12 N at 3.20 s, …``: the largest deviation of each quantity compared."""
        parts = []
        for name, deviation in self.deviations.items():
            if not deviation.compared:
                continue
            unit = QUANTITIES[name][0]
            where = f" at {deviation.at_s:.3f} s" if deviation.largest > 0 and deviation.at_s is not None else ""
            parts.append(f"{name} {deviation.largest:.2g}{(' ' + unit) if unit else ''}{where}")
        return ", ".join(parts)

    def to_json(self) -> dict:
        return {name: {"largest": deviation.largest, "at_s": deviation.at_s, "compared": deviation.compared}
                for name, deviation in self.deviations.items()}


def _excess(recorded, replayed, atol: float, rtol: float) -> tuple[float, bool]:
    """The largest absolute difference between two equally shaped arrays, and whether every element is within
    ``atol + rtol × |replayed|``."""
    if isinstance(recorded, float) and isinstance(replayed, float):
        return _excess_of_floats((recorded,), (replayed,), atol, rtol)
    if (isinstance(recorded, list) and isinstance(replayed, list) and len(recorded) == len(replayed)
            and all(type(value) is float for value in recorded) and all(type(value) is float for value in replayed)):
        return _excess_of_floats(recorded, replayed, atol, rtol)
    a = np.asarray(recorded, dtype=np.float64)
    b = np.asarray(replayed, dtype=np.float64)
    difference = np.abs(a - b)
    largest = float(difference.max(initial=0.0))
    return largest, bool(np.all(difference <= atol + rtol * np.abs(b)))


def _excess_of_floats(recorded, replayed, atol: float, rtol: float) -> tuple[float, bool]:
    """:func:`_excess` of two equally long sequences of Python floats, without NumPy: a trace has tens of thousands
    of three-vectors to compare, and NumPy's per-call overhead made that a third of a second. Same IEEE arithmetic;
    a NaN difference makes the largest deviation NaN and fails, as NumPy's ``max`` and ``all`` do."""
    largest, ok = 0.0, True
    for a, b in zip(recorded, replayed):
        difference = abs(a - b)
        if difference != difference:
            largest, ok = math.nan, False
        elif not difference <= atol + rtol * abs(b):
            ok = False
        if difference > largest:
            largest = difference
    return largest, ok


def _readable(name: str | None) -> str:
    return (name or "").replace("_", " ")


def describe_event(event: Event) -> str:
    """An event as the trainee would say it: ``a tear of gallbladder by left grasper at 3.70 s``."""
    if event.kind == "step_complete":
        return f"step '{event.detail.get('step')}' complete at {event.time_s:.2f} s"
    what = {"forbidden_contact": "a forbidden-zone contact", "force_limit": "a force above the limit",
            "force_limit_end": "the force falling back under the limit", "contact_start": "a contact",
            "contact_end": "the end of a contact", "step_complete": "a step completion"}.get(event.kind,
                                                                                              f"a {_readable(event.kind)}")
    where = f" with {_readable(event.region)}" if event.region and event.kind in ("forbidden_contact", "contact_start",
                                                                                   "contact_end") else (
        f" of {_readable(event.region)}" if event.region else "")
    who = f" by the {_readable(event.instrument)}" if event.instrument else ""
    return f"{what}{where}{who} at {event.time_s:.2f} s"


def compare_outcomes(recorded: Trace, replayed: Trace) -> Comparison:
    """Compare ``recorded`` with its re-simulation ``replayed`` within the module's tolerances. A truncated recording
    is compared with the re-simulation up to its last record."""
    comparison = Comparison()
    dt = recorded.header.dt_s
    comparison.deviations["event time"] = Deviation()
    horizon_s = recorded.duration_s if recorded.truncated else math.inf
    _compare_events(comparison, recorded, replayed, dt, horizon_s)
    _compare_samples(comparison, recorded, replayed)
    _compare_end(comparison, recorded, replayed)
    return comparison


def _event_key(event: Event) -> tuple:
    return event.kind, event.instrument, event.region


def _split_detail(detail: dict) -> tuple[dict, dict]:
    """A detail's numeric entries (numbers and lists of numbers, compared within tolerance) and the rest (exact)."""
    numeric, exact = {}, {}
    for key, value in detail.items():
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        is_numbers = isinstance(value, (list, tuple)) and all(
            isinstance(item, (int, float)) and not isinstance(item, bool) for item in value)
        (numeric if is_number or is_numbers else exact)[key] = value
    return numeric, exact


def _same_numeric_keys(recorded_numeric: dict, replayed_detail: dict) -> bool:
    """The re-simulated detail has the recorded numbers, and others only if they are :data:`LATER_DETAIL_KEYS`."""
    theirs = set(_split_detail(replayed_detail)[0])
    return set(recorded_numeric) <= theirs and theirs - set(recorded_numeric) <= LATER_DETAIL_KEYS


def _compare_events(comparison: Comparison, recorded: Trace, replayed: Trace, dt: float, horizon_s: float) -> None:
    candidates: dict[tuple, list[Event]] = {}
    for event in replayed.events:
        if event.time_s <= horizon_s + dt + _TIME_SLACK_S:
            candidates.setdefault(_event_key(event), []).append(event)
    used: dict[tuple, set[int]] = {key: set() for key in candidates}
    window = dt + _TIME_SLACK_S
    for event in recorded.events:
        key = _event_key(event)
        pool = candidates.get(key, [])
        numeric, exact = _split_detail(event.detail)
        match = None
        for index, other in enumerate(pool):
            if index in used[key] or abs(other.time_s - event.time_s) > window:
                continue
            if _split_detail(other.detail)[1] == exact and _same_numeric_keys(numeric, other.detail):
                match = index
                break
        if match is None:
            comparison.flag(event.time_s, _unmatched_recorded(event, replayed))
            continue
        used[key].add(match)
        other = pool[match]
        comparison.deviations["event time"].add(abs(other.time_s - event.time_s), event.time_s)
        if abs(other.time_s - event.time_s) > _TIME_SLACK_S:
            continue  # a neighbouring tick's numbers: not comparable
        _compare_event_values(comparison, event, other, numeric)
    for key, pool in candidates.items():
        for index, event in enumerate(pool):
            if index not in used[key] and event.time_s <= horizon_s:
                comparison.flag(event.time_s, f"the re-simulation has {describe_event(event)}, which the trace does "
                                              "not record")


def _unmatched_recorded(event: Event, replayed: Trace) -> str:
    if event.kind == "step_complete":
        step = event.detail.get("step")
        again = next((e for e in replayed.events if e.kind == "step_complete" and e.detail.get("step") == step), None)
        later = f"completes it at {again.time_s:.2f} s" if again is not None else "never completes it"
        return f"the trace records step '{step}' complete at {event.time_s:.2f} s; the re-simulation {later}"
    return f"the trace records {describe_event(event)}, which the re-simulation does not have"


def _compare_event_values(comparison: Comparison, event: Event, other: Event, numeric: dict) -> None:
    what = describe_event(event)
    if (event.force_n is None) != (other.force_n is None):
        comparison.flag(event.time_s, f"the trace records {what} {'without' if event.force_n is None else 'with'} a "
                                      "force, the re-simulation not")
    elif event.force_n is not None:
        largest, ok = _excess(event.force_n, other.force_n, FORCE_ATOL_N, FORCE_RTOL)
        comparison.deviations["event force"].add(largest, event.time_s)
        if not ok:
            comparison.flag(event.time_s, f"the trace records {what} with {event.force_n:.3g} N; the re-simulation "
                                          f"with {other.force_n:.3g} N")
    if (event.position_m is None) != (other.position_m is None):
        comparison.flag(event.time_s, f"the trace records {what} with a different set of positions")
    elif event.position_m is not None:
        largest, ok = _excess(event.position_m, other.position_m, POSITION_ATOL_M, POSITION_RTOL)
        comparison.deviations["event position"].add(largest, event.time_s)
        if not ok:
            comparison.flag(event.time_s, f"the trace records {what} {1000 * largest:.3g} mm from where the "
                                          "re-simulation has it")
    theirs = _split_detail(other.detail)[0]
    for key, value in numeric.items():
        a, b = np.atleast_1d(np.asarray(value, dtype=np.float64)), np.atleast_1d(
            np.asarray(theirs[key], dtype=np.float64))
        if a.shape != b.shape:
            comparison.flag(event.time_s, f"the trace records {what} with another {_readable(key)}")
            continue
        atol, rtol = (POSITION_ATOL_M, POSITION_RTOL) if key.endswith("_m") else (FORCE_ATOL_N, FORCE_RTOL)
        if not _excess(a, b, atol, rtol)[1]:
            comparison.flag(event.time_s, f"the trace records {what} with {_readable(key)} {value}; the "
                                          f"re-simulation {theirs[key]}")


def _compare_samples(comparison: Comparison, recorded: Trace, replayed: Trace) -> None:
    dt = recorded.header.dt_s
    theirs = {sample.tick: sample for sample in replayed.samples}
    ours_ticks = {sample.tick for sample in recorded.samples}
    last_tick = recorded.samples[-1].tick if recorded.samples and recorded.truncated else math.inf
    missing = sorted(tick for tick in theirs if tick not in ours_ticks and tick <= last_tick)
    if missing:
        comparison.flag(missing[0] * dt, f"the trace lacks {len(missing)} of the re-simulation's instrument samples "
                                         f"from {missing[0] * dt:.2f} s on")
    invented = [sample.tick for sample in recorded.samples if sample.tick not in theirs]
    if invented:
        comparison.flag(invented[0] * dt, f"the trace has {len(invented)} instrument samples the re-simulation does "
                                          f"not take, from {invented[0] * dt:.2f} s on")
    force_problem: tuple[float, list[float], list[float]] | None = None  # (time, recorded |F|, re-simulated |F|)
    tip_problem: tuple[float, float, str] | None = None
    jaw_problem: tuple[float, str] | None = None
    for sample in recorded.samples:
        other = theirs.get(sample.tick)
        if other is None:
            continue
        time_s = sample.tick * dt
        if set(sample.instruments) != set(other.instruments):
            comparison.flag(time_s, f"the trace's sample at {time_s:.2f} s has the instruments "
                                    f"{sorted(sample.instruments)}, the re-simulation {sorted(other.instruments)}")
            continue
        for name, ours in sample.instruments.items():
            them = other.instruments[name]
            largest, ok = _excess(ours.tip_m, them.tip_m, POSITION_ATOL_M, POSITION_RTOL)
            comparison.deviations["tip position"].add(largest, time_s)
            if not ok and tip_problem is None:
                tip_problem = (time_s, largest, name)
            # A trace from before per-tick forces has none to compare; the re-simulation's are what is scored.
            both_per_tick = ours.tick_forces_n is not None and them.tick_forces_n is not None
            forces_ours = [ours.force_n] + ([ours.tick_forces_n] if both_per_tick else [])
            forces_them = [them.force_n] + ([them.tick_forces_n] if both_per_tick else [])
            for a, b in zip(forces_ours, forces_them):
                if len(a) != len(b):
                    ok = False
                    largest = math.inf
                else:
                    largest, ok = _excess(a, b, FORCE_ATOL_N, FORCE_RTOL)
                comparison.deviations["force"].add(largest, time_s)
                if not ok and force_problem is None:
                    force_problem = (time_s, [], [])
            if ours.tick_forces_n is not None and them.tick_forces_n is None and force_problem is None:
                force_problem = (time_s, [], [])
            if force_problem is not None:
                force_problem[1].append(float(np.linalg.norm(ours.force_n)))
                force_problem[2].append(float(np.linalg.norm(them.force_n)))
            largest_jaw, jaw_ok = _excess(ours.jaw, them.jaw, JAW_ATOL, 0.0)
            comparison.deviations["jaw"].add(largest_jaw, time_s)
            if (not jaw_ok or ours.energy != them.energy) and jaw_problem is None:
                jaw_problem = (time_s, name)
    if tip_problem is not None:
        time_s, largest, name = tip_problem
        comparison.flag(time_s, f"the trace has the {_readable(name)}'s tip {1000 * largest:.3g} mm from where the "
                                f"re-simulation puts it at {time_s:.2f} s")
    if force_problem is not None:
        comparison.flag(force_problem[0], _force_sentence(*force_problem))
    if jaw_problem is not None:
        time_s, name = jaw_problem
        comparison.flag(time_s, f"the trace has the {_readable(name)}'s jaws or energy other than the re-simulation "
                                f"from {time_s:.2f} s")


def _force_sentence(time_s: float, recorded_n: list[float], replayed_n: list[float]) -> str:
    """``recorded forces are 10× lower than the re-simulated ones from 2.52 s`` when they differ by a factor; else
    the sizes."""
    pairs = [(a, b) for a, b in zip(recorded_n, replayed_n) if max(a, b) > 1e-3]
    if pairs:
        ratios = [a / b for a, b in pairs if a > 0 and b > 0]
        if len(ratios) == len(pairs) and ratios:
            ratio = float(np.median(ratios))
            if ratio < 0.5:
                return f"recorded forces are {1 / ratio:.3g}× lower than the re-simulated ones from {time_s:.2f} s"
            if ratio > 2.0:
                return f"recorded forces are {ratio:.3g}× higher than the re-simulated ones from {time_s:.2f} s"
    return (f"recorded forces differ from the re-simulated ones from {time_s:.2f} s (there "
            f"{recorded_n[0]:.3g} N recorded, {replayed_n[0]:.3g} N re-simulated)")


def _compare_end(comparison: Comparison, recorded: Trace, replayed: Trace) -> None:
    if recorded.truncated:
        return
    dt = recorded.header.dt_s
    if replayed.end is None or (replayed.end.tick, replayed.end.reason) != (recorded.end.tick, recorded.end.reason):
        theirs = (f"ends ({replayed.end.reason}) at {replayed.end.tick * dt:.2f} s" if replayed.end
                  else "does not end")
        comparison.flag(recorded.end.tick * dt, f"the trace says the session ended ({recorded.end.reason}) at "
                                                f"{recorded.end.tick * dt:.2f} s; the re-simulation {theirs}")
