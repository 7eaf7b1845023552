"""Where a procedure's named regions and landmarks are while the tissue moves, and how near an instrument comes.

Everything is in metres in the scene frame; ``positions`` [N, 3] are the tissue model's current node positions.

- :class:`Embedding`: a point carried by the tissue (a landmark, the end of a marked vessel): a fixed combination of
  node positions plus an offset, so that it follows the tissue it lies in.
- Region geometry (:class:`RegionGeometry`) is ``placed(positions)`` once per tick, which gives a :class:`Shape` of
  that instant; a shape answers ``nearest_within(p0, p1, reach)``: its point nearest to the segment ``p0``-``p1`` when
  that point is within ``reach`` of it, else None. Instruments are capsules (a segment and a radius), so "capsule
  touches region" is ``nearest_within(..., reach=radius + margin)`` (:func:`capsule_contact`).

  - :class:`SurfacePatch` → :class:`Surface`: a piece of tissue surface (its vertices are node ids and move) or of
    rigid anatomy (fixed vertices). Nodes of an imported organ lie several millimetres apart, farther than an
    instrument's radius, so the triangles are also sampled every :data:`SURFACE_SAMPLE_SPACING_M`; a sampled
    distance overestimates the true one by at most spacing/√3.
  - :class:`SphereVolume` → :class:`Ball`, :class:`CapsuleVolume` → :class:`Tube`, :class:`BoxVolume` →
    :class:`AlignedBox`: a region drawn as a volume of the scene (a marked artery), whose defining points are
    embedded in the nearby tissue so that it moves with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

SURFACE_SAMPLE_SPACING_M = 0.001
# A segment this far outside a surface's bounding box is far enough: its clearance is the box gap alone.
_BOX_GAP_ENOUGH_M = 0.02
# Barycentric coordinates this far below zero still count as inside a tet (points on a shared face or edge).
_INSIDE_TOLERANCE = 1e-9


# -- points that follow the tissue -----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Embedding:
    """A point at ``weights @ positions[nodes] + offset_m`` [m]: barycentric in a tet, offset from one node, or fixed
    (no nodes)."""

    nodes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))
    offset_m: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def position(self, positions: np.ndarray) -> np.ndarray:
        if len(self.nodes) == 0:
            return self.offset_m.copy()
        return self.weights @ positions[self.nodes] + self.offset_m

    @classmethod
    def fixed(cls, point_m) -> "Embedding":
        return cls(offset_m=np.asarray(point_m, dtype=np.float64))


def embed_point(
    point_m, rest_positions: np.ndarray, tets: np.ndarray, nodes: np.ndarray, *, max_node_distance_m: float = math.inf
) -> Embedding:
    """Embed ``point_m`` in the tissue made of ``tets`` (global node ids) and ``nodes`` (the candidates outside them).

    Inside a tet: barycentric weights of its four nodes (the lowest-numbered containing tet). Outside: the nearest
    of ``nodes`` carries it at a fixed offset, when it is within ``max_node_distance_m``. Otherwise the point is fixed.
    """
    point = np.asarray(point_m, dtype=np.float64)
    if len(tets):
        corners = rest_positions[tets]
        edges = np.transpose(corners[:, 1:] - corners[:, :1], (0, 2, 1))  # columns p1-p0, p2-p0, p3-p0
        coordinates = np.linalg.solve(edges, (point - corners[:, 0])[:, :, None])[:, :, 0]
        weights = np.column_stack([1.0 - coordinates.sum(axis=1), coordinates])
        inside = np.flatnonzero(np.all(weights >= -_INSIDE_TOLERANCE, axis=1))
        if len(inside):
            tet = inside[0]
            return Embedding(tets[tet].astype(np.int64), weights[tet], np.zeros(3))
    if len(nodes):
        distances = np.linalg.norm(rest_positions[nodes] - point, axis=1)
        nearest = int(np.argmin(distances))
        if distances[nearest] <= max_node_distance_m:
            node = int(nodes[nearest])
            return Embedding(np.array([node]), np.ones(1), point - rest_positions[node])
    return Embedding.fixed(point)


# -- distances -------------------------------------------------------------------------------------------------------
def closest_on_segment(p0: np.ndarray, p1: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The point of segment ``p0``-``p1`` nearest to each of ``points`` [K, 3] → [K, 3]."""
    along = p1 - p0
    length_sq = float(along @ along)
    if length_sq == 0.0:
        return np.broadcast_to(p0, points.shape).copy()
    fraction = np.clip((points - p0) @ along / length_sq, 0.0, 1.0)
    return p0 + fraction[:, None] * along


