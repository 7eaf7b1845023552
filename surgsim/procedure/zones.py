"""Safety monitors run every tick: forbidden-zone contact and the procedure's force limit.

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

from surgsim.events import Event
from surgsim.procedure.goals import CONTACT_MARGIN_M
from surgsim.procedure.region_geometry import capsule_contact
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

    def update(self, view: TickView) -> list[Event]:
        before = {(v.instrument, v.region) for v in self.violations}
        violations, events = [], []
        for region, max_force_n in self.zones:
            shape = None  # placed only when some instrument's force could break the zone's limit
            for name in self.instruments:
                instrument = view.instruments[name]
                force = instrument.force_magnitude_n
                if max_force_n is not None and force <= max_force_n:
                    continue
                if shape is None:
                    shape = region.geometry.placed(view.positions)
                point = capsule_contact(shape, instrument.capsules, CONTACT_MARGIN_M)
                if point is None:
                    continue
                violations.append(ZoneViolation(name, region.name, force, max_force_n))
                if (name, region.name) not in before:
                    events.append(Event(
                        view.time_s, "forbidden_contact", instrument=name, region=region.name, force_n=force,
                        position_m=tuple(float(v) for v in point),
                    ))
        self.violations = tuple(violations)
        return events


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
