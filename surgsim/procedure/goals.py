"""Judging a step's goal, tick by tick, from the tick the step becomes active.

Each goal kind has a tracker whose ``update(view)`` returns the name of the instrument that has just met the goal, or
None. Only *qualifying* instruments count: the goal's ``instrument`` when it names one, else every instrument of a
type able to reach that kind of goal (:data:`~surgsim.procedure.schema.GOAL_INSTRUMENT_TYPES`); events without an
instrument never count. Events and states from before the step became active are not seen.

Rules (positions in metres; times compared with a 1 ns slack so that sums of ticks do not fall short by rounding):

- **grasp**: a qualifying instrument holds at least one node of the region.
- **retract**: a qualifying instrument holds nodes of the region, and the centroid of those held nodes has moved from
  their *rest* centroid by at least ``distance_mm`` along ``direction`` (the projection of the displacement onto the
  unit direction); this has lasted ``hold_s`` without a break. A tick on which the displacement is short or the
  instrument holds none of the region's nodes restarts the hold, per instrument.
- **cut**: the line (the segment between the two landmarks at rest, a polyline, or a circle) is sampled every
  :data:`CUT_LINE_SAMPLE_SPACING_M` of its length; a sample is *cut* once a qualifying ``cut`` event's point lies within
  ``tolerance_mm`` of it. The point is ``detail["rest_position_m"]`` (where the tissue was when the line was drawn),
  else ``position_m``: as :mod:`surgsim.scoring.incidents` measures deviation. Met when at least
  :data:`CUT_COVERAGE_FRACTION` of the samples (of the length) are cut.
- **touch**: a qualifying instrument presses with a force of at least the goal's ``min_force_N`` (0.1 N unless
  given; coming within a millimetre is not touching) while its working end (the capsules that reach its tip) is
  within its radius + :data:`CONTACT_MARGIN_M` of the region's current geometry, or while it is in a contact that
  the coupling reported starting (``contact_start``) on the region (``region``) or some of its nodes
  (``detail["nodes"]``) and not yet ending.
- **cauterize**: each tick with a qualifying ``burn`` event whose ``region`` is the goal's region adds the tick's
  ``dt_s`` to the energy time, which must reach ``energy_s`` (the scorer counts the same burns as on target).
- **clip**: ``count`` qualifying ``clip`` events whose ``position_m`` lies within ``tolerance_mm`` of the landmark's
  current position (the landmark follows the tissue).
"""

from __future__ import annotations

import math

import numpy as np

from surgsim.events import Event
from surgsim.procedure.region_geometry import capsule_contact
from surgsim.procedure.scene_builder import MM, BuiltScene, SceneLandmark, SceneRegion
from surgsim.procedure.schema import (
    GOAL_INSTRUMENT_TYPES,
    CauterizeGoal,
    CircleLine,
    ClipGoal,
    CutGoal,
    CutLine,
    Goal,
    GraspGoal,
    LandmarkLine,
    RetractGoal,
    TouchGoal,
)
from surgsim.procedure.tick_view import TickView

CONTACT_MARGIN_M = 0.001
CUT_COVERAGE_FRACTION = 0.9
CUT_LINE_SAMPLE_SPACING_M = 0.0005
_TIME_SLACK_S = 1e-9
_LENGTH_SLACK_M = 1e-9


def qualifying_instruments(goal: Goal, instrument_types: dict[str, str]) -> tuple[str, ...]:
    """The instruments whose actions count for ``goal``, in the procedure's order (name → type given)."""
    if goal.instrument is not None:
        return (goal.instrument,)
    capable = GOAL_INSTRUMENT_TYPES[goal.kind]
    return tuple(name for name, kind in instrument_types.items() if kind in capable)


class GoalTracker:
    """The progress towards one goal; ``update`` once per tick while its step is active."""

    def __init__(self, instruments: tuple[str, ...]):
        self.instruments = instruments

    def update(self, view: TickView) -> str | None:
        """The instrument that met the goal on this tick, or None while it is not met."""
        raise NotImplementedError

    def _events(self, view: TickView, kind: str) -> list[Event]:
        return [event for event in view.events if event.kind == kind and event.instrument in self.instruments]


