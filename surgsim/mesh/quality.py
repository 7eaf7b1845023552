"""Shape quality of a tetrahedral mesh: dihedral angles, edge-length ratios, spring lengths, and the goals.

Small dihedral angles (slivers) fold under load and stiffen or soften the springs around them, and springs much
longer than the rest cut across the organ, so ``surgsim mesh info`` shows these figures next to the counts and flags
the elements that miss the goals (:data:`MIN_DIHEDRAL_GOAL_DEG`, :data:`MAX_SPRING_OVER_MEDIAN_GOAL`). The import
checks its own meshes against the same goals (:func:`check_generated_mesh`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from surgsim.errors import InputError
from surgsim.mesh.model import TissueModel

LOG = logging.getLogger(__name__)

# Quality goals of issue 12 for every mesh the import makes.
MIN_DIHEDRAL_GOAL_DEG = 10.0
MAX_SPRING_OVER_MEDIAN_GOAL = 3.0
# A tet with a dihedral angle below this is nearly flat: the slightest load turns it inside out, so an import that
# cannot do better refuses the surface instead of handing the solver a model that inverts.
INVERTING_DIHEDRAL_DEG = 1.0
# How many of the worst elements a warning or `mesh info` names.
WORST_NAMED = 5

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
    median_spring_m: float = float("nan")
    tets_below_dihedral_goal: int = 0
    springs_over_length_goal: int = 0

    @property
    def longest_spring_over_median(self) -> float:
        return self.longest_spring_m / self.median_spring_m

    @property
    def meets_goals(self) -> bool:
        return self.tets_below_dihedral_goal == 0 and self.springs_over_length_goal == 0


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
    median_spring = float(np.median(model.rest_lengths))
    return MeshQuality(
        min_dihedral_deg=float(angles.min()),
        max_dihedral_deg=float(angles.max()),
        shortest_spring_m=float(model.rest_lengths.min()),
        longest_spring_m=float(model.rest_lengths.max()),
        median_edge_ratio=float(np.median(ratios)),
        worst_edge_ratio=float(ratios.max()),
        median_spring_m=median_spring,
        tets_below_dihedral_goal=int(np.count_nonzero(angles.min(axis=1) < MIN_DIHEDRAL_GOAL_DEG)),
        springs_over_length_goal=int(
            np.count_nonzero(model.rest_lengths > MAX_SPRING_OVER_MEDIAN_GOAL * median_spring)
        ),
    )


@dataclass(frozen=True)
class QualityShortfall:
    """The elements of a mesh that miss the goals, worst first: tet ids with their smallest dihedral angle (degrees),
    and edges (node pairs) with their length over the median edge length."""

    tets: np.ndarray
    tet_min_dihedral_deg: np.ndarray
    edges: np.ndarray
    edge_over_median: np.ndarray

    def __bool__(self) -> bool:
        return len(self.tets) > 0 or len(self.edges) > 0

    def describe(self, positions: np.ndarray, tets: np.ndarray) -> str:
        """One line naming the worst elements by id, angle or length, and where they are (centres in mm)."""
        parts = []
        if len(self.tets):
            named = ", ".join(
                f"tet {t} ({angle:.1f}° at {_mm(positions[tets[t]].mean(axis=0))} mm)"
                for t, angle in zip(self.tets[:WORST_NAMED], self.tet_min_dihedral_deg[:WORST_NAMED])
            )
            parts.append(
                f"{len(self.tets)} tets have a dihedral angle below {MIN_DIHEDRAL_GOAL_DEG:g}°, the worst {named}"
            )
        if len(self.edges):
            named = ", ".join(
                f"nodes {a}-{b} ({ratio:.1f}×)"
                for (a, b), ratio in zip(self.edges[:WORST_NAMED], self.edge_over_median[:WORST_NAMED])
            )
            parts.append(
                f"{len(self.edges)} springs are longer than {MAX_SPRING_OVER_MEDIAN_GOAL:g}× the median, the worst "
                f"{named}"
            )
        return "; ".join(parts)


def quality_shortfall(positions: np.ndarray, tets: np.ndarray) -> QualityShortfall:
    """The tets and edges of a tet mesh that miss :data:`MIN_DIHEDRAL_GOAL_DEG` and :data:`MAX_SPRING_OVER_MEDIAN_GOAL`."""
    positions, tets = np.asarray(positions, dtype=np.float64), np.asarray(tets)
    smallest = dihedral_angles_deg(positions, tets).min(axis=1)
    bad_tets = np.flatnonzero(smallest < MIN_DIHEDRAL_GOAL_DEG)
    bad_tets = bad_tets[np.argsort(smallest[bad_tets], kind="stable")]
    edges = np.unique(np.sort(tets[:, _EDGES].reshape(-1, 2), axis=1), axis=0)
    lengths = np.linalg.norm(positions[edges[:, 1]] - positions[edges[:, 0]], axis=1)
    over_median = lengths / np.median(lengths)
    long_edges = np.flatnonzero(over_median > MAX_SPRING_OVER_MEDIAN_GOAL)
    long_edges = long_edges[np.argsort(-over_median[long_edges], kind="stable")]
    return QualityShortfall(bad_tets, smallest[bad_tets], edges[long_edges], over_median[long_edges])


def check_generated_mesh(
    positions: np.ndarray, tets: np.ndarray, *, source: str | Path, refuse_inverting: bool = True
) -> None:
    """Warn naming the worst elements when a mesh misses the quality goals; InputError when the import made it and
    some tet is so flat (:data:`INVERTING_DIHEDRAL_DEG`) that it would invert under the first load.

    ``refuse_inverting=False`` for the user's own tets, which the import uses as they are: only the warning."""
    shortfall = quality_shortfall(positions, tets)
    if not shortfall:
        return
    description = shortfall.describe(positions, tets)
    flattest = shortfall.tet_min_dihedral_deg[0] if len(shortfall.tets) else 180.0
    if refuse_inverting and flattest < INVERTING_DIHEDRAL_DEG:
        raise InputError(
            source,
            f"no well-shaped tetrahedral mesh could be made of this surface: {description}. Tets that flat invert "
            "under the first load; smooth or repair the surface (e.g. remove thin slivers and spikes) and import it "
            "again.",
        )
    LOG.warning(
        "%s: the mesh misses the quality goals (the best reached): %s.", Path(str(source)).name, description
    )


def _mm(point_m: np.ndarray) -> str:
    return ", ".join(f"{v * 1e3:.1f}" for v in point_m)
