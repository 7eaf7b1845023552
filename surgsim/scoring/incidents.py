"""Damage and safety incidents, read from the events of one time window.

Whether a cut or a burn is damage depends on the goal of the step being worked on when it happened:

- a ``cut`` during a cut step is on target when it lies within the goal's ``tolerance_mm`` of the goal's line; its
  distance from the line is its *deviation*. The cut's point is ``detail["rest_position_m"]`` (where the cut tissue
  was before it deformed, which is where the line was drawn) when the event has it, else ``position_m``. A cut during
  any other step, or after the last one, is damage. A cut with no position during a cut step counts as neither;
- a ``burn`` is on target during a cauterize step when its region is the goal's region; otherwise it is damage;
- every ``tear`` is damage; ``detail["springs"]`` says how many springs broke (1 when absent);
- a ``forbidden_contact`` is a violation when its zone forbids any contact (no ``max_force_N``) or its ``force_n``
  exceeds the zone's ``max_force_N``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from surgsim.errors import InputError
from surgsim.events import Event
from surgsim.procedure.schema import CauterizeGoal, CutGoal, Goal, Procedure
from surgsim.scoring.geometry import distance_to_line_mm


@dataclass(frozen=True)
class Incidents:
    tears: int = 0
    torn_springs: int = 0
    cuts_off_target: int = 0
    burns_off_target: int = 0
    forbidden_contacts: int = 0
    forbidden_max_force_N: float | None = None
    cut_deviations_mm: tuple[float, ...] = ()

    @property
    def tissue_damage(self) -> int:
        """Damage incidents: tears, cuts off target and burns off target."""
        return self.tears + self.cuts_off_target + self.burns_off_target

    def __add__(self, other: "Incidents") -> "Incidents":
        forces = [f for f in (self.forbidden_max_force_N, other.forbidden_max_force_N) if f is not None]
        return Incidents(
            tears=self.tears + other.tears,
            torn_springs=self.torn_springs + other.torn_springs,
            cuts_off_target=self.cuts_off_target + other.cuts_off_target,
            burns_off_target=self.burns_off_target + other.burns_off_target,
            forbidden_contacts=self.forbidden_contacts + other.forbidden_contacts,
            forbidden_max_force_N=max(forces) if forces else None,
            cut_deviations_mm=self.cut_deviations_mm + other.cut_deviations_mm,
        )


def incidents_in(events: Iterable[Event], goal: Goal | None, procedure: Procedure, source: str) -> Incidents:
    """The incidents among ``events``, all of which happened while ``goal`` was the active one (None: no step was)."""
    tears = torn_springs = cuts_off_target = burns_off_target = forbidden_contacts = 0
    forbidden_forces: list[float] = []
    deviations: list[float] = []
    for event in events:
        if event.kind == "tear":
            tears += 1
            torn_springs += int(event.detail.get("springs", 1))
        elif event.kind == "cut":
            deviation = _cut_deviation_mm(event, goal, procedure)
            if not isinstance(goal, CutGoal):
                cuts_off_target += 1
            elif deviation is not None:
                deviations.append(deviation)
                cuts_off_target += deviation > goal.tolerance_mm
        elif event.kind == "burn":
            on_target = isinstance(goal, CauterizeGoal) and event.region == goal.region
            burns_off_target += not on_target
        elif event.kind == "forbidden_contact":
            zone = procedure.forbidden_zone(event.region or "")
            if zone is None:
                raise InputError(
                    source,
                    f"a forbidden_contact event at {event.time_s} s names region '{event.region}', which is not a "
                    f"forbidden zone of procedure '{procedure.name}'.",
                )
            if event.force_n is not None:
                forbidden_forces.append(float(event.force_n))
            force_breaks_limit = event.force_n is not None and event.force_n > (zone.max_force_N or 0.0)
            forbidden_contacts += zone.max_force_N is None or force_breaks_limit
    return Incidents(
        tears=tears,
        torn_springs=torn_springs,
        cuts_off_target=cuts_off_target,
        burns_off_target=burns_off_target,
        forbidden_contacts=forbidden_contacts,
        forbidden_max_force_N=max(forbidden_forces) if forbidden_forces else None,
        cut_deviations_mm=tuple(deviations),
    )


def _cut_deviation_mm(event: Event, goal: Goal | None, procedure: Procedure) -> float | None:
    if not isinstance(goal, CutGoal):
        return None
    position_m = event.detail.get("rest_position_m", event.position_m)
    if position_m is None:
        return None
    point_mm = [1000.0 * float(v) for v in position_m]
    return distance_to_line_mm(point_mm, goal.line, procedure.scene.landmarks)
