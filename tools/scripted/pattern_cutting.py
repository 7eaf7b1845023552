"""Scripts for procedures/pattern_cutting.yaml: hold the gauze inside the circle with the grasper, cut the circle out
with the scissors in short strokes.

Targets come from the procedure and the built scene: the grasp point is the centre of the ``inside_circle`` region;
the cut sites are points of the goal's circle, embedded in the sheet at rest (as landmarks are) so that the script
follows them as the sheet sags and moves; each stroke enters the sheet where the line from the scissors' port to the
site meets its current surface, with the blades opening along the circle's current tangent there.
"""

from __future__ import annotations

import math

import numpy as np

from surgsim.script import embedded_points, jaw_roll, segment_distance

GRASPER, SCISSORS = "left_grasper", "right_scissors"
STROKE_SPACING_M = 0.0034  # along the circle, between stroke centres
STROKE_DEPTH_M = 0.005
GRASP_BITE_M = 0.005
OUTSIDE_M = 0.0015
SHAFT_CLEARANCE_M = 0.012  # between the shafts' axes: two 2.5 mm radii, the blades' spread and room to spare  # the open jaws' tips end ~2.4 mm short of the closed tip  # past the sheet's upper surface, along the shaft (through the 2 mm sheet at ~45°)

NOVICE_REASON = ("holds the gauze and cuts cleanly along the line, but stops half way round the circle: the disc "
                 "is still attached and the cut step is never completed")
NOVICE_FAILURE = "goals completed"


def circle(ctl):
    """(centre [m], radius [m], unit normal) of the cut goal's circle."""
    line = ctl.procedure.steps[-1].goal.line
    normal = np.asarray(line.normal, dtype=np.float64)
    return np.asarray(line.center_mm) * 1e-3, line.radius_mm * 1e-3, normal / np.linalg.norm(normal)