def segment_point_distances(p0: np.ndarray, p1: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Distance [m] from segment ``p0``-``p1`` to each of ``points`` [K, 3]."""
    return np.linalg.norm(points - closest_on_segment(p0, p1, points), axis=1)


def closest_points_of_segments(
    p0: np.ndarray, p1: np.ndarray, q0: np.ndarray, q1: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The pair of nearest points, on segment ``p0``-``p1`` and on segment ``q0``-``q1`` (Ericson, Real-Time
    Collision Detection, 5.1.9)."""
    d1, d2, r = p1 - p0, q1 - q0, p0 - q0
    a, e, f = float(d1 @ d1), float(d2 @ d2), float(d2 @ r)
    if a == 0.0 and e == 0.0:
        return p0.copy(), q0.copy()
    if a == 0.0:
        return p0.copy(), q0 + min(max(f / e, 0.0), 1.0) * d2
    c = float(d1 @ r)
    if e == 0.0:
        return p0 + min(max(-c / a, 0.0), 1.0) * d1, q0.copy()
    b = float(d1 @ d2)
    denominator = a * e - b * b
    s = min(max((b * f - c * e) / denominator, 0.0), 1.0) if denominator > 0.0 else 0.0
    t = (b * s + f) / e
    if t < 0.0:
        t, s = 0.0, min(max(-c / a, 0.0), 1.0)
    elif t > 1.0:
        t, s = 1.0, min(max((b - c) / a, 0.0), 1.0)
    return p0 + s * d1, q0 + t * d2


# -- shapes at one instant -------------------------------------------------------------------------------------------
class Shape(Protocol):
    def nearest_within(self, p0: np.ndarray, p1: np.ndarray, reach: float, hint=None) -> np.ndarray | None:
        """The shape's point nearest to segment ``p0``-``p1`` [m] if within ``reach`` [m] of it, else None (``hint``:
        what :meth:`clearance` computed for the same segment, to reuse)."""

    def motion_points(self) -> np.ndarray | None:
        """[K, 3] points such that no point of the shape moves farther than the farthest of them between two ticks
        (empty: the shape never moves), or None when no such bound is known."""

    def clearance(self, p0: np.ndarray, p1: np.ndarray) -> tuple[float, object]:
        """A lower bound [m] of the distance from segment ``p0``-``p1`` to the shape, and a hint for
        :meth:`nearest_within`. Needed only where :meth:`motion_points` is not None."""


class Surface:
    """Triangles over ``vertices`` [V, 3] [m] (local indices), with barycentric samples of the triangles.

    ``sample_positions`` [P, 3]: the samples' positions when known in advance (a rigid surface); otherwise only the
    samples of triangles near the segment are computed, from ``sample_weights``.
    """

    def __init__(
        self, vertices: np.ndarray, triangles: np.ndarray, sample_triangle: np.ndarray, sample_weights: np.ndarray,
        *, sample_positions: np.ndarray | None = None,
    ):
        self.vertices = vertices
        self.triangles = triangles
        self.sample_triangle = sample_triangle
        self.sample_weights = sample_weights
        self.sample_positions = sample_positions
        self.low, self.high = vertices.min(axis=0), vertices.max(axis=0)
        corners = vertices[triangles]
        self.longest_edges = np.max(np.linalg.norm(corners - np.roll(corners, 1, axis=1), axis=2), axis=1)
        self.max_edge = float(self.longest_edges.max()) if len(triangles) else 0.0

    @property
    def fixed(self) -> bool:
        """Whether the surface never moves (rigid anatomy): a distance found once stays valid while the tool stays."""
        return self.sample_positions is not None

    def motion_points(self) -> np.ndarray | None:
        """Points whose displacement bounds the shape's (none for a fixed surface); None for tissue that deforms."""
        return np.zeros((0, 3)) if self.fixed else None

    def clearance(self, p0: np.ndarray, p1: np.ndarray) -> tuple[float, np.ndarray | None]:
        """A lower bound [m] of the distance from segment ``p0``-``p1`` to the surface, and the segment's distance to
        each vertex when they were needed for it (:meth:`nearest_within` takes them)."""
        gaps = np.maximum(np.maximum(self.low - np.maximum(p0, p1), np.minimum(p0, p1) - self.high), 0.0)
        bound = float(np.max(gaps))  # the gap between the segment's box and the surface's box along one axis
        if bound > _BOX_GAP_ENOUGH_M:
            return bound, None
        # Near the box, which a curved vessel mostly leaves empty, the vertices give a tighter bound that lets the
        # caller skip the next ticks: every point of a triangle lies within its longest edge of each of its corners.
        distances = segment_point_distances(p0, p1, self.vertices)
        return max(bound, float(distances.min()) - self.max_edge), distances

    def nearest_within(self, p0: np.ndarray, p1: np.ndarray, reach: float,
                       hint: np.ndarray | None = None) -> np.ndarray | None:
        distances = hint  # the segment's distance to each vertex, when clearance() computed them
        # Samples are convex combinations of vertices, so nothing lies outside the vertices' bounding box.
        if np.any(np.minimum(p0, p1) > self.high + reach) or np.any(np.maximum(p0, p1) < self.low - reach):
            return None
        if distances is None:
            distances = segment_point_distances(p0, p1, self.vertices)
        best = int(np.argmin(distances))
        # Every point of a triangle lies within the triangle's longest edge of each of its corners.
        if distances[best] > reach + self.max_edge:
            return None
        best_distance, best_point = float(distances[best]), self.vertices[best]
        candidates = distances[self.triangles].min(axis=1) <= reach + self.longest_edges
        chosen = candidates[self.sample_triangle]
        if chosen.any():
            if self.sample_positions is not None:
                samples = self.sample_positions[chosen]
            else:
                corners = self.vertices[self.triangles[self.sample_triangle[chosen]]]
                samples = np.einsum("kj,kjd->kd", self.sample_weights[chosen], corners)
            sample_distances = segment_point_distances(p0, p1, samples)
            nearest = int(np.argmin(sample_distances))
            if sample_distances[nearest] < best_distance:
                best_distance, best_point = float(sample_distances[nearest]), samples[nearest]
        return np.array(best_point) if best_distance <= reach else None


@dataclass(frozen=True)
class Ball:
    center: np.ndarray
    radius_m: float

    def motion_points(self) -> np.ndarray:
        return self.center[None]

    def clearance(self, p0: np.ndarray, p1: np.ndarray) -> tuple[float, None]:
        on_segment = closest_on_segment(p0, p1, self.center[None])[0]
        return max(0.0, math.dist(on_segment, self.center) - self.radius_m), None

    def nearest_within(self, p0: np.ndarray, p1: np.ndarray, reach: float, hint=None) -> np.ndarray | None:
        on_segment = closest_on_segment(p0, p1, self.center[None])[0]
        return _nearest_of_ball(self.center, self.radius_m, on_segment, reach)


@dataclass(frozen=True)
class Tube:
    """A capsule: the points within ``radius_m`` of the segment ``start``-``end``."""

    start: np.ndarray
    end: np.ndarray
    radius_m: float

    def motion_points(self) -> np.ndarray:
        return np.array((self.start, self.end))  # np.stack's argument checks cost 4x the copy (every zone, every tick)

    def clearance(self, p0: np.ndarray, p1: np.ndarray) -> tuple[float, None]:
        on_axis, on_segment = closest_points_of_segments(self.start, self.end, p0, p1)
        return max(0.0, math.dist(on_axis, on_segment) - self.radius_m), None

    def nearest_within(self, p0: np.ndarray, p1: np.ndarray, reach: float, hint=None) -> np.ndarray | None:
        on_axis, on_segment = closest_points_of_segments(self.start, self.end, p0, p1)
        return _nearest_of_ball(on_axis, self.radius_m, on_segment, reach)


@dataclass(frozen=True)
class AlignedBox:
    center: np.ndarray
    half_extents_m: np.ndarray

    def motion_points(self) -> None:
        return None  # sampled, not exact: no clearance to remember

    def nearest_within(self, p0: np.ndarray, p1: np.ndarray, reach: float, hint=None) -> np.ndarray | None:
        # The segment is sampled finely rather than solved exactly: the error is below the surface sampling's.
        count = max(2, int(math.ceil(np.linalg.norm(p1 - p0) / SURFACE_SAMPLE_SPACING_M)) + 1)
        points = p0 + np.linspace(0.0, 1.0, count)[:, None] * (p1 - p0)
        in_box = self.center + np.clip(points - self.center, -self.half_extents_m, self.half_extents_m)
        distances = np.linalg.norm(points - in_box, axis=1)
        nearest = int(np.argmin(distances))
        return in_box[nearest] if distances[nearest] <= reach else None


def _nearest_of_ball(center: np.ndarray, radius: float, point: np.ndarray, reach: float) -> np.ndarray | None:
    """The point of the ball (``center``, ``radius``) nearest to ``point``, if within ``reach`` of it."""
    offset = point - center
    distance = float(np.linalg.norm(offset))
    if distance - radius > reach:
        return None
    if distance <= radius:
        return point.copy()
    return center + offset * (radius / distance)


def capsule_contact(shape: Shape, capsules, margin_m: float, clearances: dict | None = None) -> np.ndarray | None:
    """The point of ``shape`` touched by the first of ``capsules`` [(p0, p1, radius)] [m] that comes within its radius
    + ``margin_m`` of it, or None.

    ``clearances``: a dict kept by the caller between ticks for one instrument and one region, so that a capsule far
    from the shape skips the exact test (see :func:`capsules_contact`).
    """
    if clearances is None:
        for p0, p1, radius in capsules:
            point = shape.nearest_within(np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64),
                                         float(radius) + margin_m)
            if point is not None:
                return point
        return None
    ends = np.array([(p0, p1) for p0, p1, _ in capsules], dtype=np.float64).reshape(len(capsules), 2, 3)
    reach = np.array([float(radius) for _, _, radius in capsules]) + margin_m
    return capsules_contact(shape, ends, reach, [slice(0, len(capsules))], clearances)[0]


