"""Damage and safety incidents, read from the events of one time window.

Whether a cut or a burn is damage depends on the goal of the step being worked on when it happened:

- a ``cut`` during a cut step is on target when it lies within the goal's ``tolerance_mm`` of the goal's line; its
  distance from the line is its *deviation*. The cut's point is ``detail["rest_position_m"]`` (where the cut tissue
  was before it deformed, which is where the line was drawn) when the event has it, else ``position_m``. A cut during
  any other step, or after the last one, is damage. A cut with no position during a cut step counts as neither;
- a ``burn`` is on target during a cauterize step when its region is the goal's region; otherwise it is damage;
- every ``tear`` is damage; ``detail["springs"]`` says how many springs broke (1 when absent);
- the damaged *area*: ``detail["area_mm2"]`` of each tear (``torn_area_mm2``) and of each cut off target, by scissors
  or cautery (``cut_off_target_area_mm2``), the tissue surface those springs opened
  (:mod:`surgsim.mesh.opened_area`). A trace from before surgsim recorded it leaves the area unknown (None) when it
  has such an event; a verified score has it from the re-simulation;
- an ``over_retraction`` (a retract goal's region pulled past its ``max_distance_mm``) and an ``over_indentation`` (a
  touch goal's region pushed in past its ``max_depth_mm``) are damage, one episode each;
- damage is counted in *episodes*: tears (cuts off target, burns off target) of one region less than
  :data:`EPISODE_GAP_S` apart are one episode, however many ticks it lasts;
- a ``forbidden_contact`` is a violation when its zone forbids any contact (no ``max_force_N``) or its ``force_n``
  exceeds the zone's ``max_force_N``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from surgsim.errors import InputError
from surgsim.events import Event
from surgsim.procedure.schema import CauterizeGoal, CutGoal, Goal, Procedure, RetractGoal, TouchGoal
from surgsim.scoring.geometry import distance_to_line_mm


# Damage events of one kind less than this apart belong to one episode: faster than anyone reacts to what they see
# (simple visual reaction time is about 0.2 s), so it is the same motion going on, not a new error. A tear that
# continues over consecutive ticks (20 tear events in 0.2 s while retracting) is one episode.
EPISODE_GAP_S = 0.25
CUT_WITHIN_MM = 2.0  # FLS pattern cutting: a cut within 2 mm of the line is on it


class EpisodeClock:
    """When each kind of damage (tear, cut off target, burn off target, per region) last happened, across the windows
    of one session in order, so that an episode going on across a step's completion counts once."""

    def __init__(self):
        self._last: dict[tuple, float] = {}

    def starts_episode(self, kind: str, region: str | None, time_s: float) -> bool:
        key = (kind, region)
        last = self._last.get(key)
        self._last[key] = time_s
        return last is None or time_s - last > EPISODE_GAP_S


@dataclass(frozen=True)
class Incidents:
    tears: int = 0  # episodes
    torn_springs: int = 0
    cuts_off_target: int = 0  # episodes
    burns_off_target: int = 0  # episodes
    over_retractions: int = 0
    max_retraction_over_mm: float | None = None  # the farthest an over-retraction went past the goal's maximum
    over_indentations: int = 0
    max_indentation_over_mm: float | None = None  # the deepest an over-indentation went past the goal's maximum
    forbidden_contacts: int = 0
    forbidden_max_force_N: float | None = None
    cut_deviations_mm: tuple[float, ...] = ()
    torn_area_mm2: float | None = 0.0  # None: an event without its area (a trace from before areas were recorded)
    cut_off_target_area_mm2: float | None = 0.0

    @property
    def tissue_damage(self) -> int:
        """Damage episodes: tears, cuts off target, burns off target, over-retractions and over-indentations."""
        return (self.tears + self.cuts_off_target + self.burns_off_target + self.over_retractions
                + self.over_indentations)

    def __add__(self, other: "Incidents") -> "Incidents":
        def largest(a, b):
            values = [v for v in (a, b) if v is not None]
            return max(values) if values else None

        return Incidents(
            tears=self.tears + other.tears,
            torn_springs=self.torn_springs + other.torn_springs,
            cuts_off_target=self.cuts_off_target + other.cuts_off_target,
            burns_off_target=self.burns_off_target + other.burns_off_target,
            over_retractions=self.over_retractions + other.over_retractions,
            max_retraction_over_mm=largest(self.max_retraction_over_mm, other.max_retraction_over_mm),
            over_indentations=self.over_indentations + other.over_indentations,
            max_indentation_over_mm=largest(self.max_indentation_over_mm, other.max_indentation_over_mm),
            forbidden_contacts=self.forbidden_contacts + other.forbidden_contacts,
            forbidden_max_force_N=largest(self.forbidden_max_force_N, other.forbidden_max_force_N),
            cut_deviations_mm=self.cut_deviations_mm + other.cut_deviations_mm,
            torn_area_mm2=_area_sum(self.torn_area_mm2, other.torn_area_mm2),
            cut_off_target_area_mm2=_area_sum(self.cut_off_target_area_mm2, other.cut_off_target_area_mm2),
        )


