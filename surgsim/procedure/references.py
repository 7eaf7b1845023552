"""Checks that need the whole procedure: unique names, references by name, and instruments able to reach each goal.

Each problem comes with the location of the offending value (the same kind of path that pydantic errors carry), so
that the loader can point at its line and column.
"""

from __future__ import annotations

from surgsim.procedure.schema import (
    GOAL_INSTRUMENT_TYPES,
    ClipGoal,
    CutGoal,
    LandmarkLine,
    Procedure,
)
from surgsim.procedure.suggest import did_you_mean

Problem = tuple[tuple, str]  # (location in the data, message)


def reference_problems(procedure: Procedure) -> list[Problem]:
    problems: list[Problem] = []
    problems += _duplicate_names(procedure)
    bodies = [organ.name for organ in procedure.scene.organs] + [body.name for body in procedure.scene.rigid]
    problems += _region_and_landmark_bodies(procedure, bodies)
    problems += _anchors(procedure)
    problems += _goals(procedure)
    problems += _forbidden(procedure)
    steps = len(procedure.steps)
    wanted = procedure.rubric.pass_thresholds.min_goals_completed
    if wanted is not None and wanted > steps:
        problems.append(
            (
                ("rubric", "pass_thresholds", "min_goals_completed"),
                f"min_goals_completed is {wanted}, but the procedure has only {steps} steps.",
            )
        )
    return problems


def _unknown(kind: str, name: str, known) -> str:
    known = list(known)
    listing = f"; defined: {', '.join(known)}" if known else "; none are defined"
    return f"no {kind} named '{name}'{listing}.{did_you_mean(name, known)}"


def _duplicate_names(procedure: Procedure) -> list[Problem]:
    groups = {
        "organ or rigid body": [("scene", "organs", i, "name") for i in range(len(procedure.scene.organs))]
        + [("scene", "rigid", i, "name") for i in range(len(procedure.scene.rigid))],
        "instrument": [("instruments", i, "name") for i in range(len(procedure.instruments))],
        "step": [("steps", i, "name") for i in range(len(procedure.steps))],
        "forbidden zone for region": [("forbidden", i, "region") for i in range(len(procedure.forbidden))],
    }
    problems = []
    for kind, locations in groups.items():
        seen: set[str] = set()
        for loc in locations:
            name = _get(procedure, loc)
            if name in seen:
                problems.append((loc, f"a second {kind} '{name}'; names must be unique."))
            seen.add(name)
    return problems


def _get(procedure: Procedure, loc: tuple):
    value = procedure
    for part in loc:
        value = value[part] if isinstance(part, int) else getattr(value, part)
    return value


def _region_and_landmark_bodies(procedure: Procedure, bodies: list[str]) -> list[Problem]:
    problems = []
    for name, region in procedure.scene.regions.items():
        if region.organ is not None and region.organ not in bodies:
            loc = ("scene", "regions", name, "organ")
            problems.append((loc, _unknown("organ or rigid body", region.organ, bodies)))
    for name, landmark in procedure.scene.landmarks.items():
        if landmark.organ not in bodies:
            problems.append(
                (("scene", "landmarks", name, "organ"), _unknown("organ or rigid body", landmark.organ, bodies))
            )
    return problems


def _anchors(procedure: Procedure) -> list[Problem]:
    problems = []
    regions = procedure.scene.regions
    for i, organ in enumerate(procedure.scene.organs):
        for key, verb in (("anchors", "anchor"), ("attachments", "attach")):
            for j, anchor in enumerate(getattr(organ, key)):
                loc = ("scene", "organs", i, key, j)
                if anchor not in regions:
                    problems.append((loc, _unknown("region", anchor, regions)))
                elif regions[anchor].organ not in (None, organ.name):
                    owner = regions[anchor].organ
                    problems.append((loc, f"region '{anchor}' belongs to '{owner}', so it cannot {verb} "
                                          f"'{organ.name}'."))
    return problems


def _goals(procedure: Procedure) -> list[Problem]:
    problems = []
    regions = procedure.scene.regions
    landmarks = procedure.scene.landmarks
    instruments = {instrument.name: instrument.type for instrument in procedure.instruments}
    for i, step in enumerate(procedure.steps):
        goal = step.goal
        at = ("steps", i, "goal")
        region = getattr(goal, "region", None)
        if region is not None and region not in regions:
            problems.append((at + ("region",), _unknown("region", region, regions)))
        if isinstance(goal, ClipGoal) and goal.landmark not in landmarks:
            problems.append((at + ("landmark",), _unknown("landmark", goal.landmark, landmarks)))
        if isinstance(goal, CutGoal) and isinstance(goal.line, LandmarkLine):
            for end in ("from_landmark", "to_landmark"):
                name = getattr(goal.line, end)
                if name not in landmarks:
                    problems.append((at + ("line", end), _unknown("landmark", name, landmarks)))
        capable = GOAL_INSTRUMENT_TYPES[goal.kind]
        if goal.instrument is not None:
            if goal.instrument not in instruments:
                problems.append((at + ("instrument",), _unknown("instrument", goal.instrument, instruments)))
            elif instruments[goal.instrument] not in capable:
                problems.append(
                    (
                        at + ("instrument",),
                        f"'{goal.instrument}' is a {instruments[goal.instrument]}; a {goal.kind} goal needs one of: "
                        f"{', '.join(capable)}.",
                    )
                )
        elif not any(kind in capable for kind in instruments.values()):
            problems.append(
                (at + ("kind",), f"a {goal.kind} goal needs one of: {', '.join(capable)}; the procedure has none.")
            )
    return problems


def _forbidden(procedure: Procedure) -> list[Problem]:
    problems = []
    regions = procedure.scene.regions
    targets = {getattr(step.goal, "region", None) for step in procedure.steps}
    for i, zone in enumerate(procedure.forbidden):
        loc = ("forbidden", i, "region")
        if zone.region not in regions:
            problems.append((loc, _unknown("region", zone.region, regions)))
        elif zone.region in targets:
            problems.append((loc, f"region '{zone.region}' is both forbidden and a step's goal."))
    return problems
