"""Safety monitors run every tick: forbidden-zone contact, the procedure's force limit, over-retraction and
over-indentation.

Both report *edges*, so that a contact held for a thousand ticks is one event:

- :class:`ForbiddenZoneMonitor`: an instrument *violates* a zone while any of its capsules (shaft included) comes
  within its radius + :data:`~surgsim.procedure.goals.CONTACT_MARGIN_M` of the zone's current geometry and, for a zone
  with ``max_force_N``, the magnitude of the tissue's force on the tool exceeds it. Each start of a violation emits
  ``forbidden_contact`` with the instrument, the zone's region, the force magnitude [N] at that tick and the zone's
  point touched [m]; :mod:`surgsim.scoring.incidents` counts these against the zone's limit.
- :class:`ForceLimitMonitor`: an instrument whose force magnitude rises above the procedure's ``force_limit_N`` emits
  ``force_limit``, and ``force_limit_end`` when it falls back to the limit or below, each with the force at that tick.
  The scorer measures time above the limit from the trace's samples; these events drive the HUD and mark the trace.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from surgsim.events import Event
from surgsim.procedure.goals import _LENGTH_SLACK_M, CONTACT_MARGIN_M
from surgsim.procedure.region_geometry import capsules_contact
from surgsim.procedure.scene_builder import SceneRegion
from surgsim.procedure.tick_view import TickView


@dataclass(frozen=True)
class ZoneViolation:
    """An instrument violating a forbidden zone on the latest tick; ``force_n`` [N] is the tool's force magnitude."""

    instrument: str
    region: str
    force_n: float
    max_force_n: float | None


class ForbiddenZoneMonitor:
    """``zones``: each forbidden region with its ``max_force_N`` (None: no contact allowed)."""

    def __init__(self, zones: list[tuple[SceneRegion, float | None]], instruments: tuple[str, ...]):
        self.zones = zones
        self.instruments = instruments
        self.violations: tuple[ZoneViolation, ...] = ()
        self._clearances: dict[int, dict] = {}  # zone → capsules_contact's memory

    def update(self, view: TickView) -> list[Event]:
        before = {(v.instrument, v.region) for v in self.violations}
        violations, events = [], []
        forces = {name: view.instruments[name].force_magnitude_n for name in self.instruments}
        table = None  # every instrument's capsules in one array, made when a zone first needs them
        for zone, (region, max_force_n) in enumerate(self.zones):
            # Only instruments whose force could break the zone's limit are tested.
            names = [name for name in self.instruments if max_force_n is None or forces[name] > max_force_n]
            if not names:
                continue
            if table is None:
                table = _capsule_table(view, self.instruments)
            ends, reach, rows = table
            shape = region.geometry.placed(view.positions)
            points = capsules_contact(shape, ends, reach, [rows[name] for name in names],
                                      self._clearances.setdefault(zone, {}))
            for name, point in zip(names, points):
                if point is None:
                    continue
                force = forces[name]
                violations.append(ZoneViolation(name, region.name, force, max_force_n))
                if (name, region.name) not in before:
                    events.append(Event(
                        view.time_s, "forbidden_contact", instrument=name, region=region.name, force_n=force,
                        position_m=tuple(float(v) for v in point),
                    ))
        self.violations = tuple(violations)
        return events


def _capsule_table(view: TickView, instruments: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, dict[str, slice]]:
    """(ends [C, 2, 3], reach [C] = radius + the contact margin, each instrument's rows) of the instruments'
    capsules in order."""
    ends, reach, rows = [], [], {}
    for name in instruments:
        capsules = view.instruments[name].capsules
        rows[name] = slice(len(ends), len(ends) + len(capsules))
        for p0, p1, radius in capsules:
            ends.append((p0, p1))
            reach.append(radius + CONTACT_MARGIN_M)
    return np.array(ends, dtype=np.float64).reshape(len(ends), 2, 3), np.array(reach, dtype=np.float64), rows


class ForceLimitMonitor:
    def __init__(self, limit_n: float, instruments: tuple[str, ...]):
        self.limit_n = limit_n
        self.instruments = instruments
        self.above: dict[str, float] = {}  # instrument → force [N], for those above the limit on the latest tick

    def update(self, view: TickView) -> list[Event]:
        above, events = {}, []
        for name in self.instruments:
            force = view.instruments[name].force_magnitude_n
            if force > self.limit_n:
                above[name] = force
                if name not in self.above:
                    events.append(Event(view.time_s, "force_limit", instrument=name, force_n=force))
            elif name in self.above:
                events.append(Event(view.time_s, "force_limit_end", instrument=name, force_n=force))
        self.above = above
        return events


