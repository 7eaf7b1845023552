"""Verified scoring: re-simulate a trace's commands, check the recorded outcome, score the re-simulated one.

``surgsim score`` and ``surgsim replay`` share this: the commands in a trace are the trainee's evidence; the events
and samples are outcomes, which a re-simulation recomputes (:func:`surgsim.replay.replay_trace`, headless, on the
CPU backend by default) and :mod:`surgsim.reproduction` compares within tolerances. A recording that the
re-simulation does not reproduce is refused (:class:`~surgsim.errors.InputError`, exit 2) with what differs in the
trainee's terms; one that it reproduces is scored from the *re-simulated* trace, so nothing a trace says about its
outcome counts unless the commands produce it.
"""

from __future__ import annotations

import dataclasses
import os
import sys

from surgsim.errors import InputError
from surgsim.replay import ReplayResult, replay_trace
from surgsim.trace import Trace


def resimulate(
    trace_path: str | os.PathLike,
    procedure_path: str | os.PathLike | None = None,
    *,
    arch: str = "cpu",
    progress: bool | None = None,
    **replay_options,
) -> ReplayResult:
    """Replay ``trace_path`` headless and compare; a progress bar on stderr when ``progress`` (default: when stderr
    is a terminal). Raises :class:`InputError` when the re-simulation does not reproduce the recording."""
    show = sys.stderr.isatty() if progress is None else progress
    if not show:
        result = replay_trace(trace_path, procedure_path=procedure_path, arch=arch, allow_unproven=True,
                              **replay_options)
    else:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("re-simulating"), BarColumn(), TextColumn("{task.fields[simulated]}"),
                      TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("re-simulating", total=None, simulated="")

            def started(ticks: int) -> None:
                bar.update(task, total=ticks)

            def ticked(session) -> None:
                if session.tick_count % 100 == 0:
                    bar.update(task, completed=session.tick_count, simulated=f"{session.time_s:.1f} s simulated")

            result = replay_trace(trace_path, procedure_path=procedure_path, arch=arch, allow_unproven=True,
                                  on_start=started, on_tick=ticked, **replay_options)
    require_reproduction(result)
    return result


def require_reproduction(result: ReplayResult) -> None:
    """Raise :class:`InputError` (one paragraph, the trainee's terms) unless ``result`` reproduces its recording."""
    if result.reproduces:
        return
    because = ("; the trace predates the procedure's separate physics hashes and its procedure file changed since, "
               "which may be why" if result.source is not None and result.source.physics_unproven else "")
    raise InputError(
        result.recorded.path,
        f"the recorded outcome is not what the trainee's commands produce: {result.comparison.summary()}. The "
        "commands were re-simulated and compared within stated tolerances (surgsim/reproduction.py); the trace was "
        f"edited after the session, or recorded with another surgsim version{because}. Nothing was scored.",
    )


def scored_trace(result: ReplayResult) -> Trace:
    """The trace to score: the re-simulated outcome, under the recording's header, path and (for a truncated
    recording) missing end, so that the report tells what was recorded."""
    recorded = result.recorded
    return dataclasses.replace(result.replayed, path=recorded.path, header=recorded.header,
                               end=result.replayed.end if not recorded.truncated else None)
