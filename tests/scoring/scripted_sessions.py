"""A scripted-session generator: fake traces written with the real TraceWriter, from tip paths, force profiles and
events that the tests can reason about by hand; and the expert and novice sessions built with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from surgsim.events import Event
from surgsim.instrument_command import InstrumentCommand
from surgsim.procedure import load_procedure
from surgsim.trace import InstrumentSample, TraceHeader, TraceWriter

DT_S = 0.001
SAMPLE_EVERY_TICKS = 100  # 0.1 s between samples


@dataclass
class ScriptedTip:
    """A tip moving linearly between ``waypoints`` [(time_s, (x, y, z) metres)], held before the first and after the
    last; the force on it is ``magnitude`` newtons (along +z) during each (start_s, end_s] of ``forces``."""

    waypoints: list[tuple[float, tuple[float, float, float]]]
    forces: list[tuple[float, float, float]] = field(default_factory=list)  # (start_s, end_s, magnitude_n)

    def tip_m(self, t: float) -> list[float]:
        times = [time for time, _ in self.waypoints]
        points = np.array([point for _, point in self.waypoints], dtype=float)
        return [float(np.interp(t, times, points[:, axis])) for axis in range(3)]

    def force_n(self, t: float) -> float:
        return sum(magnitude for start, end, magnitude in self.forces if start < t <= end)


def write_scripted_trace(
    trace_path: Path,
    procedure_path: Path,
    tips: dict[str, ScriptedTip],
    events: list[Event],
    *,
    end_s: float,
    end_reason: str | None = "completed",
    seed: int = 7,
) -> Path:
    """Write a trace sampled every 0.1 s from 0 to ``end_s``; ``end_reason=None`` leaves it without an end record."""
    procedure = load_procedure(procedure_path)
    header = TraceHeader.for_session(
        trace_path=trace_path, procedure_path=procedure.path, procedure_sha256=procedure.sha256,
        backend="cpu", dt_s=DT_S, seed=seed,
    )
    pending = sorted(events, key=lambda event: event.time_s)
    end_tick = round(end_s / DT_S)
    with TraceWriter(trace_path, header) as writer:
        for tick in range(0, end_tick + 1, SAMPLE_EVERY_TICKS):
            t = tick * DT_S
            while pending and pending[0].time_s <= t:
                writer.write_event(pending.pop(0))
            samples = {}
            for name, tip in tips.items():
                force = tip.force_n(t)
                jaw = 1.0 if force > 0 else 0.0
                writer.write_command(tick, name, InstrumentCommand(
                    pivot_yaw_rad=0.0, pivot_pitch_rad=0.0, insertion_m=0.1, roll_rad=0.0, jaw=jaw, energy=False))
                samples[name] = InstrumentSample(tip_m=tip.tip_m(t), force_n=[0.0, 0.0, force], jaw=jaw, energy=False)
            writer.write_sample(tick, samples)
        for event in pending:
            writer.write_event(event)
        if end_reason is not None:
            writer.write_end(end_tick, end_reason)
    return trace_path


def expert_session() -> tuple[dict[str, ScriptedTip], list[Event]]:
    """Grasp in 5 s, cut the circle by 20 s, on the line, gently.

    Hand-computed: grasper path 50 mm (a 30-40-50 move), scissors 30 mm down then a 28.284 mm chord: 108.284 mm in
    all. Idle from 10 to 20 s (the chord at 2.83 mm/s is under 5 mm/s). Forces: grasper 1 N over (5, 20], scissors
    0.5 N over (10, 20]: max 1 N, contact-time-weighted mean (15 × 1 + 10 × 0.5) / 25 = 0.8 N. Cut deviations 0, 0 and
    0.5 mm: mean 1/6 mm.
    """
    tips = {
        "left_grasper": ScriptedTip([(0.0, (0.0, -0.05, 0.05)), (5.0, (0.0, -0.01, 0.02))], [(5.0, 20.0, 1.0)]),
        "right_scissors": ScriptedTip(
            [(5.0, (0.02, 0.0, 0.032)), (10.0, (0.02, 0.0, 0.002)), (20.0, (0.0, 0.02, 0.002))], [(10.0, 20.0, 0.5)]
        ),
    }
    events = [
        Event(5.0, "grasp", instrument="left_grasper", region="centre"),
        Event(5.0, "step_complete", detail={"step": "grasp_gauze"}),
        Event(12.0, "cut", instrument="right_scissors", position_m=(0.02, 0.0, 0.002)),
        Event(15.0, "cut", instrument="right_scissors", position_m=(0.0205, 0.0, 0.002)),
        Event(18.0, "cut", instrument="right_scissors", position_m=(0.0, 0.02, 0.002)),
        Event(20.0, "step_complete", detail={"step": "cut_circle"}),
    ]
    return tips, events


def novice_session() -> tuple[dict[str, ScriptedTip], list[Event]]:
    """The expert's motion, but the grasper pulls 4.5 N over (8, 10], the scissors touch the forbidden base plate,
    tear the gauze and cut 5 mm off the line, and the circle is never finished (ends at 20 s with the user quitting).
    """
    tips, _ = expert_session()
    tips["left_grasper"].forces.append((8.0, 10.0, 3.5))  # on top of the 1 N: 4.5 N
    events = [
        Event(5.0, "step_complete", detail={"step": "grasp_gauze"}),
        Event(11.0, "forbidden_contact", instrument="right_scissors", region="base_plate", force_n=0.8),
        Event(13.0, "tear", region="gauze", detail={"springs": 3}),
        Event(14.0, "cut", instrument="right_scissors", position_m=(0.025, 0.0, 0.002)),
        Event(16.0, "cut", instrument="right_scissors", position_m=(0.02, 0.0, 0.002)),
    ]
    return tips, events
