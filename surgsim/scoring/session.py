"""Scoring one session: the trace split into step windows, the metrics of each, the totals, the rubric's verdict."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from surgsim.errors import InputError
from surgsim.procedure.schema import Goal, Procedure, RetractGoal
from surgsim.scoring.incidents import CUT_WITHIN_MM, EpisodeClock, Incidents, incidents_in
from surgsim.scoring.motion import (
    ForceSeries,
    ForceStats,
    Motion,
    SampleSeries,
    economy_of_motion,
    force_stats,
    motion_in,
)
from surgsim.procedure.identity import ProcedureIdentity
from surgsim.scoring.inputs import SessionSource
from surgsim.scoring.report import (
    InstrumentMetrics,
    ProcedureInfo,
    ScoreReport,
    SessionMetrics,
    StepReport,
    WindowMetrics,
)
from surgsim.scoring.rubric import score_components, threshold_failures, weighted_score
from surgsim.trace import Trace


@dataclass(frozen=True)
class _Window:
    """A stretch of the session: gaps and events with times in (start_s, end_s]; start_s None from the beginning."""

    step: int | None  # index into procedure.steps; None after the last step was completed
    start_s: float | None
    end_s: float
    completed: bool
    started: bool


def score_session(
    procedure: Procedure, trace: Trace, *, verified: bool = False, source: SessionSource | None = None
) -> ScoreReport:
    """Score ``trace`` against ``procedure``. Pure: it reads only its arguments and never re-simulates; ``verified``
    says that ``trace`` is a re-simulation that reproduced the recording (:mod:`surgsim.verify`), ``source`` where the
    procedure came from (:func:`surgsim.scoring.inputs.load_session_source`; else the trace's header says).

    Raises :class:`InputError` when the trace contradicts the procedure (other instruments, unknown steps or zones).
    """
    instruments = tuple(instrument.name for instrument in procedure.instruments)
    series = SampleSeries.from_trace(trace, instruments)
    forces = ForceSeries.from_trace(trace, series)
    windows = _step_windows(procedure, trace)
    holds = _instructed_holds(procedure, windows, series)
    clock = EpisodeClock()
    step_reports = []
    window_parts = []
    for window in windows:
        goal = procedure.steps[window.step].goal if window.step is not None else None
        part = _measure(procedure, trace, series, forces, holds, window, goal, clock)
        window_parts.append(part)
        if window.step is None:
            continue
        step = procedure.steps[window.step]
        elapsed = window.end_s - (window.start_s or 0.0) if window.started else 0.0
        step_reports.append(
            StepReport(
                name=step.name,
                goal=step.goal.kind,
                started=window.started,
                completed=window.completed,
                completed_at_s=window.end_s if window.completed else None,
                time_limit_s=step.time_limit_s,
                metrics=_window_metrics(elapsed, *part, [part[0]]),
            )
        )

    whole = motion_in(series, series.gaps_ending_in(None, math.inf), procedure.force_limit_N, holds)
    whole_forces = force_stats(forces, forces.within(None, math.inf), procedure.force_limit_N)
    # Each window has its own force limit (a step's force_limit_N), so the time above it is the windows' sum.
    whole_forces = dataclasses.replace(
        whole_forces, time_above_force_limit_s=sum(part[1].time_above_force_limit_s for part in window_parts))
    incidents = sum((part[2] for part in window_parts), Incidents())
    base = _window_metrics(trace.duration_s, whole, whole_forces, incidents, [part[0] for part in window_parts])
    completed = sum(window.completed for window in windows)
    metrics = SessionMetrics(
        **{field.name: getattr(base, field.name) for field in dataclasses.fields(WindowMetrics)},
        goals_completed=completed,
        goals_total=len(procedure.steps),
        goals_completed_fraction=completed / len(procedure.steps),
    )

    components = score_components(metrics.scalars(), procedure.rubric.metrics)
    score = weighted_score(components)
    failures = threshold_failures(metrics.scalars(), score, procedure.rubric.pass_thresholds, len(procedure.steps))
    failures += _time_limit_failures(procedure, trace, step_reports)
    identity = source.identity if source is not None else ProcedureIdentity.of(procedure)
    recorded_rubric = trace.header.procedure_rubric_sha256
    return ScoreReport(
        procedure=ProcedureInfo(
            name=procedure.name,
            title=procedure.title,
            path=source.procedure_written if source is not None else trace.header.procedure,
            sha256=source.procedure.sha256 if source is not None else trace.header.procedure_sha256,
            physics_sha256=identity.physics_sha256,
            rubric_sha256=identity.rubric_sha256,
            recorded_rubric_sha256=recorded_rubric,
            rescored=source.rescored if source is not None else (
                recorded_rubric is not None and recorded_rubric != identity.rubric_sha256),
            in_library=source.in_library if source is not None else None,
        ),
        verified=verified,
        recorded_with=trace.header.surgsim_version,
        backend=trace.header.backend,
        dt_s=trace.header.dt_s,
        seed=trace.header.seed,
        end_reason=trace.end.reason if trace.end else None,
        truncated=trace.truncated,
        metrics=metrics,
        steps=tuple(step_reports),
        components=tuple(components),
        score=score,
        passed=not failures,
        failures=tuple(failures),
    )


def _step_windows(procedure: Procedure, trace: Trace) -> list[_Window]:
    """One window per step, in order, split at the ``step_complete`` events; plus the time after the last step."""
    names = [step.name for step in procedure.steps]
    completion_times: list[float] = []
    for event in sorted((e for e in trace.events if e.kind == "step_complete"), key=lambda e: e.time_s):
        name = event.detail.get("step")
        due = names[len(completion_times)] if len(completion_times) < len(names) else None
        if name not in names:
            raise InputError(
                trace.path,
                f"a step_complete event at {event.time_s} s names step '{name}', which procedure "
                f"'{procedure.name}' does not have (its steps: {', '.join(names)}).",
            )
        if name != due:
            expected = f"the step due was '{due}'" if due else "every step was already complete"
            raise InputError(trace.path, f"step '{name}' completed at {event.time_s} s, but {expected}.")
        completion_times.append(event.time_s)

    duration = trace.duration_s
    windows = []
    for index in range(len(names)):
        if index > len(completion_times):
            windows.append(_Window(index, duration, duration, completed=False, started=False))
            continue
        start = completion_times[index - 1] if index > 0 else None
        if index < len(completion_times):
            windows.append(_Window(index, start, completion_times[index], completed=True, started=True))
        else:
            windows.append(_Window(index, start, duration, completed=False, started=True))
    if len(completion_times) == len(names):
        windows.append(_Window(None, completion_times[-1], duration, completed=False, started=True))
    return windows


def _instructed_holds(procedure: Procedure, windows: list[_Window], series: SampleSeries) -> np.ndarray:
    """Mask over the sample gaps that lie in an instructed hold: the last ``hold_s`` of each completed retract step
    (keeping still there is the task, not idling)."""
    holds = np.zeros(max(len(series.times_s) - 1, 0), dtype=bool)
    for window in windows:
        if window.step is None or not window.completed:
            continue
        goal = procedure.steps[window.step].goal
        if isinstance(goal, RetractGoal) and goal.hold_s > 0:
            holds |= series.gaps_ending_in(window.end_s - goal.hold_s, window.end_s)
    return holds


def _measure(
    procedure: Procedure, trace: Trace, series: SampleSeries, forces: ForceSeries, holds: np.ndarray,
    window: _Window, goal: Goal | None, clock: EpisodeClock,
) -> tuple[Motion, ForceStats, Incidents]:
    limit = procedure.force_limit_N
    if window.step is not None and procedure.steps[window.step].force_limit_N is not None:
        limit = procedure.steps[window.step].force_limit_N
    if not window.started:
        no_gaps = np.zeros(max(len(series.times_s) - 1, 0), dtype=bool)
        no_ticks = np.zeros(len(forces.times_s), dtype=bool)
        return motion_in(series, no_gaps, limit), force_stats(forces, no_ticks, limit), Incidents()
    # The window in which the session ended also takes anything recorded after the nominal end (a truncated trace's
    # last events), so that nothing falls between windows.
    end = window.end_s if window.completed else math.inf
    gaps = series.gaps_ending_in(window.start_s, end)
    events = [
        event for event in trace.events
        if (window.start_s is None or event.time_s > window.start_s) and event.time_s <= end
    ]
    return (motion_in(series, gaps, limit, holds), force_stats(forces, forces.within(window.start_s, end), limit),
            incidents_in(events, goal, procedure, str(trace.path), clock))


def _window_metrics(
    time_s: float, motion: Motion, forces: ForceStats, incidents: Incidents, segments: list[Motion]
) -> WindowMetrics:
    """Metrics of a window; ``segments`` are the step windows it consists of, whose straight lines between goal
    positions give the shortest path for economy of motion."""
    instruments = {}
    for name, instrument in motion.instruments.items():
        straight = sum(segment.instruments[name].straight_line_mm for segment in segments)
        instruments[name] = InstrumentMetrics(
            path_length_mm=instrument.path_length_mm,
            economy_of_motion=economy_of_motion(straight, instrument.path_length_mm),
            max_force_N=forces.max_force_by_instrument[name],
        )
    path = sum(instrument.path_length_mm for instrument in motion.instruments.values())
    straight_all = sum(i.straight_line_mm for segment in segments for i in segment.instruments.values())
    deviations = incidents.cut_deviations_mm
    return WindowMetrics(
        time_s=time_s,
        idle_time_s=motion.idle_time_s,
        path_length_mm=path,
        economy_of_motion=economy_of_motion(straight_all, path),
        max_force_N=forces.max_force_N,
        mean_contact_force_N=forces.mean_contact_force_N,
        force_rms_N=forces.force_rms_N,
        force_p95_N=forces.force_p95_N,
        time_above_force_limit_s=forces.time_above_force_limit_s,
        tissue_damage=incidents.tissue_damage,
        tears=incidents.tears,
        torn_springs=incidents.torn_springs,
        torn_area_mm2=incidents.torn_area_mm2,
        cuts_off_target=incidents.cuts_off_target,
        cut_off_target_area_mm2=incidents.cut_off_target_area_mm2,
        burns_off_target=incidents.burns_off_target,
        over_retractions=incidents.over_retractions,
        max_retraction_over_mm=incidents.max_retraction_over_mm,
        over_indentations=incidents.over_indentations,
        max_indentation_over_mm=incidents.max_indentation_over_mm,
        forbidden_contacts=incidents.forbidden_contacts,
        forbidden_max_force_N=incidents.forbidden_max_force_N,
        cut_deviation_mean_mm=sum(deviations) / len(deviations) if deviations else None,
        cut_deviation_max_mm=max(deviations) if deviations else None,
        cut_within_2mm_fraction=(sum(d <= CUT_WITHIN_MM for d in deviations) / len(deviations)
                                 if deviations else None),
        instruments=instruments,
    )


def _time_limit_failures(procedure: Procedure, trace: Trace, steps: list[StepReport]) -> list[str]:
    failures = [
        f"step '{step.name}' took {step.metrics.time_s:.1f} s, over its time limit of {step.time_limit_s:g} s"
        for step in steps
        if step.time_limit_s is not None and step.metrics.time_s > step.time_limit_s
    ]
    ran_out = (trace.end is not None and trace.end.reason == "time_limit") or trace.duration_s > procedure.time_limit_s
    if ran_out:
        failures.append(f"the session reached the procedure's time limit of {procedure.time_limit_s:g} s")
    return failures