class OverRetractionMonitor:
    """Over-retraction of the regions of retract goals that have a ``max_distance_mm``, for the whole session (a
    region held on after its step, as while dissecting under it, can still be pulled too far).

    ``limits``: per goal, ``(tracker, region name, max_distance_m)``, the tracker being the goal's
    :class:`~surgsim.procedure.goals.RetractTracker` (which instruments count, the region's nodes, the direction and
    how the displacement is measured). An instrument holding nodes of the region whose displacement along the
    direction exceeds the maximum starts an ``over_retraction`` (instrument, region, ``detail``: ``distance_mm``,
    ``max_distance_mm``); when it comes back to the maximum or below, or lets go, ``over_retraction_end`` with the
    farthest distance of the episode (``detail["peak_mm"]``).
    """

    def __init__(self, limits: list[tuple[object, str, float]]):
        self.limits = limits
        self._peaks: dict[tuple[int, str], float] = {}  # (limit index, instrument) → farthest [m] while over

    def update(self, view: TickView) -> list[Event]:
        events = []
        for index, (tracker, region, max_distance_m) in enumerate(self.limits):
            for name in tracker.instruments:
                held = view.instruments[name].grasped_nodes
                held = held[tracker.region_mask[held]]
                distance = tracker.displacement_m(view.positions, held) if len(held) else None
                key = (index, name)
                if distance is not None and distance > max_distance_m + _LENGTH_SLACK_M:
                    if key not in self._peaks:
                        events.append(Event(view.time_s, "over_retraction", instrument=name, region=region, detail={
                            "distance_mm": distance * 1000.0, "max_distance_mm": max_distance_m * 1000.0}))
                    self._peaks[key] = max(self._peaks.get(key, 0.0), distance)
                elif key in self._peaks:
                    peak = self._peaks.pop(key)
                    events.append(Event(view.time_s, "over_retraction_end", instrument=name, region=region,
                                        detail={"peak_mm": peak * 1000.0}))
        return events


# Tissue within this distance of a pressing tip is the tissue it indents (a probe's or jaw's contact patch).
INDENTATION_RADIUS_M = 0.004


class IndentationMonitor:
    """Indentation of the regions of touch goals that have a ``max_depth_mm``, for the whole session.

    ``limits``: per goal, ``(qualifying instruments, region, max_depth_m)``. The depth is how far the region's nodes
    within :data:`INDENTATION_RADIUS_M` of a pressing instrument's tip (force above ``CONTACT_FORCE_N``) have moved
    from where they were on the first tick (the organs at rest under gravity): the tissue the tip pushes in. Beyond
    the maximum an ``over_indentation`` starts (instrument, region, ``detail``: ``depth_mm``, ``max_depth_mm``); when
    it comes back, or the tip stops pressing, ``over_indentation_end`` with the deepest point (``detail["peak_mm"]``).
    """

    CONTACT_FORCE_N = 0.05

    def __init__(self, limits: list[tuple[tuple[str, ...], SceneRegion, float]]):
        self.limits = limits
        self._reference: np.ndarray | None = None
        self._peaks: dict[tuple[int, str], float] = {}

    def update(self, view: TickView) -> list[Event]:
        if not self.limits:
            return []
        if self._reference is None:
            self._reference = np.array(view.positions, copy=True)
        events = []
        for index, (instruments, region, max_depth_m) in enumerate(self.limits):
            for name in instruments:
                instrument = view.instruments[name]
                depth = None
                if instrument.force_magnitude_n > self.CONTACT_FORCE_N:
                    nodes = region.nodes
                    near = np.linalg.norm(view.positions[nodes] - np.asarray(instrument.tip_m), axis=1)
                    patch = nodes[near <= INDENTATION_RADIUS_M]
                    if len(patch):
                        depth = float(np.linalg.norm(view.positions[patch] - self._reference[patch], axis=1).max())
                key = (index, name)
                if depth is not None and depth > max_depth_m + _LENGTH_SLACK_M:
                    if key not in self._peaks:
                        events.append(Event(view.time_s, "over_indentation", instrument=name, region=region.name,
                                            detail={"depth_mm": depth * 1000.0, "max_depth_mm": max_depth_m * 1000.0}))
                    self._peaks[key] = max(self._peaks.get(key, 0.0), depth)
                elif key in self._peaks:
                    peak = self._peaks.pop(key)
                    events.append(Event(view.time_s, "over_indentation_end", instrument=name, region=region.name,
                                        detail={"peak_mm": peak * 1000.0}))
        return events