class GraspTracker(GoalTracker):
    def __init__(self, instruments: tuple[str, ...], region_mask: np.ndarray):
        super().__init__(instruments)
        self.region_mask = region_mask

    def update(self, view: TickView) -> str | None:
        for name in self.instruments:
            if self.region_mask[view.instruments[name].grasped_nodes].any():
                return name
        return None


class RetractTracker(GoalTracker):
    def __init__(
        self, instruments: tuple[str, ...], region_mask: np.ndarray, rest_positions: np.ndarray, direction,
        distance_m: float, hold_s: float,
    ):
        super().__init__(instruments)
        self.region_mask = region_mask
        self.rest_positions = rest_positions
        self.direction = np.asarray(direction, dtype=np.float64) / np.linalg.norm(direction)
        self.distance_m = distance_m
        self.hold_s = hold_s
        self.hold_started_s: dict[str, float] = {}

    def displacement_m(self, positions: np.ndarray, nodes: np.ndarray) -> float:
        """How far the centroid of ``nodes`` has moved from rest along the direction [m]."""
        return float((positions[nodes].mean(axis=0) - self.rest_positions[nodes].mean(axis=0)) @ self.direction)

    def update(self, view: TickView) -> str | None:
        met_by = None
        for name in self.instruments:
            held = view.instruments[name].grasped_nodes
            held = held[self.region_mask[held]]
            if len(held) and self.displacement_m(view.positions, held) >= self.distance_m - _LENGTH_SLACK_M:
                started = self.hold_started_s.setdefault(name, view.time_s)
                if met_by is None and view.time_s - started >= self.hold_s - _TIME_SLACK_S:
                    met_by = name
            else:
                self.hold_started_s.pop(name, None)
        return met_by


class CutTracker(GoalTracker):
    def __init__(self, instruments: tuple[str, ...], line_samples_m: np.ndarray, tolerance_m: float):
        super().__init__(instruments)
        self.line_samples_m = line_samples_m
        self.tolerance_m = tolerance_m
        self.cut_samples = np.zeros(len(line_samples_m), dtype=bool)

    @property
    def coverage(self) -> float:
        """The fraction of the line cut so far."""
        return float(self.cut_samples.mean())

    def update(self, view: TickView) -> str | None:
        for event in self._events(view, "cut"):
            point = event.detail.get("rest_position_m", event.position_m)
            if point is None:
                continue
            distances = np.linalg.norm(self.line_samples_m - np.asarray(point, dtype=np.float64), axis=1)
            self.cut_samples |= distances <= self.tolerance_m
            if self.coverage >= CUT_COVERAGE_FRACTION:
                return event.instrument
        return None


class TouchTracker(GoalTracker):
    def __init__(self, instruments: tuple[str, ...], region: SceneRegion, min_force_n: float):
        super().__init__(instruments)
        self.region = region
        self.min_force_n = min_force_n
        self.contacted: set[str] = set()  # instruments the coupling reported in contact with the region

    def update(self, view: TickView) -> str | None:
        for event in view.events:
            if event.instrument not in self.instruments:
                continue
            nodes = np.asarray(event.detail.get("nodes", ()), dtype=np.int64)
            of_region = event.region == self.region.name or np.isin(nodes, self.region.nodes).any()
            if event.kind == "contact_start" and of_region:
                self.contacted.add(event.instrument)
            elif event.kind == "contact_end":
                self.contacted.discard(event.instrument)
        pressing = [name for name in self.instruments if view.instruments[name].force_magnitude_n >= self.min_force_n]
        if not pressing:
            return None
        for name in pressing:
            if name in self.contacted:
                return name
        shape = self.region.geometry.placed(view.positions)
        for name in pressing:
            if capsule_contact(shape, view.instruments[name].working_end(), CONTACT_MARGIN_M) is not None:
                return name
        return None


