"""From a tetrahedral mesh with region ids to a :class:`TissueModel`: springs, masses, surface, materials."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from surgsim import __version__
from surgsim.mesh.materials import Material
from surgsim.mesh.model import MATERIAL_PROPERTIES, TissueModel

# Local vertex indices of a tet's six edges and of its four faces, each face paired with the vertex opposite it.
_TET_EDGES = np.array([[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]])
_TET_FACES = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])
_TET_OPPOSITE = np.array([0, 1, 2, 3])


def signed_tet_volumes(positions: np.ndarray, tets: np.ndarray) -> np.ndarray:
    p = positions[tets]
    return np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0]) / 6.0


def orient_tets(positions: np.ndarray, tets: np.ndarray) -> np.ndarray:
    """Swap two vertices of every negatively oriented tet so that all signed volumes are positive."""
    tets = np.array(tets, dtype=np.int64, copy=True)
    negative = signed_tet_volumes(positions, tets) < 0
    tets[negative, 2], tets[negative, 3] = tets[negative, 3], tets[negative, 2].copy()
    return tets


def tet_spring_ids(model: TissueModel) -> np.ndarray:
    """[M, 6] the spring id of each edge of each tet of ``model`` (its springs are the sorted unique tet edges)."""
    n = np.int64(model.node_count)
    edges = np.sort(model.tets[:, _TET_EDGES].reshape(-1, 2).astype(np.int64), axis=1)
    keys = model.springs[:, 0].astype(np.int64) * n + model.springs[:, 1]
    return np.searchsorted(keys, edges[:, 0] * n + edges[:, 1]).reshape(-1, 6)


def unique_edges(tets: np.ndarray, tet_region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique tet edges as sorted ``i < j`` pairs, and for each the lowest region id among the tets sharing it."""
    edges = np.sort(tets[:, _TET_EDGES].reshape(-1, 2), axis=1)
    edge_region = np.repeat(tet_region, 6)
    order = np.lexsort((edge_region, edges[:, 1], edges[:, 0]))
    edges, edge_region = edges[order], edge_region[order]
    first = np.ones(len(edges), dtype=bool)
    first[1:] = np.any(edges[1:] != edges[:-1], axis=1)
    return edges[first], edge_region[first]


def boundary_triangles(positions: np.ndarray, tets: np.ndarray) -> np.ndarray:
    """Faces that belong to exactly one tet, wound so that their normals point out of that tet, in lexicographic
    order (a stable order keeps saved models byte-identical between runs)."""
    tets = np.asarray(tets)
    return TetBoundary(positions, tets).faces(np.ones(len(tets), dtype=bool))


class TetBoundary:
    """The boundary faces of any subset of one mesh's tets, as :func:`boundary_triangles` gives them (same faces,
    winding and order), in a few vectorised passes over the tets instead of a sort of every face.

    Why: a cut or a tear removes a handful of tets, and the tissue's surface must follow on that tick. Sorting all
    face keys again (``np.unique`` over 4 M faces) cost ~45 ms on a 4,000-node scene: a frame lost to every cut.
    Here each face slot's shared-face id, outward winding and place in the final order are found once.
    """

    def __init__(self, positions: np.ndarray, tets: np.ndarray):
        tets = np.asarray(tets)
        self._dtype = tets.dtype
        positions = np.asarray(positions)
        faces = tets[:, _TET_FACES].reshape(-1, 3)
        opposite = tets[:, _TET_OPPOSITE].reshape(-1)
        _, self._face_id = np.unique(np.sort(faces, axis=1), axis=0, return_inverse=True)
        self._face_id = self._face_id.reshape(-1)
        a, b, c = (positions[faces[:, k]] for k in range(3))
        inward = np.einsum("ij,ij->i", np.cross(b - a, c - a), positions[opposite] - a) > 0
        faces[inward] = faces[inward][:, [0, 2, 1]]
        order = np.lexsort((faces[:, 2], faces[:, 1], faces[:, 0]))
        self._sorted_faces = faces[order]
        self._sorted_slots = order
        self._face_count = int(self._face_id.max()) + 1 if len(self._face_id) else 0

    def faces(self, alive: np.ndarray) -> np.ndarray:
        """[F, 3] the outward boundary faces of the tets where ``alive`` [M] is True, in :func:`boundary_triangles`'
        order."""
        slot_alive = np.repeat(np.asarray(alive, dtype=bool), 4)
        counts = np.bincount(self._face_id[slot_alive], minlength=self._face_count)
        on_boundary = slot_alive & (counts[self._face_id] == 1)
        return self._sorted_faces[on_boundary[self._sorted_slots]].astype(self._dtype, copy=False)


def build_tissue_model(
    positions: np.ndarray,
    tets: np.ndarray,
    tet_region: np.ndarray,
    region_names: Sequence[str],
    region_materials: Sequence[Material],
    region_labels: Sequence[int] | None = None,
    metadata: dict | None = None,
) -> TissueModel:
    """Assemble a :class:`TissueModel` from tets [M, 4] over ``positions`` [N, 3] (metres).

    Nodes that no tet uses are dropped. Degenerate tets (zero volume) are refused by the caller's mesher; here they
    raise ``ValueError`` because the lumped masses would be wrong.
    """
    positions = np.asarray(positions, dtype=np.float64)
    tets = np.asarray(tets, dtype=np.int64)
    tet_region = np.asarray(tet_region, dtype=np.int64)
    if len(tets) == 0:
        raise ValueError("a tissue model needs at least one tetrahedron")

    used, tets = np.unique(tets, return_inverse=True)
    tets = tets.reshape(-1, 4)
    positions = positions[used]
    tets = orient_tets(positions, tets)
    volumes = signed_tet_volumes(positions, tets)
    if np.any(volumes <= 0):
        raise ValueError(f"{int(np.sum(volumes <= 0))} tetrahedra have zero volume")

    densities = np.array([m.density_kg_m3 for m in region_materials])
    masses = np.zeros(len(positions))
    np.add.at(masses, tets.reshape(-1), np.repeat(densities[tet_region] * volumes / 4.0, 4))

    springs, spring_region = unique_edges(tets, tet_region)
    rest_lengths = np.linalg.norm(positions[springs[:, 1]] - positions[springs[:, 0]], axis=1)

    node_region = np.full(len(positions), np.iinfo(np.int64).max)
    np.minimum.at(node_region, tets.reshape(-1), np.repeat(tet_region, 4))

    surface = boundary_triangles(positions, tets)
    labels = list(region_labels) if region_labels is not None else [-1] * len(region_names)
    meta = {"surgsim_version": __version__}
    meta.update(metadata or {})
    return TissueModel(
        positions=positions,
        tets=tets,
        springs=springs,
        rest_lengths=rest_lengths,
        masses=masses,
        surface_triangles=surface,
        surface_nodes=np.unique(surface),
        node_region=node_region,
        tet_region=tet_region,
        spring_region=spring_region,
        region_names=tuple(region_names),
        region_labels=np.array(labels),
        region_materials={p: np.array([getattr(m, p) for m in region_materials]) for p in MATERIAL_PROPERTIES},
        metadata=meta,
    )
