"""The tissue's surface after cuts: TetBoundary gives what boundary_triangles gives, for any set of live tets."""

from __future__ import annotations

import numpy as np
import pytest

from surgsim.mesh.build import TetBoundary
from surgsim.mesh.primitives import tet_block

FACES = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])


def boundary_by_sorting(positions, tets):
    """The reference: faces seen once among all the tets' sorted faces, wound away from their tet's fourth vertex,
    in lexicographic order (what the importer did before TetBoundary)."""
    faces = tets[:, FACES].reshape(-1, 3)
    opposite = tets.reshape(-1)
    _, inverse, counts = np.unique(np.sort(faces, axis=1), axis=0, return_inverse=True, return_counts=True)
    once = counts[inverse.reshape(-1)] == 1
    faces, opposite = faces[once], opposite[once]
    a, b, c = (positions[faces[:, k]] for k in range(3))
    inward = np.einsum("ij,ij->i", np.cross(b - a, c - a), positions[opposite] - a) > 0
    faces[inward] = faces[inward][:, [0, 2, 1]]
    return faces[np.lexsort((faces[:, 2], faces[:, 1], faces[:, 0]))]


@pytest.mark.parametrize("divisions", [(6, 5, 4), (12, 3, 1)])
def test_boundary_of_live_tets_matches_a_full_rebuild(divisions):
    model = tet_block((0.06, 0.05, 0.04), divisions)
    boundary = TetBoundary(model.positions, model.tets)
    rng = np.random.default_rng(7)
    alive = np.ones(model.tet_count, dtype=bool)
    assert np.array_equal(boundary.faces(alive), model.surface_triangles)
    while alive.sum() > 1:
        alive[rng.choice(np.flatnonzero(alive), max(1, int(alive.sum()) // 5), replace=False)] = False
        expected = boundary_by_sorting(model.positions, model.tets[alive])
        got = boundary.faces(alive)
        assert got.dtype == expected.dtype
        assert np.array_equal(got, expected)


def test_a_removed_tet_opens_its_inner_faces():
    model = tet_block((0.03, 0.03, 0.03), (3, 3, 3))
    boundary = TetBoundary(model.positions, model.tets)
    alive = np.ones(model.tet_count, dtype=bool)
    before = len(boundary.faces(alive))
    # A tet in the middle cube touches no outer face: removing it turns its four faces into surface.
    centre = np.flatnonzero(np.all(np.abs(model.positions[model.tets].mean(axis=1) - 0.015) < 0.005, axis=1))[0]
    alive[centre] = False
    assert len(boundary.faces(alive)) == before + 4
