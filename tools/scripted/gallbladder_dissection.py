"""Scripts for procedures/gallbladder_dissection.yaml: retract the gallbladder, clip the neck twice on the patient's
side and once on the gallbladder's side, let go of the gallbladder, divide the duct between the clips.

Targets come from the built scene and the tissue's current state: the grasp point is the surface node of the
``gallbladder_body`` region nearest the left grasper's port; the clip and cut sites are the landmarks where they are
now (they follow the tissue as the retraction moves it), approached along the line from each instrument's port; the
neck's axis is the line between the two landmarks. Clips close across the neck (the jaws open perpendicular to it,
as a clip across a duct does); the scissors make two transverse strokes, at a third and two thirds of the way from
the proximal to the distal clip.
"""

from __future__ import annotations

import numpy as np

from surgsim.script import held_displacement_mm, jaw_roll, region_target

GRASPER, CLIPPER, SCISSORS = "left_grasper", "right_clip_applier", "right_scissors"
BODY = "gallbladder_body"
PROXIMAL, DISTAL = "duct_proximal_clip", "duct_distal_clip"
RIGHT = np.array([1.0, 0.0, 0.0])
RETRACT_MM = 10.0
LANDMARK_DEPTH_M = 0.002  # the landmarks lie this far under the neck's surface, along the line from the port
CLIP_PRESS_M = 0.0015  # the closed jaws' tip goes this far past the surface before the clip fires
# The tissue a clip closes on bulges toward the gallbladder as the jaws press: aim 1.5 mm short of the mark.
CLIP_AIM_M = -0.0015
CUT_SITES = (0.12, 0.37, 0.63, 0.88)  # fractions of the way from the proximal to the distal clip

NOVICE_REASON = ("does every step as the expert does, but on the way to the first clip lets the clip applier's "
                 "jaws stray up over the neck and brush the marked artery zone")
NOVICE_FAILURE = "forbidden-zone contacts"


def neck_axis(ctl) -> np.ndarray:
    axis = ctl.landmark(DISTAL) - ctl.landmark(PROXIMAL)
    return axis / np.linalg.norm(axis)


def retracted_mm(ctl) -> float:
    """How far the held part of the gallbladder's body has moved laterally from rest [mm]."""
    return held_displacement_mm(ctl, GRASPER, RIGHT, region=BODY)


def retract(ctl, *, distance_mm: float, speed: float):
    """Grasp the body (jaws opening across the shaft, horizontally) and pull it laterally to ``distance_mm``."""
    arm = ctl.arms[GRASPER]
    target = region_target(ctl, GRASPER, BODY)
    shaft = (target - arm.pivot) / np.linalg.norm(target - arm.pivot)
    roll = jaw_roll(ctl, GRASPER, target, np.cross(shaft, [0.0, 0.0, 1.0]))
    yield from ctl.move(GRASPER, target - 0.012 * shaft, speed=0.06, roll=roll)
    yield from ctl.move(GRASPER, target + 0.006 * shaft, speed=0.02)
    yield from ctl.close(GRASPER, seconds=0.12, settle_s=0.03)
    start = arm.point.copy()
    travelled, step = 0.0, 0.0005
    ticks = max(1, round(step / speed / ctl.dt))
    while retracted_mm(ctl) < distance_mm and travelled < 0.03:
        for k in range(1, ticks + 1):
            arm.set_point(start + (travelled + step * k / ticks) * RIGHT)
            yield
        travelled += step


