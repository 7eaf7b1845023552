"""Scripts for procedures/liver_retraction.yaml: grasp the liver's inferior edge, lift it cranially, hold it.

Targets come from the built scene: the grasp point is the surface node of the ``liver_inferior_edge`` region that lies
furthest anterior and inferior (the very edge), where it has settled under gravity; the lift is measured on the
grasped nodes themselves, against their rest positions, exactly as the retract goal measures it.
"""

from __future__ import annotations

import numpy as np

from surgsim.script import held_displacement_mm, jaw_roll, region_surface_nodes

GRASPER = "right_grasper"
REGION = "liver_inferior_edge"
UP = np.array([0.0, 0.0, 1.0])  # cranial
BITE_M = 0.008  # how far past the edge's surface the open jaws reach before closing
GOAL_MM = 20.0  # the retract goal's distance_mm
HOLD_S = 5.0

NOVICE_REASON = ("lifts the edge only about 5 mm above its rest position, short of the 20 mm the retraction needs, "
                 "holds it there and stops: the retract step is never completed")
NOVICE_FAILURE = "goals completed"


def edge_point(ctl) -> np.ndarray:
    """The settled position of the region's most anterior-inferior surface node."""
    nodes = region_surface_nodes(ctl, REGION)
    positions = ctl.positions()
    return positions[nodes[np.argmin(positions[nodes, 2] - positions[nodes, 1])]]


def lift_mm(ctl) -> float:
    """How far the grasped nodes' centroid is above its rest position [mm] (0 when nothing is held)."""
    return held_displacement_mm(ctl, GRASPER, UP)


def grasp_edge(ctl, *, approach_speed: float):
    """Open jaws (opening horizontally, across the edge) to the edge along the shaft, a bite past it, close."""
    arm = ctl.arms[GRASPER]
    edge = edge_point(ctl)
    shaft = edge - arm.pivot
    shaft /= np.linalg.norm(shaft)
    roll = jaw_roll(ctl, GRASPER, edge, np.cross(shaft, UP))
    yield from ctl.move(GRASPER, edge - 0.012 * shaft, speed=approach_speed, roll=roll)
    yield from ctl.move(GRASPER, edge + BITE_M * shaft, speed=0.02)
    yield from ctl.close(GRASPER, seconds=0.12, settle_s=0.03)


def lift_to(ctl, target_mm: float, *, speed: float, step_m: float = 0.001):
    """Lift cranially at ``speed`` [m/s] until the grasped tissue is ``target_mm`` above rest, then stop there."""
    arm = ctl.arms[GRASPER]
    start = arm.point.copy()
    travelled = 0.0
    ticks_per_mm = max(1, round(step_m / speed / ctl.dt))
    while lift_mm(ctl) < target_mm and travelled < 0.05:
        travelled += step_m
        for k in range(1, ticks_per_mm + 1):
            arm.set_point(start + (travelled - step_m + step_m * k / ticks_per_mm) * UP)
            yield


def expert(ctl):
    """A bite of the edge, a smooth 15 mm/s lift to 1.5 mm past the goal, a still 5 s hold."""
    yield from grasp_edge(ctl, approach_speed=0.05)
    yield from lift_to(ctl, GOAL_MM + 1.5, speed=0.015)
    yield from ctl.wait(HOLD_S + 0.5)


def novice(ctl):
    """The same grasp, then too timid a lift: the edge ends ~5 mm above rest, held for 5 s, then the trainee stops."""
    yield from grasp_edge(ctl, approach_speed=0.05)
    yield from lift_to(ctl, 5.0, speed=0.015)
    yield from ctl.wait(HOLD_S)
