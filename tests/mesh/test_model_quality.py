"""Mesh quality figures (surgsim.mesh.quality) on shapes whose angles are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from surgsim.mesh.primitives import tet_block
from surgsim.mesh.quality import dihedral_angles_deg, edge_length_ratios, mesh_quality

REGULAR_TET = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=float)
CORNER_TET = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)


def test_regular_tet_has_all_dihedral_angles_arccos_one_third():
    angles = dihedral_angles_deg(REGULAR_TET, np.array([[0, 1, 2, 3]]))
    assert angles == pytest.approx(np.full((1, 6), math.degrees(math.acos(1 / 3))))
    assert edge_length_ratios(REGULAR_TET, np.array([[0, 1, 2, 3]])) == pytest.approx([1.0])


def test_corner_tet_has_three_right_angles_and_three_of_arccos_one_over_root_three():
    angles = np.sort(dihedral_angles_deg(CORNER_TET, np.array([[0, 1, 2, 3]]))[0])
    expected = np.sort([90, 90, 90] + [math.degrees(math.acos(1 / math.sqrt(3)))] * 3)
    assert angles == pytest.approx(expected)
    assert edge_length_ratios(CORNER_TET, np.array([[0, 1, 2, 3]])) == pytest.approx([math.sqrt(2)])


def test_angles_do_not_depend_on_vertex_order():
    forward = dihedral_angles_deg(CORNER_TET, np.array([[0, 1, 2, 3]]))
    reversed_order = dihedral_angles_deg(CORNER_TET, np.array([[3, 2, 1, 0]]))
    assert np.sort(forward) == pytest.approx(np.sort(reversed_order))


def test_mesh_quality_of_a_cube_block():
    # Kuhn cubes of side 1 cm: springs of 1, √2 and √3 cm; every tet is a cube orthoscheme, with dihedral angles
    # of 90° (three), 60° (one) and 45° (two).
    model = tet_block(size_m=(0.02, 0.01, 0.01), divisions=(2, 1, 1))
    quality = mesh_quality(model)
    assert quality.shortest_spring_m == pytest.approx(0.01)
    assert quality.longest_spring_m == pytest.approx(0.01 * math.sqrt(3))
    assert quality.min_dihedral_deg == pytest.approx(45.0)
    assert quality.max_dihedral_deg == pytest.approx(90.0)
    assert quality.worst_edge_ratio == pytest.approx(math.sqrt(3))
