"""The tissue surface that broken springs open: each spring's share of the mesh's dual surface, in rest geometry.

A spring (a tet edge i→j) holds the tissue together across its *dual facet*: in every tet around the edge, the two
triangles joining the edge's midpoint, the centroids of the two faces that contain the edge and the tet's centroid
(the barycentric, or median, dual used by finite-volume codes). Its vector area ``S`` points from i towards j, and
over a whole mesh ``Σ S ⊗ (x_j − x_i) = V · I`` exactly (V the volume), which the tests check.

When springs break, the tissue opens along their facets. The facets of a tear through a mesh zigzag along the
cells (summing their areas overstates a straight tear by 25–65 % on a block), while the tear they stand for is a
surface across the tissue. So the *opened area* of one set of springs broken together is their facets projected
onto the tear's plane: ``Σ |S · n|`` with ``n`` the facets' mean normal (each facet turned to face the same way
along the dominant axis of ``Σ S Sᵀ``, then summed). A block torn straight across gives its cross-section (exactly on a regular mesh, within the cells'
jitter on an irregular one); a single spring gives its facet's area. Areas are in the model's rest geometry: the
tissue that was torn, not how far it was stretched when it tore.
"""

from __future__ import annotations

import numpy as np

from surgsim.mesh.build import _TET_EDGES, tet_spring_ids
from surgsim.mesh.model import TissueModel


def spring_dual_vectors(model: TissueModel) -> np.ndarray:
    """[S, 3] the vector area (m²) of each spring's dual facet at rest, oriented from ``springs[:, 0]`` to
    ``springs[:, 1]``."""
    positions, tets = model.positions, model.tets
    spring_ids = tet_spring_ids(model)
    centroids = positions[tets].mean(axis=1)
    ids, pieces = [], []
    for edge, (a, b) in enumerate(_TET_EDGES):
        start, end = positions[tets[:, a]], positions[tets[:, b]]
        midpoint = 0.5 * (start + end)
        facet = np.zeros((len(tets), 3))
        for c in (k for k in range(4) if k not in (a, b)):
            face_centroid = (start + end + positions[tets[:, c]]) / 3.0
            triangle = 0.5 * np.cross(face_centroid - midpoint, centroids - midpoint)
            # The two triangles' normals point to either side of the edge; turn both along a → b.
            along = np.einsum("ij,ij->i", triangle, end - start)
            facet += np.where(along[:, None] < 0.0, -triangle, triangle)
        forward = tets[:, a] == model.springs[spring_ids[:, edge], 0]
        ids.append(spring_ids[:, edge])
        pieces.append(np.where(forward[:, None], facet, -facet))
    ids, pieces = np.concatenate(ids), np.concatenate(pieces)
    return np.column_stack([np.bincount(ids, weights=pieces[:, axis], minlength=model.spring_count)
                            for axis in range(3)])


def opened_area_m2(dual_vectors: np.ndarray) -> float:
    """The area (m²) that the springs whose dual vectors are ``dual_vectors`` [N, 3] open when they break together:
    their facets projected onto their dominant plane (see the module's docstring)."""
    vectors = np.asarray(dual_vectors, dtype=np.float64).reshape(-1, 3)
    if len(vectors) == 0:
        return 0.0
    _, axes = np.linalg.eigh(vectors.T @ vectors)
    # The facets' dominant axis, then their mean normal once they all face the same way along it.
    facing = vectors * np.where(vectors @ axes[:, -1] < 0.0, -1.0, 1.0)[:, None]
    total = facing.sum(axis=0)
    normal = total / np.linalg.norm(total) if np.linalg.norm(total) > 0.0 else axes[:, -1]
    return float(np.abs(vectors @ normal).sum())


class OpenedAreas:
    """The area each tissue-dividing event opened, from the springs that went inactive since the last one.

    ``opened(active)`` takes the tissue's live-spring mask after a tick and returns the area (m²) of the springs that
    were live at the previous call (or at construction) and are not any more. The dual facets are computed on first
    use: sessions that never divide tissue never pay for them."""

    def __init__(self, model: TissueModel, active: np.ndarray):
        self._model = model
        self._active = np.array(active, dtype=bool, copy=True)
        self._vectors: np.ndarray | None = None

    def opened(self, active: np.ndarray) -> tuple[float, int]:
        """(area in m², springs) opened since the last call."""
        active = np.asarray(active, dtype=bool)
        broken = np.flatnonzero(self._active & ~active)
        self._active = active.copy()
        if len(broken) == 0:
            return 0.0, 0
        if self._vectors is None:
            self._vectors = spring_dual_vectors(self._model)
        return opened_area_m2(self._vectors[broken]), len(broken)
