"""Scripted demonstrations for any procedure: the motions an expert makes, aimed at targets from the built scene.

A demonstration script is a generator function ``script(ctl)`` (``ctl``: a :class:`Controller`)
that yields once per physics tick; ``surgsim script PROCEDURE SCRIPT.py -o TRACE`` runs it headless and records the
session. The motions here take names from the procedure (instruments, regions, landmarks, steps) and find their
targets in the scene as it is at that moment (settled under gravity, moved by earlier steps)::

    from surgsim.script import grasp, retract

    def script(ctl):
        yield from grasp(ctl, "grasper", "flap")
        yield from retract(ctl, "grasper", direction=[0, 0, 1], distance_mm=15)
        yield from ctl.wait(3.0)

or ``yield from demonstrate(ctl)``, which does every step in order from its goal. ``demonstrate`` passes
``procedures/examples/tissue_lift.yaml`` and the shipped liver retraction (85 / 100); clip and cut steps on real
anatomy need more care than a generic motion gives (where to press, how deep, which way the blades open: see
``tools/scripted/gallbladder_dissection.py``), so script those steps with ``clip``, ``cut_along`` or
``ctl.cut_stroke`` and tune them. Every motion follows a minimum-jerk profile with the peak tip speed given (m/s).

This is the scripting module to import: it also carries the controller layer, which lives with the other command
sources in :mod:`surgsim.devices.scripted` (:class:`Controller` and its lower-level motions ``ctl.move``,
``ctl.path``, ``ctl.close``, ``ctl.release``, ``ctl.cut_stroke``, ``ctl.together``; :func:`run_script`; the
geometry of aiming a shaft through its trocar, :func:`aim`, :func:`opening_roll`, :func:`shaft_frame`).

Where an instrument reaches a region: the region's surface node nearest the instrument's port (a free instrument:
nearest its tip), at its current position; the shaft then comes in along the line from the port through it and the
tip stops where that line meets the tissue's current surface. Grasping jaws open across the shaft and horizontally
(perpendicular to the shaft and to +z, the patient's superior axis, unless ``across`` says otherwise).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from surgsim.devices.scripted import (
    Arm,
    Controller,
    FreeArm,
    Motion,
    aim,
    first_ray_hit,
    minimum_jerk,
    opening_roll,
    run_script,
    shaft_frame,
)
from surgsim.errors import InputError

UP = np.array([0.0, 0.0, 1.0])


# -- where things are ------------------------------------------------------------------------------------------------
def region_surface_nodes(ctl: Controller, region: str) -> np.ndarray:
    """The node ids of ``region`` that lie on the tissue's surface (all its nodes when none does)."""
    nodes = ctl.region_nodes(region)
    if not len(nodes):
        raise InputError(f"region '{region}'", "selects no tissue node, so there is nothing there to reach.")
    on_surface = np.intersect1d(nodes, ctl.rest_surface_nodes())
    return on_surface if len(on_surface) else nodes


def embedded_points(ctl: Controller, points_m) -> list:
    """Points given at rest [m], embedded in the tissue so that a script can follow them as it moves:
    ``embedded.position(ctl.positions())`` is where one is now (landmarks are followed the same way)."""
    from surgsim.procedure.region_geometry import embed_point

    rest = ctl.rest_positions()
    candidates = np.arange(len(rest))
    return [embed_point(point, rest, ctl.tets(), candidates) for point in points_m]


def segment_distance(p0, p1, q0, q1) -> float:
    """The smallest distance between segments p0-p1 and q0-q1 [m] (the first sampled at 400 points: fine enough to
    keep two instrument shafts apart)."""
    from surgsim.procedure.region_geometry import segment_point_distances

    p0, p1 = np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64)
    samples = p0 + np.linspace(0.0, 1.0, 400)[:, None] * (p1 - p0)
    return float(segment_point_distances(np.asarray(q0), np.asarray(q1), samples).min())


def _instrument(ctl: Controller, name: str):
    if name not in ctl.arms:
        known = ", ".join(sorted(ctl.arms))
        raise InputError(f"instrument '{name}'", f"is not an instrument of this procedure; its instruments: {known}.")
    return ctl.arms[name]


def region_target(ctl: Controller, instrument: str, region: str) -> np.ndarray:
    """Where ``instrument`` reaches ``region`` [m]: its surface node nearest the instrument's port (free: its tip)."""
    arm = _instrument(ctl, instrument)
    nodes = region_surface_nodes(ctl, region)
    positions = ctl.positions()[nodes]
    origin = arm.pivot if arm.trocar is not None else arm.point
    return positions[np.argmin(np.linalg.norm(positions - origin, axis=1))].copy()


