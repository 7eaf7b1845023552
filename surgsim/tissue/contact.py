"""Static obstacles the tissue rests on or is pushed against: planes and (oriented) boxes.

Contact is a projection: after every Jacobi iteration a node found inside an obstacle is moved to its surface along
the surface normal, and its tangential motion during the sub-step is reduced by ``friction`` × penetration depth
(Coulomb friction in position form: a node sticks while the tangential slip is below μ × depth). Only nodes are
tested (a thin obstacle can pass between nodes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from surgsim.errors import InputError

OBSTACLE_WIDTH = 20  # floats per packed obstacle
PLANE, BOX = 0.0, 1.0


@dataclass(frozen=True)
class Plane:
    """The half-space below a plane is solid: ``point`` [m] on it, ``normal`` pointing into free space."""

    point: tuple[float, float, float]
    normal: tuple[float, float, float]
    friction: float = 0.0

    def pack(self) -> np.ndarray:
        n = np.asarray(self.normal, dtype=np.float64)
        length = np.linalg.norm(n)
        if not np.isfinite(length) or length == 0:
            raise InputError("plane", "the normal must be a non-zero vector.")
        row = np.zeros(OBSTACLE_WIDTH)
        row[0], row[1] = PLANE, _friction(self.friction)
        row[2:5] = self.point
        row[5:8] = n / length
        return row


@dataclass(frozen=True)
class Box:
    """A solid box: ``center`` [m], ``half_extents`` [m] along its own axes, ``rotation`` (3×3, columns = axes)."""

    center: tuple[float, float, float]
    half_extents: tuple[float, float, float]
    rotation: tuple = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    friction: float = 0.0

    def pack(self) -> np.ndarray:
        r = np.asarray(self.rotation, dtype=np.float64)
        if r.shape != (3, 3) or not np.allclose(r.T @ r, np.eye(3), atol=1e-6):
            raise InputError("box", "rotation must be a 3×3 orthonormal matrix.")
        half = np.asarray(self.half_extents, dtype=np.float64)
        if half.shape != (3,) or np.any(half <= 0):
            raise InputError("box", "half_extents must be three positive lengths.")
        row = np.zeros(OBSTACLE_WIDTH)
        row[0], row[1] = BOX, _friction(self.friction)
        row[2:5] = self.center
        row[5:8] = half
        row[8:17] = r.reshape(-1)  # row-major; columns are the box axes
        return row


def _friction(mu: float) -> float:
    if not (0.0 <= mu < 1e3):
        raise InputError("friction", f"friction coefficient must be ≥ 0, got {mu}.")
    return float(mu)


def pack_obstacles(obstacles) -> np.ndarray:
    """[max(1, K), OBSTACLE_WIDTH] floats; an empty list packs one disabled row (type -1)."""
    rows = [o.pack() for o in obstacles]
    if not rows:
        row = np.zeros(OBSTACLE_WIDTH)
        row[0] = -1.0
        rows = [row]
    return np.ascontiguousarray(np.stack(rows))


def project_numpy(p: np.ndarray, start: np.ndarray, packed: np.ndarray) -> np.ndarray:
    """Reference (numpy) projection of points ``p`` [K, 3] with sub-step start positions ``start``."""
    p = p.copy()
    for row in packed:
        kind, mu = row[0], row[1]
        if kind == PLANE:
            normal = row[5:8]
            phi = (p - row[2:5]) @ normal
            depth = -phi
        elif kind == BOX:
            r = row[8:17].reshape(3, 3)
            q = (p - row[2:5]) @ r
            gap = row[5:8] - np.abs(q)
            axis = np.argmin(gap, axis=1)
            depth = np.where(np.all(gap > 0, axis=1), gap[np.arange(len(p)), axis], -1.0)
            sign = np.where(q[np.arange(len(p)), axis] >= 0, 1.0, -1.0)
            normal = r[:, axis].T * sign[:, None]
        else:
            continue
        inside = depth > 0
        if not np.any(inside):
            continue
        nrm = normal if normal.ndim == 2 else np.broadcast_to(normal, p.shape)
        p[inside] += depth[inside, None] * nrm[inside]
        if mu > 0:
            slip = p[inside] - start[inside]
            slip -= np.sum(slip * nrm[inside], axis=1)[:, None] * nrm[inside]
            size = np.linalg.norm(slip, axis=1)
            limit = mu * depth[inside]
            scale = np.where(size <= limit, 1.0, limit / np.where(size > 0, size, 1.0))
            p[inside] -= slip * scale[:, None]
    return p