class CauterizeTracker(GoalTracker):
    def __init__(self, instruments: tuple[str, ...], region: str, energy_s: float):
        super().__init__(instruments)
        self.region = region
        self.energy_s = energy_s
        self.applied_s = 0.0

    def update(self, view: TickView) -> str | None:
        burns = [event for event in self._events(view, "burn") if event.region == self.region]
        if not burns:
            return None
        self.applied_s += view.dt_s
        return burns[-1].instrument if self.applied_s >= self.energy_s - _TIME_SLACK_S else None


class ClipTracker(GoalTracker):
    def __init__(self, instruments: tuple[str, ...], landmark: SceneLandmark, tolerance_m: float, count: int):
        super().__init__(instruments)
        self.landmark = landmark
        self.tolerance_m = tolerance_m
        self.count = count
        self.placed = 0

    def update(self, view: TickView) -> str | None:
        for event in self._events(view, "clip"):
            if event.position_m is None:
                continue
            mark = self.landmark.position_m(view.positions)
            if np.linalg.norm(np.asarray(event.position_m) - mark) <= self.tolerance_m:
                self.placed += 1
                if self.placed >= self.count:
                    return event.instrument
        return None


def goal_tracker(goal: Goal, scene: BuiltScene, instrument_types: dict[str, str]) -> GoalTracker:
    """A fresh tracker for ``goal`` in ``scene``; ``instrument_types`` maps each instrument's name to its type."""
    instruments = qualifying_instruments(goal, instrument_types)
    if isinstance(goal, GraspGoal):
        return GraspTracker(instruments, _node_mask(scene, goal.region))
    if isinstance(goal, RetractGoal):
        return RetractTracker(instruments, _node_mask(scene, goal.region), scene.model.positions, goal.direction,
                              goal.distance_mm * MM, goal.hold_s)
    if isinstance(goal, CutGoal):
        samples = cut_line_samples_m(goal.line, scene.landmarks, spacing_m=CUT_LINE_SAMPLE_SPACING_M)
        return CutTracker(instruments, samples, goal.tolerance_mm * MM)
    if isinstance(goal, TouchGoal):
        return TouchTracker(instruments, scene.regions[goal.region], goal.min_force_N)
    if isinstance(goal, CauterizeGoal):
        return CauterizeTracker(instruments, goal.region, goal.energy_s)
    if isinstance(goal, ClipGoal):
        return ClipTracker(instruments, scene.landmarks[goal.landmark], goal.tolerance_mm * MM, goal.count)
    raise TypeError(f"unknown goal {type(goal).__name__}")


def _node_mask(scene: BuiltScene, region: str) -> np.ndarray:
    mask = np.zeros(scene.model.node_count, dtype=bool)
    mask[scene.regions[region].nodes] = True
    return mask


def cut_line_samples_m(line: CutLine, landmarks: dict[str, SceneLandmark], *, spacing_m: float) -> np.ndarray:
    """Points [S, 3] [m] at the middles of S equal pieces of the line, each at most ``spacing_m`` long, so that a
    fraction of the samples is the same fraction of the length."""
    if isinstance(line, CircleLine):
        normal = np.asarray(line.normal, dtype=np.float64)
        normal /= np.linalg.norm(normal)
        helper = np.eye(3)[np.argmin(np.abs(normal))]
        first = np.cross(normal, helper)
        first /= np.linalg.norm(first)
        second = np.cross(normal, first)
        radius = line.radius_mm * MM
        count = math.ceil(2.0 * math.pi * radius / spacing_m)
        angles = 2.0 * math.pi * (np.arange(count) + 0.5) / count
        ring = np.outer(np.cos(angles), first) + np.outer(np.sin(angles), second)
        return np.asarray(line.center_mm) * MM + radius * ring
    if isinstance(line, LandmarkLine):
        corners = np.array([landmarks[line.from_landmark].rest_position_m, landmarks[line.to_landmark].rest_position_m])
    else:
        corners = np.asarray(line.points_mm, dtype=np.float64) * MM
    lengths = np.linalg.norm(np.diff(corners, axis=0), axis=1)
    ends = np.concatenate([[0.0], np.cumsum(lengths)])
    count = max(1, math.ceil(ends[-1] / spacing_m))
    along = (np.arange(count) + 0.5) * ends[-1] / count
    return np.column_stack([np.interp(along, ends, corners[:, axis]) for axis in range(3)])