def landmark_target(ctl: Controller, landmark: str) -> np.ndarray:
    """Where landmark ``landmark`` is now [m] (a copy)."""
    return ctl.landmark(landmark).copy()


def _entry(ctl: Controller, instrument: str, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the instrument's approach to ``target`` meets the surface, and the unit direction of that approach."""
    arm = ctl.arms[instrument]
    if arm.trocar is None:
        direction = target - arm.point
        norm = float(np.linalg.norm(direction))
        return target, direction / norm if norm > 1e-9 else arm.direction
    shaft = target - arm.pivot
    shaft /= np.linalg.norm(shaft)
    entry = ctl.surface_along(instrument, target)
    return (target if entry is None else entry), shaft


def _across(shaft: np.ndarray, across) -> np.ndarray:
    if across is not None:
        return np.asarray(across, dtype=np.float64)
    sideways = np.cross(shaft, UP)
    return sideways if np.linalg.norm(sideways) > 1e-6 else np.array([1.0, 0.0, 0.0])


def jaw_roll(ctl: Controller, instrument: str, target_m, across=None) -> float | None:
    """The roll [rad] at which the jaws of trocar instrument ``instrument``, aimed at ``target_m``, open along
    ``across`` (its part perpendicular to the shaft; None: horizontally, across the shaft and +z), the one of the two
    nearest its commanded roll; None for an open-surgery instrument (no port to aim through)."""
    arm = _instrument(ctl, instrument)
    if arm.trocar is None:
        return None
    target = np.asarray(target_m, dtype=np.float64)
    yaw, pitch, _ = aim(arm.trocar, target)
    shaft = (target - arm.pivot) / np.linalg.norm(target - arm.pivot)
    return opening_roll(arm.trocar, yaw, pitch, _across(shaft, across), near=arm.roll)


# -- motions ---------------------------------------------------------------------------------------------------------
def approach_point(ctl: Controller, instrument: str, target_m, *, standoff_m: float = 0.012, speed: float = 0.04,
                   jaw: float | None = None, across=None) -> Motion:
    """Bring the tip to ``standoff_m`` before where the approach to ``target_m`` meets the surface."""
    target = np.asarray(target_m, dtype=np.float64)
    entry, direction = _entry(ctl, instrument, target)
    kwargs = {} if jaw is None else {"jaw": jaw}
    roll = jaw_roll(ctl, instrument, entry, across)
    yield from ctl.move(instrument, entry - standoff_m * direction, speed=speed, roll=roll, **kwargs)


def approach(ctl: Controller, instrument: str, region: str, *, standoff_m: float = 0.012, speed: float = 0.04,
             jaw: float | None = None, across=None) -> Motion:
    """Bring the tip to ``standoff_m`` short of where it reaches ``region``."""
    yield from approach_point(ctl, instrument, region_target(ctl, instrument, region), standoff_m=standoff_m,
                              speed=speed, jaw=jaw, across=across)


def touch(ctl: Controller, instrument: str, region: str, *, press_m: float = 0.002, speed: float = 0.02,
          hold_s: float = 0.2, back_m: float = 0.01) -> Motion:
    """Touch ``region`` with the tip, ``press_m`` into the surface, hold, and back off ``back_m``."""
    yield from approach(ctl, instrument, region, speed=2 * speed, jaw=1.0)
    target = region_target(ctl, instrument, region)
    entry, direction = _entry(ctl, instrument, target)
    yield from ctl.move(instrument, entry + press_m * direction, speed=speed)
    yield from ctl.wait(hold_s)
    yield from ctl.move(instrument, entry - back_m * direction, speed=speed)


def grasp(ctl: Controller, instrument: str, region: str, *, bite_m: float = 0.008, speed: float = 0.04,
          across=None) -> Motion:
    """Open the jaws, come to the region, reach ``bite_m`` past its surface and close on it."""
    yield from approach(ctl, instrument, region, speed=speed, jaw=0.0, across=across)
    target = region_target(ctl, instrument, region)  # again: the tissue may have moved while we came
    entry, direction = _entry(ctl, instrument, target)
    yield from ctl.move(instrument, entry + bite_m * direction, speed=speed / 2)
    yield from ctl.close(instrument, seconds=0.12, settle_s=0.03)


def held_displacement_mm(ctl: Controller, instrument: str, direction, *, region: str | None = None) -> float:
    """How far the tissue ``instrument`` holds (of ``region`` only, when given) has moved along ``direction`` from its
    rest position [mm], measured on the held nodes' centroid as a retract goal measures it; 0 when it holds none."""
    held = ctl.grasped(instrument)
    if region is not None:
        held = held[np.isin(held, ctl.region_nodes(region))]
    if not len(held):
        return 0.0
    unit = np.asarray(direction, dtype=np.float64)
    unit = unit / np.linalg.norm(unit)
    rest = ctl.rest_positions()
    return float((ctl.positions()[held].mean(axis=0) - rest[held].mean(axis=0)) @ unit) * 1e3


def retract(ctl: Controller, instrument: str, direction, distance_mm: float, *, speed: float = 0.015,
            margin_mm: float = 1.5, max_travel_m: float = 0.06, step_m: float = 0.001) -> Motion:
    """Move the held tissue along ``direction`` ([x, y, z], or a name as in procedures: "cranial", "right", ...)
    until it is ``distance_mm`` (+ ``margin_mm``) from its rest position, measured on the grasped nodes as a retract
    goal measures it; the tip travels at most ``max_travel_m``."""
    if isinstance(direction, str):
        from surgsim.procedure.schema import NAMED_DIRECTIONS

        if direction not in NAMED_DIRECTIONS:
            raise InputError("direction", f"unknown direction '{direction}'; use one of "
                                          f"{', '.join(NAMED_DIRECTIONS)} or [x, y, z].")
        direction = NAMED_DIRECTIONS[direction]
    unit = np.asarray(direction, dtype=np.float64)
    norm = float(np.linalg.norm(unit))
    if not norm > 0:
        raise InputError("direction", "a retraction needs a non-zero direction.")
    unit /= norm
    arm = _instrument(ctl, instrument)
    start = arm.point.copy()
    travelled = 0.0
    ticks_per_step = max(1, round(step_m / speed / ctl.dt))
    while held_displacement_mm(ctl, instrument, unit) < distance_mm + margin_mm and travelled < max_travel_m:
        for k in range(1, ticks_per_step + 1):
            arm.set_point(start + (travelled + step_m * k / ticks_per_step) * unit)
            yield
        travelled += step_m


def cauterize(ctl: Controller, instrument: str, region: str, energy_s: float, *, press_m: float = 0.001,
              speed: float = 0.02) -> Motion:
    """Touch ``region`` with the (energy) instrument and apply energy for ``energy_s`` seconds."""
    yield from approach(ctl, instrument, region, speed=2 * speed)
    target = region_target(ctl, instrument, region)
    entry, direction = _entry(ctl, instrument, target)
    yield from ctl.move(instrument, entry + press_m * direction, speed=speed)
    yield from ctl.energy(instrument, True)
    yield from ctl.wait(energy_s * 1.05)
    yield from ctl.energy(instrument, False)
    yield from ctl.move(instrument, entry - 0.01 * direction, speed=speed)


def clip(ctl: Controller, instrument: str, landmark: str, *, bite_m: float = 0.004, speed: float = 0.03) -> Motion:
    """Open the clip applier at the landmark, close it there (placing a clip), open and back out."""
    yield from approach_point(ctl, instrument, landmark_target(ctl, landmark), speed=speed, jaw=0.0)
    target = landmark_target(ctl, landmark)
    entry, direction = _entry(ctl, instrument, target)
    yield from ctl.move(instrument, entry + bite_m * direction, speed=speed / 2)
    yield from ctl.close(instrument, seconds=0.15, settle_s=0.05)
    yield from ctl.open(instrument)
    yield from ctl.move(instrument, entry - 0.015 * direction, speed=speed)


def line_points(ctl: Controller, line, spacing_m: float) -> list[np.ndarray]:
    """Points along a cut goal's line [m], ``spacing_m`` apart: a polyline, a circle, or two landmarks' segment."""
    if line.kind == "circle":
        centre = np.asarray(line.center_mm) * 1e-3
        radius = line.radius_mm * 1e-3
        normal = np.asarray(line.normal, dtype=np.float64)
        normal /= np.linalg.norm(normal)
        first = np.cross(normal, [1.0, 0.0, 0.0] if abs(normal[0]) < 0.9 else [0.0, 1.0, 0.0])
        first /= np.linalg.norm(first)
        second = np.cross(normal, first)
        count = max(3, math.ceil(2 * math.pi * radius / spacing_m))
        angles = 2 * math.pi * np.arange(count) / count
        return [centre + radius * (math.cos(a) * first + math.sin(a) * second) for a in angles]
    if line.kind == "landmarks":
        corners = [landmark_target(ctl, line.from_landmark), landmark_target(ctl, line.to_landmark)]
    else:
        corners = [np.asarray(point) * 1e-3 for point in line.points_mm]
    points = [corners[0]]
    for a, b in zip(corners, corners[1:]):
        count = max(1, math.ceil(float(np.linalg.norm(b - a)) / spacing_m))
        points += [a + (b - a) * k / count for k in range(1, count + 1)]
    return points


def cut_along(ctl: Controller, instrument: str, points_m: Sequence, *, depth_m: float = 0.004,
              opening: float = 0.3) -> Motion:
    """Cut along ``points_m`` with one scissors stroke at each point, the blades opening along the line."""
    points = [np.asarray(point, dtype=np.float64) for point in points_m]
    for k, point in enumerate(points):
        ahead = points[min(k + 1, len(points) - 1)]
        behind = points[max(k - 1, 0)]
        entry = ctl.surface_along(instrument, point)
        yield from ctl.cut_stroke(instrument, point if entry is None else entry, ahead - behind, depth_m=depth_m,
                                  opening=opening)


# -- whole steps -----------------------------------------------------------------------------------------------------
def instrument_for(ctl: Controller, step) -> str:
    """The instrument a step's goal names, else the first of the procedure's instruments that can reach it."""
    from surgsim.procedure.schema import GOAL_INSTRUMENT_TYPES

    goal = step.goal
    if goal.instrument:
        return goal.instrument
    for instrument in ctl.procedure.instruments:
        if instrument.type in GOAL_INSTRUMENT_TYPES[goal.kind]:
            return instrument.name
    raise InputError(f"step '{step.name}'", f"no instrument of this procedure can reach a {goal.kind} goal.")


def perform(ctl: Controller, step, *, instrument: str | None = None, speed: float = 0.04) -> Motion:
    """Reach one step's goal the way its definition says (region, direction, distance, hold, line, landmark)."""
    goal = step.goal
    name = instrument or instrument_for(ctl, step)
    if goal.kind == "grasp":
        yield from grasp(ctl, name, goal.region, speed=speed)
    elif goal.kind == "retract":
        if not len(ctl.grasped(name)):
            yield from grasp(ctl, name, goal.region, speed=speed)
        yield from retract(ctl, name, goal.direction, goal.distance_mm)
        yield from ctl.wait(goal.hold_s + 0.3)
    elif goal.kind == "touch":
        yield from touch(ctl, name, goal.region)
    elif goal.kind == "cauterize":
        yield from cauterize(ctl, name, goal.region, goal.energy_s)
    elif goal.kind == "clip":
        for _ in range(goal.count):
            yield from clip(ctl, name, goal.landmark)
    elif goal.kind == "cut":
        yield from cut_along(ctl, name, line_points(ctl, goal.line, 0.0034))


def demonstrate(ctl: Controller, *, speed: float = 0.04, timeout_s: float = 10.0) -> Motion:
    """Every step of the procedure in order, each from its goal; waits (up to ``timeout_s``) for each to complete.
    What an instrument holds it keeps holding (a retraction stays up while the other hand works), unless a later
    step needs that instrument for something else: then it lets go first."""
    steps = ctl.procedure.steps
    for index, step in enumerate(steps):
        name = instrument_for(ctl, step)
        if len(ctl.grasped(name)) and step.goal.kind != "retract":
            yield from ctl.release(name)
        yield from perform(ctl, step, instrument=name, speed=speed)
        yield from ctl.until_step(index + 1, timeout_s=timeout_s)


__all__ = [
    # the controller layer (surgsim.devices.scripted)
    "Arm", "Controller", "FreeArm", "Motion", "aim", "first_ray_hit", "minimum_jerk", "opening_roll", "run_script",
    "shaft_frame",
    # where things are
    "region_surface_nodes", "embedded_points", "segment_distance", "region_target", "landmark_target", "jaw_roll",
    "held_displacement_mm", "line_points",
    # motions and whole steps
    "approach_point", "approach", "touch", "grasp", "retract", "cauterize", "clip", "cut_along", "instrument_for",
    "perform", "demonstrate",
]