def _in_plane_axes(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors spanning the circle's plane (angles round the circle are measured from the first)."""
    first = np.cross(normal, [1.0, 0.0, 0.0] if abs(normal[0]) < 0.9 else [0.0, 1.0, 0.0])
    first /= np.linalg.norm(first)
    return first, np.cross(normal, first)


def hold_gauze(ctl):
    """Grasp the sheet at the centre of the circle (jaws opening across the shaft, horizontally). The sheet settles
    for a while after the session starts, so the grasp point is found again just before the bite."""
    arm = ctl.arms[GRASPER]
    centre, radius, normal = circle(ctl)
    (mark,) = embedded_points(ctl, [centre])

    def entry_point():
        target = mark.position(ctl.positions())
        entry = ctl.surface_along(GRASPER, target)
        entry = target if entry is None else entry
        return entry, (entry - arm.pivot) / np.linalg.norm(entry - arm.pivot)

    entry, shaft = entry_point()
    roll = jaw_roll(ctl, GRASPER, entry, np.cross(shaft, normal))
    yield from ctl.move(GRASPER, entry - 0.015 * shaft, speed=0.2, roll=roll)
    entry, shaft = entry_point()
    yield from ctl.move(GRASPER, entry + GRASP_BITE_M * shaft, speed=0.03)
    yield from ctl.close(GRASPER, seconds=0.1, settle_s=0.02)


def stroke_sites(ctl, *, radius_offset_m: float = 0.0) -> list:
    """The stroke sites round the circle (radius + ``radius_offset_m``) in cutting order, as (angle, embedded site,
    embedded points a little ahead and behind): from the point nearest the scissors half way round one way, then from
    there half way round the other, so that the last bridge holding the disc is on the far side.

    The sites are followed through points of the sheet just outside the line (the part held by the frame): once the
    disc comes loose, points embedded in it would lead the scissors into it."""
    centre, radius, normal = circle(ctl)
    radius += radius_offset_m
    first, second = _in_plane_axes(normal)
    pivot = ctl.arms[SCISSORS].pivot
    start = math.atan2(float((pivot - centre) @ second), float((pivot - centre) @ first))
    count = math.ceil(2.0 * math.pi * radius / STROKE_SPACING_M)
    steps = 2.0 * math.pi * np.arange(count) / count
    half = (count + 1) // 2
    angles = start + np.concatenate([steps[:half], -steps[1:count - half + 1]])
    delta = 0.3 * STROKE_SPACING_M / radius

    def rest(a):
        return centre + (radius + OUTSIDE_M) * (np.cos(a)[:, None] * first + np.sin(a)[:, None] * second)

    sites, ahead, behind = (embedded_points(ctl, rest(angles + shift)) for shift in (0.0, delta, -delta))
    inward = -(np.cos(angles)[:, None] * first + np.sin(angles)[:, None] * second)
    return list(zip(inward, sites, ahead, behind))


def stroke(ctl, site, *, stroke_s: float = 0.15):
    inward, point, front, back = site
    positions = ctl.positions()
    target = point.position(positions) + OUTSIDE_M * inward
    tangent = front.position(positions) - back.position(positions)
    entry = ctl.surface_along(SCISSORS, target)
    if entry is None:  # already cut through here: aim at the site itself
        entry = target
    yield from ctl.cut_stroke(SCISSORS, entry, tangent, depth_m=STROKE_DEPTH_M, opening=0.3, stroke_s=stroke_s,
                              standoff_m=0.003, speed=0.08)


def clear_of_grasper(ctl, site) -> bool:
    """Whether the scissors can cut at ``site`` without their shaft meeting the grasper's (their axes at least
    :data:`SHAFT_CLEARANCE_M` apart within the body)."""
    inward, point, _, _ = site
    target = point.position(ctl.positions()) + OUTSIDE_M * inward
    pivot = ctl.arms[SCISSORS].pivot
    shaft = (pivot - target) / np.linalg.norm(pivot - target)
    tip, pivot_g = ctl.tip(GRASPER), ctl.arms[GRASPER].pivot
    if segment_distance(target - 0.005 * shaft, pivot, tip, pivot_g) < SHAFT_CLEARANCE_M:
        return False
    # and nothing (the disc, lifted where the grasper holds it) in front of the site
    entry = ctl.surface_along(SCISSORS, target)
    return entry is None or float(np.linalg.norm(entry - target)) < 0.004


def cut_circle(ctl, *, fraction: float = 1.0):
    """Every stroke the grasper's shaft leaves room for; then the grasper lets go and backs out of the way, and the
    scissors finish the strokes it was in the way of. ``fraction``: stop after that share of the strokes."""
    sites = stroke_sites(ctl)
    sites = sites[: round(fraction * len(sites))]
    deferred = []
    for site in sites:
        if clear_of_grasper(ctl, site):
            yield from stroke(ctl, site)
        else:
            deferred.append(site)
    if deferred:
        yield from ctl.release(GRASPER)
        arm = ctl.arms[GRASPER]
        yield from ctl.move(GRASPER, arm.point - 0.04 * arm.direction, speed=0.2)
        for site in deferred:
            yield from stroke(ctl, site)


def still_attached(ctl, sites) -> list:
    """The sites where the sheet still joins the disc to the frame: a live spring crosses the circle within half a
    stroke spacing of the site (what a trainee sees as a bridge of gauze left between two cuts)."""
    coupler = ctl.session.coupler
    centre, radius, normal = circle(ctl)
    first, second = _in_plane_axes(normal)
    rel = coupler.model.positions - centre
    u, v = rel @ first, rel @ second
    r = np.hypot(u, v)
    a, b = coupler.model.springs[coupler.control.spring_active].T
    crossing = (r[a] - radius) * (r[b] - radius) < 0.0
    mid_u, mid_v = (u[a] + u[b])[crossing], (v[a] + v[b])[crossing]
    bridges = np.arctan2(mid_v, mid_u)
    reach = 0.5 * STROKE_SPACING_M / radius
    left = []
    for site in sites:
        inward = site[0]
        angle = math.atan2(-float(inward @ second), -float(inward @ first))
        gap = np.abs((bridges - angle + math.pi) % (2.0 * math.pi) - math.pi)
        if np.any(gap <= reach):
            left.append(site)
    return left


def finish_circle(ctl, *, passes: int = 2):
    """An expert checks that the disc has come free and cuts again where a bridge of gauze still holds it."""
    for _ in range(passes):
        if ctl.step_index >= len(ctl.procedure.steps):
            return
        for site in still_attached(ctl, stroke_sites(ctl)):
            if ctl.step_index >= len(ctl.procedure.steps):
                return
            yield from stroke(ctl, site)


def expert(ctl):
    yield from ctl.together(hold_gauze(ctl), approach(ctl))
    yield from ctl.until_step(1, timeout_s=1.0)
    yield from cut_circle(ctl)
    yield from finish_circle(ctl)
    yield from ctl.wait(0.05)


def approach(ctl):
    """The scissors from their port to above the first cut site."""
    centre, radius, _ = circle(ctl)
    arm = ctl.arms[SCISSORS]
    towards = arm.pivot - centre
    towards[2] = 0.0
    above = centre + radius * towards / np.linalg.norm(towards) + np.array([0.0, 0.0, 0.02])
    yield from ctl.move(SCISSORS, above, speed=0.2)


def novice(ctl):
    """The expert's moves, but the trainee stops once half the circle is cut."""
    yield from ctl.together(hold_gauze(ctl), approach(ctl))
    yield from ctl.until_step(1, timeout_s=1.0)
    yield from cut_circle(ctl, fraction=0.5)
    yield from ctl.wait(0.5)
