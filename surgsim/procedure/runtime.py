"""The procedure at run time: which step is active, whether its goal is met, and the safety monitors.

The session loop calls :meth:`ProcedureRuntime.update` once per physics tick with a :class:`TickView` and records
the events it returns (with the coupling's own) in the trace:

- ``step_complete`` (``detail["step"]`` = the step's name, ``instrument`` = who met the goal) when the active step's
  goal is met (:mod:`surgsim.procedure.goals`); the next step becomes active on the next tick, so the events of the
  completing tick belong to the completed step, as the scorer's step windows (start, end] have it. When the last
  step completes the procedure is :attr:`~ProcedureRuntime.finished`; the monitors keep running;
- ``forbidden_contact``, ``force_limit`` and ``force_limit_end``, ``over_retraction`` and ``over_retraction_end``,
  ``over_indentation`` and ``over_indentation_end`` from :mod:`surgsim.procedure.zones`.

Time limits produce no events: the scorer judges a step's time from its window and the session's from the trace,
so :attr:`~ProcedureRuntime.step_overdue` and :attr:`~ProcedureRuntime.time_up` are there for the loop and the HUD.
Within a tick, events come in a fixed order (forbidden contacts, force limits, over-retraction, over-indentation,
then step completion), instruments in the procedure's order: the same views give the same events.
"""

from __future__ import annotations

from surgsim.events import Event
from surgsim.procedure.goals import GoalTracker, goal_tracker, qualifying_instruments
from surgsim.procedure.schema import RetractGoal, TouchGoal
from surgsim.procedure.scene_builder import BuiltScene
from surgsim.procedure.schema import Procedure, Step
from surgsim.procedure.tick_view import InstrumentView, TickView
from surgsim.procedure.zones import (
    ForbiddenZoneMonitor,
    ForceLimitMonitor,
    IndentationMonitor,
    OverRetractionMonitor,
)
from surgsim.render.frame import HudState

# How long the HUD shows the step-complete cue [s].
STEP_COMPLETE_CUE_S = 1.5

__all__ = ["InstrumentView", "ProcedureRuntime", "STEP_COMPLETE_CUE_S", "TickView"]