def surface_point(ctl, name: str, point: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(where the line from instrument ``name``'s port to ``point`` enters the tissue now, the shaft direction)."""
    pivot = ctl.arms[name].pivot
    shaft = (point - pivot) / np.linalg.norm(point - pivot)
    entry = ctl.surface_along(name, point)
    return (point - LANDMARK_DEPTH_M * shaft if entry is None else entry), shaft


def clip_at(ctl, landmark: str, *, offset_m: float = 0.0, speed: float = 0.04, via=None):
    """One clip across the neck at ``landmark`` (shifted ``offset_m`` along the neck): open jaws to the surface
    along the shaft, press, close to fire, open, back off. ``via``: a function giving a point the jaws go to
    (straight in along the shaft and out again) on the way."""
    arm = ctl.arms[CLIPPER]
    axis = neck_axis(ctl)
    surface, shaft = surface_point(ctl, CLIPPER, ctl.landmark(landmark) + offset_m * axis)
    roll = jaw_roll(ctl, CLIPPER, surface, np.cross(shaft, axis))
    if via is not None:  # out along the shaft, across, in to the point and back, across to the clip site
        via = via()
        towards = (via - arm.pivot) / np.linalg.norm(via - arm.pivot)
        yield from ctl.move(CLIPPER, arm.point - 0.025 * arm.direction, speed=speed)
        yield from ctl.move(CLIPPER, via - 0.025 * towards, speed=speed, roll=roll, jaw=1.0)  # closed, in free space
        yield from ctl.move(CLIPPER, via, speed=0.02)
        yield from ctl.move(CLIPPER, via - 0.025 * towards, speed=speed)
        yield from ctl.move(CLIPPER, surface - 0.025 * shaft, speed=speed, jaw=0.0)
    yield from ctl.move(CLIPPER, surface - 0.008 * shaft, speed=speed, roll=roll, jaw=0.0)
    yield from ctl.move(CLIPPER, surface + CLIP_PRESS_M * shaft, speed=0.02)
    yield from ctl.wait(0.05)
    yield from ctl.set_jaw(CLIPPER, 1.0, seconds=0.1)
    yield from ctl.wait(0.05)
    yield from ctl.set_jaw(CLIPPER, 0.0, seconds=0.1)
    yield from ctl.move(CLIPPER, surface - 0.008 * shaft, speed=speed)


def clip_standby(ctl):
    """The clip applier in front of the proximal clip site, jaws open, while the retraction is held."""
    surface, shaft = surface_point(ctl, CLIPPER, ctl.landmark(PROXIMAL))
    yield from ctl.move(CLIPPER, surface - 0.015 * shaft, speed=0.1)


def divide(ctl):
    """Four transverse strokes spread between the clips."""
    for fraction in CUT_SITES:
        proximal, distal = ctl.landmark(PROXIMAL), ctl.landmark(DISTAL)
        site = proximal + fraction * (distal - proximal)
        surface, shaft = surface_point(ctl, SCISSORS, site)
        across = np.cross(shaft, neck_axis(ctl))
        # the blades sweep from the surface down to twice the site's depth: the cut is centred on the site
        depth = max(2.0 * float((site - surface) @ shaft), 0.002)
        yield from ctl.cut_stroke(SCISSORS, surface, across, depth_m=depth, opening=0.45, speed=0.06,
                                  standoff_m=0.004)


def approach_scissors(ctl):
    """The scissors from their port to 10 mm in front of the first cut site (as the clip applier backs out)."""
    proximal, distal = ctl.landmark(PROXIMAL), ctl.landmark(DISTAL)
    surface, shaft = surface_point(ctl, SCISSORS, proximal + CUT_SITES[0] * (distal - proximal))
    yield from ctl.move(SCISSORS, surface - 0.03 * shaft, speed=0.1)


def let_go(ctl):
    """The grasper opens before the division: traction kept on a duct that is part divided tears it from the cut's
    edge (an avulsion; with full traction through the four strokes, a settled start 0.1 mm/s slower tore 411 springs
    at 1.1-1.4 N), so the clipped duct is divided slack."""
    yield from ctl.set_jaw(GRASPER, 0.0, seconds=0.2)
    yield from ctl.wait(0.3)


def withdraw(ctl, name: str, *, speed: float = 0.1):
    arm = ctl.arms[name]
    yield from ctl.move(name, arm.pivot + 0.02 * arm.direction, speed=speed)


def dissect(ctl, *, clip_via=None):
    yield from ctl.together(retract(ctl, distance_mm=RETRACT_MM + 0.8, speed=0.01), clip_standby(ctl))
    yield from ctl.until_step(1, timeout_s=5.0)  # the 2 s hold of the retraction (the grasper keeps holding)
    yield from clip_at(ctl, PROXIMAL, offset_m=CLIP_AIM_M - 0.0008, via=clip_via)
    yield from clip_at(ctl, PROXIMAL, offset_m=CLIP_AIM_M + 0.0008)
    yield from ctl.until_step(2, timeout_s=1.0)
    yield from clip_at(ctl, DISTAL, offset_m=CLIP_AIM_M)
    yield from ctl.together(withdraw(ctl, CLIPPER), let_go(ctl))
    yield from approach_scissors(ctl)
    yield from divide(ctl)
    yield from ctl.wait(0.05)


def expert(ctl):
    yield from dissect(ctl)


def novice(ctl):
    """The expert's moves, except that on the way to the first clip the clip applier's jaws stray up over the neck
    and brush the marked artery zone: the closed jaws' tip goes to 2.5 mm from the zone's axis (the zone is 2.5 mm
    in radius and counts contact within 1 mm of it), a third of the way along it, on the side facing the port."""

    def brush():
        # the zone moves with the tissue around it: where it is now
        zone = ctl.region_shape("cystic_artery")
        start, end = np.asarray(zone.start), np.asarray(zone.end)
        axis = (end - start) / np.linalg.norm(end - start)
        point = start + (end - start) / 3.0
        towards_port = ctl.arms[CLIPPER].pivot - point
        towards_port -= (towards_port @ axis) * axis
        return point + 0.0025 * towards_port / np.linalg.norm(towards_port)

    yield from dissect(ctl, clip_via=brush)