def capsules_contact(shape: Shape, ends: np.ndarray, reach: np.ndarray, groups: list[slice],
                     clearances: dict) -> list[np.ndarray | None]:
    """For each of ``groups`` (rows of ``ends`` [C, 2, 3] and ``reach`` [C] [m]: one instrument's capsules, in order),
    the point of ``shape`` that the group's first capsule reaching it touches, or None.

    ``clearances``: a dict kept by the caller between ticks for one region and the same table of capsules. It
    remembers, per row, where the capsule and the shape's :meth:`~Shape.motion_points` were when the shape's
    clearance from the capsule was measured. No point of a segment moves farther than its farther end, and no point of
    the shape farther than its farthest motion point, so while the two have moved less in total than the clearance
    minus the reach, the capsule cannot touch the shape and the exact test is skipped: a forbidden organ or vessel far
    from the tools costs one array expression per tick for all the instruments' capsules. (The bound holds whichever
    capsule a row held before: every point of the row's segment now lies within its farther end's move of the
    remembered segment.) Shapes without a motion bound (deforming tissue surfaces) are tested exactly every time.
    """
    anchors = shape.motion_points()
    if anchors is None:
        found = []
        for group in groups:
            point = None
            for k in range(group.start, group.stop):
                point = shape.nearest_within(ends[k, 0], ends[k, 1], float(reach[k]))
                if point is not None:
                    break
            found.append(point)
        return found
    memory = clearances.get("bounds")
    if memory is None or memory[1].shape != ends.shape or memory[0].shape[1:] != anchors.shape:
        # (anchors, capsule ends, clearance) per row when last measured; -inf: never measured
        memory = (np.zeros((len(ends),) + anchors.shape), np.zeros_like(ends), np.full(len(ends), -np.inf))
        clearances["bounds"] = memory
    was, ends_was, clearance = memory
    shape_moved = (np.sqrt(((anchors - was) ** 2).sum(axis=2).max(axis=1)) if len(anchors)
                   else np.zeros(len(ends)))
    capsule_moved = np.sqrt(((ends - ends_was) ** 2).sum(axis=2).max(axis=1))
    maybe = clearance - capsule_moved - shape_moved <= reach
    found = []
    for group in groups:
        point = None
        for k in np.flatnonzero(maybe[group]) + group.start:
            p0, p1 = ends[k]
            measured, hint = shape.clearance(p0, p1)
            was[k], ends_was[k], clearance[k] = anchors, ends[k], measured
            if measured > reach[k]:
                continue
            point = shape.nearest_within(p0, p1, float(reach[k]), hint)
            if point is not None:
                break
        found.append(point)
    return found