class ProcedureRuntime:
    """Steps, goals and safety monitors of ``procedure`` over its built ``scene``."""

    def __init__(self, procedure: Procedure, scene: BuiltScene):
        self.procedure = procedure
        self.scene = scene
        self.instrument_types = {instrument.name: instrument.type for instrument in procedure.instruments}
        names = tuple(self.instrument_types)
        zones = [(scene.regions[zone.region], zone.max_force_N) for zone in procedure.forbidden]
        self.forbidden_zones = ForbiddenZoneMonitor(zones, names)
        self.force_limit = ForceLimitMonitor(procedure.force_limit_N, names)
        self.over_retraction = OverRetractionMonitor([
            (goal_tracker(step.goal, scene, self.instrument_types), step.goal.region, step.goal.max_distance_mm / 1000.0)
            for step in procedure.steps if isinstance(step.goal, RetractGoal) and step.goal.max_distance_mm is not None
        ])
        self.indentation = IndentationMonitor([
            (qualifying_instruments(step.goal, self.instrument_types), scene.regions[step.goal.region],
             step.goal.max_depth_mm / 1000.0)
            for step in procedure.steps if isinstance(step.goal, TouchGoal) and step.goal.max_depth_mm is not None
        ])
        self.step_index = 0
        self.step_started_s = 0.0
        self.time_s = 0.0
        self.last_completion: tuple[str, float] | None = None  # (step name, time [s])
        self.forces_n: dict[str, float] = {}
        self._tracker: GoalTracker | None = self._tracker_for(0)
        self._last_tick: int | None = None

    # -- state -----------------------------------------------------------------------------------------------------
    @property
    def current_step(self) -> Step | None:
        """The active step; None once every step is complete."""
        return self.procedure.steps[self.step_index] if not self.finished else None

    @property
    def finished(self) -> bool:
        return self.step_index >= len(self.procedure.steps)

    @property
    def step_elapsed_s(self) -> float:
        """Time [s] the active step has been active, as the scorer counts its window (from the previous completion)."""
        return self.time_s - self.step_started_s

    @property
    def step_overdue(self) -> bool:
        """Whether the active step has run past its ``time_limit_s``."""
        step = self.current_step
        return step is not None and step.time_limit_s is not None and self.step_elapsed_s > step.time_limit_s

    @property
    def time_up(self) -> bool:
        """Whether the procedure's ``time_limit_s`` has been reached: the loop ends the session."""
        return self.time_s >= self.procedure.time_limit_s

    # -- the tick ----------------------------------------------------------------------------------------------------
    def update(self, view: TickView) -> list[Event]:
        """Judge one tick; returns the events it caused, in a fixed order. Ticks must come in increasing order and
        name every instrument of the procedure."""
        self._check(view)
        self._last_tick = view.tick
        self.time_s = view.time_s
        self.forces_n = {name: view.instruments[name].force_magnitude_n for name in self.instrument_types}
        events = (self.forbidden_zones.update(view) + self.force_limit.update(view)
                  + self.over_retraction.update(view) + self.indentation.update(view))
        if self._tracker is not None:
            instrument = self._tracker.update(view)
            if instrument is not None:
                events.append(self._complete_step(view.time_s, instrument))
        return events

    def _check(self, view: TickView) -> None:
        if self._last_tick is not None and view.tick <= self._last_tick:
            raise ValueError(f"tick {view.tick} does not follow tick {self._last_tick}")
        if set(view.instruments) != set(self.instrument_types):
            raise ValueError(
                f"the tick has instruments {sorted(view.instruments)}, the procedure {sorted(self.instrument_types)}"
            )
        expected = (self.scene.model.node_count, 3)
        if view.positions_given and view.positions.shape != expected:
            raise ValueError(f"positions must have shape {list(expected)}, got {list(view.positions.shape)}")

    def _complete_step(self, time_s: float, instrument: str) -> Event:
        step = self.procedure.steps[self.step_index]
        self.last_completion = (step.name, time_s)
        self.step_index += 1
        self.step_started_s = time_s
        self._tracker = self._tracker_for(self.step_index)
        return Event(time_s, "step_complete", instrument=instrument, detail={"step": step.name})

    def _tracker_for(self, index: int) -> GoalTracker | None:
        if index >= len(self.procedure.steps):
            return None
        return goal_tracker(self.procedure.steps[index].goal, self.scene, self.instrument_types)

    # -- the HUD -----------------------------------------------------------------------------------------------------
    def hud_state(self, *, active_instrument: str | None = None, paused: bool = False) -> HudState:
        """What the HUD shows after the latest tick: the step, the timer, forces, this tick's warnings and, for
        :data:`STEP_COMPLETE_CUE_S` after a completion, the step-complete cue."""
        step = self.current_step
        if step is None:
            step_title, instructions = "All steps complete", ""
        else:
            step_title = f"Step {self.step_index + 1} of {len(self.procedure.steps)}: {_readable(step.name)}"
            instructions = step.instructions
        cue = self.last_completion is not None and self.time_s - self.last_completion[1] < STEP_COMPLETE_CUE_S
        cue_text = "Procedure complete" if self.finished else (
            f"Step complete: {_readable(self.last_completion[0])}" if self.last_completion else "Step complete"
        )
        return HudState(
            procedure_title=self.procedure.title,
            step_title=step_title,
            step_instructions=instructions,
            elapsed_s=self.time_s,
            time_limit_s=self.procedure.time_limit_s,
            forces_n=dict(self.forces_n),
            force_limit_n=self.procedure.force_limit_N,
            active_instrument=active_instrument,
            warnings=self._warnings(),
            step_complete=cue,
            step_complete_text=cue_text,
            paused=paused,
        )

    def _warnings(self) -> tuple[str, ...]:
        limit = self.procedure.force_limit_N
        lines = [
            f"{_readable(name)}: {force:.1f} N, over the {limit:g} N limit"
            for name, force in self.force_limit.above.items()
        ]
        for violation in self.forbidden_zones.violations:
            if violation.max_force_n is None:
                lines.append(f"{_readable(violation.instrument)} is touching {_readable(violation.region)}")
            else:
                lines.append(
                    f"{_readable(violation.instrument)} presses {_readable(violation.region)} with "
                    f"{violation.force_n:.1f} N (at most {violation.max_force_n:g} N)"
                )
        step = self.current_step
        if self.step_overdue:
            lines.append(f"This step is over its {step.time_limit_s:g} s time limit")
        return tuple(lines)


def _readable(name: str) -> str:
    """``left_grasper`` → ``Left grasper``."""
    text = name.replace("_", " ")
    return text[:1].upper() + text[1:]
