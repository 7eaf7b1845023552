"""Shape quality of a tetrahedral mesh: dihedral angles, edge-length ratios, spring lengths.

Small dihedral angles (slivers) and short springs limit the stable time step of an explicit mass-spring solver, so
``surgsim mesh info`` shows them next to the counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from surgsim.mesh.model import TissueModel

# A tet's six edges (vertex pairs) and, for each, the two vertices of the opposite edge: the dihedral angle at edge
# (a, b) is the angle between the faces (a, b, c) and (a, b, d).
_EDGES = np.array([[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]])
_OPPOSITE = np.array([[2, 3], [1, 3], [1, 2], [0, 3], [0, 2], [0, 1]])


@dataclass(frozen=True)
class MeshQuality:
    """Worst and typical shape figures of a mesh; angles in degrees, lengths in metres."""

    min_dihedral_deg: float
    max_dihedral_deg: float
    shortest_spring_m: float
    longest_spring_m: float
    median_edge_ratio: float
    worst_edge_ratio: float


def dihedral_angles_deg(positions: np.ndarray, tets: np.ndarray) -> np.ndarray:
    """The six interior dihedral angles of every tet [M, 6], degrees (70.53° for a regular tet)."""
    p = np.asarray(positions, dtype=np.float64)[np.asarray(tets)]
    a, b = p[:, _EDGES[:, 0]], p[:, _EDGES[:, 1]]
    c, d = p[:, _OPPOSITE[:, 0]], p[:, _OPPOSITE[:, 1]]
    axis = (b - a) / np.linalg.norm(b - a, axis=2, keepdims=True)

    def perpendicular_to_edge(v):
        return v - np.sum(v * axis, axis=2, keepdims=True) * axis

    u, w = perpendicular_to_edge(c - a), perpendicular_to_edge(d - a)
    cosine = np.sum(u * w, axis=2) / (np.linalg.norm(u, axis=2) * np.linalg.norm(w, axis=2))
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def edge_length_ratios(positions: np.ndarray, tets: np.ndarray) -> np.ndarray:
    """Longest over shortest edge of every tet [M] (1 for a regular tet)."""
    p = np.asarray(positions, dtype=np.float64)[np.asarray(tets)]
    lengths = np.linalg.norm(p[:, _EDGES[:, 1]] - p[:, _EDGES[:, 0]], axis=2)
    return lengths.max(axis=1) / lengths.min(axis=1)


def mesh_quality(model: TissueModel) -> MeshQuality:
    angles = dihedral_angles_deg(model.positions, model.tets)
    ratios = edge_length_ratios(model.positions, model.tets)
    return MeshQuality(
        min_dihedral_deg=float(angles.min()),
        max_dihedral_deg=float(angles.max()),
        shortest_spring_m=float(model.rest_lengths.min()),
        longest_spring_m=float(model.rest_lengths.max()),
        median_edge_ratio=float(np.median(ratios)),
        worst_edge_ratio=float(ratios.max()),
    )