# -- region geometry: shapes that move with the tissue ----------------------------------------------------------------
class RegionGeometry(Protocol):
    def placed(self, positions: np.ndarray) -> Shape:
        """The region's shape when the tissue's nodes are at ``positions`` [N, 3] [m]."""


class SurfacePatch:
    """A piece of surface: vertices and the triangles over them (local vertex indices, outward).

    ``vertex_nodes``: the tissue node id of each vertex, so that the patch moves with the tissue; without it the
    vertices stay at ``rest_vertices_m`` (rigid anatomy). A patch may have no triangles (a region of interior nodes):
    then only its vertices count.
    """

    def __init__(
        self,
        triangles: np.ndarray,
        *,
        rest_vertices_m: np.ndarray,
        vertex_nodes: np.ndarray | None = None,
        spacing_m: float = SURFACE_SAMPLE_SPACING_M,
    ):
        self.vertex_nodes = None if vertex_nodes is None else np.asarray(vertex_nodes, dtype=np.int64)
        self.rest_vertices_m = np.asarray(rest_vertices_m, dtype=np.float64)
        self.triangles = np.asarray(triangles, dtype=np.int64).reshape(-1, 3)
        self.sample_triangle, self.sample_weights = _triangle_samples(self.rest_vertices_m, self.triangles, spacing_m)
        self._fixed: Surface | None = None
        if self.vertex_nodes is None:
            corners = self.rest_vertices_m[self.triangles[self.sample_triangle]]
            self._fixed = Surface(
                self.rest_vertices_m, self.triangles, self.sample_triangle, self.sample_weights,
                sample_positions=np.einsum("kj,kjd->kd", self.sample_weights, corners),
            )

    def placed(self, positions: np.ndarray) -> Surface:
        if self._fixed is not None:
            return self._fixed
        return Surface(positions[self.vertex_nodes], self.triangles, self.sample_triangle, self.sample_weights)


