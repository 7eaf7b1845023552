"""Static rigid anatomy, seen by the tissue: planes and boxes become solver obstacles, spheres and capsules become
static capsules of the tool-contact pass (the solver has no round obstacles)."""

from __future__ import annotations

import numpy as np

from surgsim.tissue.contact import Box, Plane


def anatomy_obstacles(world, *, friction: float) -> list:
    """The world's static planes and boxes as :class:`~surgsim.tissue.contact.Plane` / ``Box`` obstacles."""
    obstacles = []
    for body in world.static_bodies:
        g = body.geometry
        if body.kind == "plane":
            obstacles.append(Plane(g["point_m"], g["normal"], friction))
        elif body.kind == "box":
            obstacles.append(Box(g["center_m"], g["half_extents_m"], g["rotation"], friction))
    return obstacles


def anatomy_capsules(world) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """The world's static spheres and capsules as (p0 [m], p1 [m], radius [m])."""
    return [(np.asarray(b.geometry["p0_m"], dtype=np.float64), np.asarray(b.geometry["p1_m"], dtype=np.float64),
             float(b.geometry["radius_m"])) for b in world.static_bodies if b.kind in ("sphere", "capsule")]