def incidents_in(
    events: Iterable[Event], goal: Goal | None, procedure: Procedure, source: str, clock: EpisodeClock | None = None
) -> Incidents:
    """The incidents among ``events``, all of which happened while ``goal`` was the active one (None: no step was).
    ``clock`` carries the episodes over from the session's earlier windows (a fresh one: this window alone)."""
    clock = clock if clock is not None else EpisodeClock()
    tears = torn_springs = cuts_off_target = burns_off_target = forbidden_contacts = 0
    over_retractions = over_indentations = 0
    forbidden_forces: list[float] = []
    overshoots: list[float] = []
    overdepths: list[float] = []
    deviations: list[float] = []
    torn_area: float | None = 0.0
    cut_area: float | None = 0.0
    for event in sorted(events, key=lambda e: e.time_s):
        if event.kind == "tear":
            tears += clock.starts_episode("tear", event.region, event.time_s)
            torn_springs += int(event.detail.get("springs", 1))
            torn_area = _area_sum(torn_area, _opened_area_mm2(event))
        elif event.kind == "cut":
            deviation = _cut_deviation_mm(event, goal, procedure)
            off_target = not isinstance(goal, CutGoal) or (deviation is not None and deviation > goal.tolerance_mm)
            if deviation is not None:
                deviations.append(deviation)
            if off_target:
                cuts_off_target += clock.starts_episode("cut", event.region, event.time_s)
                cut_area = _area_sum(cut_area, _opened_area_mm2(event))
        elif event.kind == "burn":
            on_target = isinstance(goal, CauterizeGoal) and event.region == goal.region
            if not on_target:
                burns_off_target += clock.starts_episode("burn", event.region, event.time_s)
        elif event.kind == "over_retraction":
            over_retractions += 1  # the runtime reports edges: each is an episode already
        elif event.kind == "over_retraction_end":
            peak = event.detail.get("peak_mm")
            limit = _goal_limit_mm(procedure, RetractGoal, "max_distance_mm", event.region)
            if peak is not None and limit is not None:
                overshoots.append(float(peak) - limit)
        elif event.kind == "over_indentation":
            over_indentations += 1
        elif event.kind == "over_indentation_end":
            peak = event.detail.get("peak_mm")
            limit = _goal_limit_mm(procedure, TouchGoal, "max_depth_mm", event.region)
            if peak is not None and limit is not None:
                overdepths.append(float(peak) - limit)
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
        over_retractions=over_retractions,
        max_retraction_over_mm=max(overshoots) if overshoots else None,
        over_indentations=over_indentations,
        max_indentation_over_mm=max(overdepths) if overdepths else None,
        forbidden_contacts=forbidden_contacts,
        forbidden_max_force_N=max(forbidden_forces) if forbidden_forces else None,
        cut_deviations_mm=tuple(deviations),
        torn_area_mm2=torn_area,
        cut_off_target_area_mm2=cut_area,
    )


def _opened_area_mm2(event: Event) -> float | None:
    area = event.detail.get("area_mm2")
    return None if area is None else float(area)


def _area_sum(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def _goal_limit_mm(procedure: Procedure, kind: type, field: str, region: str | None) -> float | None:
    """The smallest ``field`` of the procedure's goals of type ``kind`` on ``region``."""
    limits = [getattr(step.goal, field) for step in procedure.steps
              if isinstance(step.goal, kind) and step.goal.region == region and getattr(step.goal, field)]
    return min(limits) if limits else None


def _cut_deviation_mm(event: Event, goal: Goal | None, procedure: Procedure) -> float | None:
    if not isinstance(goal, CutGoal):
        return None
    position_m = event.detail.get("rest_position_m", event.position_m)
    if position_m is None:
        return None
    point_mm = [1000.0 * float(v) for v in position_m]
    return distance_to_line_mm(point_mm, goal.line, procedure.scene.landmarks)