def _triangle_samples(vertices: np.ndarray, triangles: np.ndarray, spacing_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Barycentric grid samples of each triangle, ``k`` divisions per edge with ``k`` = its longest edge / spacing
    (rounded up): (triangle index [P], weights [P, 3])."""
    if len(triangles) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 3))
    corners = vertices[triangles]
    longest = np.max(np.linalg.norm(corners - np.roll(corners, 1, axis=1), axis=2), axis=1)
    divisions = np.maximum(1, np.ceil(longest / spacing_m)).astype(np.int64)
    owners, weights = [], []
    for k in np.unique(divisions):
        i, j = np.meshgrid(np.arange(k + 1), np.arange(k + 1), indexing="ij")
        keep = i + j <= k
        grid = np.column_stack([i[keep], j[keep], k - i[keep] - j[keep]]) / k
        members = np.flatnonzero(divisions == k)
        owners.append(np.repeat(members, len(grid)))
        weights.append(np.tile(grid, (len(members), 1)))
    return np.concatenate(owners), np.concatenate(weights)


@dataclass(frozen=True, eq=False)
class SphereVolume:
    center: Embedding
    radius_m: float

    def placed(self, positions: np.ndarray) -> Ball:
        return Ball(self.center.position(positions), self.radius_m)


@dataclass(frozen=True, eq=False)
class CapsuleVolume:
    start: Embedding
    end: Embedding
    radius_m: float

    def placed(self, positions: np.ndarray) -> Tube:
        return Tube(self.start.position(positions), self.end.position(positions), self.radius_m)


@dataclass(frozen=True, eq=False)
class BoxVolume:
    """An axis-aligned box of ``half_extents_m`` about an embedded centre: it moves with the tissue, it does not
    turn."""

    center: Embedding
    half_extents_m: np.ndarray

    def placed(self, positions: np.ndarray) -> AlignedBox:
        return AlignedBox(self.center.position(positions), self.half_extents_m)
