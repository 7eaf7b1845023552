"""Per-frame geometry in numpy: smooth vertex normals of deforming surfaces and triangle meshes of capsules.

Both run every frame, so both are vectorised (no Python loop over vertices or capsules).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np


def vertex_normals(positions: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Unit normals [N, 3] float32 of a triangle surface: the area-weighted mean of the normals of the triangles
    around each vertex. Vertices on no triangle (interior nodes) get a zero normal."""
    n = len(positions)
    normals = np.zeros((n, 3), dtype=np.float64)
    if len(triangles):
        p0, p1, p2 = (positions[triangles[:, k]] for k in range(3))
        face = np.cross(p1 - p0, p2 - p0)  # length = twice the area, which is the weight we want
        corners = triangles.ravel()
        repeated = np.repeat(face, 3, axis=0)
        # bincount per component is several times faster than np.add.at for scatter-adds of this size.
        for axis in range(3):
            normals[:, axis] = np.bincount(corners, weights=repeated[:, axis], minlength=n)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    np.divide(normals, length, out=normals, where=length > 0)
    return normals.astype(np.float32)


@lru_cache(maxsize=4)
def capsule_template(segments: int = 16, rings_per_cap: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A unit sphere cut at its equator, as ``(offsets [V, 3], end [V], triangles [T, 3])``.

    A vertex sits at ``p0 + end·(p1 − p0) + radius·offset`` in the capsule's frame (offset z along the axis): the
    southern half stays at ``p0`` (end 0), the northern half moves to ``p1`` (end 1), and the band of triangles
    between the two equator rings is the cylinder. The offset is also the vertex normal.
    """
    polar = np.concatenate([
        np.linspace(math.pi, math.pi / 2, rings_per_cap + 1),   # south pole → equator, at p0
        np.linspace(math.pi / 2, 0.0, rings_per_cap + 1),        # equator → north pole, at p1
    ])
    end = np.repeat([0.0, 1.0], rings_per_cap + 1)
    azimuth = np.linspace(0.0, 2.0 * math.pi, segments, endpoint=False)
    ring_count = len(polar)
    offsets = np.stack([
        np.outer(np.sin(polar), np.cos(azimuth)),
        np.outer(np.sin(polar), np.sin(azimuth)),
        np.outer(np.cos(polar), np.ones(segments)),
    ], axis=-1).reshape(-1, 3)
    ends = np.repeat(end, segments)
    ring = np.arange(ring_count - 1)[:, None]
    seg = np.arange(segments)[None, :]
    a = ring * segments + seg
    b = ring * segments + (seg + 1) % segments
    c = a + segments
    d = b + segments
    # Counter-clockwise seen from outside: rings run south → north, azimuth counter-clockwise about +z.
    triangles = np.concatenate([np.stack([a, b, d], -1).reshape(-1, 3), np.stack([a, d, c], -1).reshape(-1, 3)])
    return offsets, ends, triangles.astype(np.int32)


def capsule_meshes(p0: np.ndarray, p1: np.ndarray, radius: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triangle meshes of K capsules at once: ``(positions [K·V, 3], normals [K·V, 3], triangles [K·T, 3])``,
    float32/int32, from segment ends ``p0``/``p1`` [K, 3] [m] and radii [K] [m]."""
    offsets, ends, template_triangles = capsule_template()
    p0 = np.asarray(p0, dtype=np.float64).reshape(-1, 3)
    p1 = np.asarray(p1, dtype=np.float64).reshape(-1, 3)
    radius = np.asarray(radius, dtype=np.float64).reshape(-1)
    count = len(p0)
    axis = p1 - p0
    length = np.linalg.norm(axis, axis=1, keepdims=True)
    unit_axis = np.where(length > 1e-12, axis / np.where(length > 1e-12, length, 1.0), [0.0, 0.0, 1.0])
    helper = np.where(np.abs(unit_axis[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    u = np.cross(unit_axis, helper)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(unit_axis, u)
    frames = np.stack([u, v, unit_axis], axis=1)                    # [K, 3 (local axis), 3 (world)]
    normals = np.einsum("vl,klw->kvw", offsets, frames)             # [K, V, 3]
    positions = (p0[:, None, :] + ends[None, :, None] * axis[:, None, :] + radius[:, None, None] * normals)
    triangles = (template_triangles[None] + (np.arange(count) * len(offsets))[:, None, None]).reshape(-1, 3)
    return (positions.reshape(-1, 3).astype(np.float32), normals.reshape(-1, 3).astype(np.float32),
            triangles.astype(np.int32))
