"""The surface that broken springs open (surgsim.mesh.opened_area), against geometry with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from surgsim.mesh.build import build_tissue_model
from surgsim.mesh.materials import material
from surgsim.mesh.opened_area import OpenedAreas, opened_area_m2, spring_dual_vectors
from surgsim.mesh.primitives import tet_block

SIDE_M = 0.1


def _block(divisions=(10, 10, 10), jitter=0.0, seed=0):
    """A cube of side 0.1 m; ``jitter`` moves every interior node by up to that share of a cell, at random."""
    block = tet_block((SIDE_M,) * 3, divisions)
    if jitter == 0.0:
        return block
    positions = block.positions.copy()
    interior = np.all((positions > 1e-9) & (positions < SIDE_M - 1e-9), axis=1)
    cell = SIDE_M / max(divisions)
    positions[interior] += np.random.default_rng(seed).uniform(-jitter, jitter, (interior.sum(), 3)) * cell
    return build_tissue_model(positions, block.tets, np.zeros(block.tet_count, dtype=np.int64), ["block"],
                              [material("generic")])


@pytest.mark.parametrize("jitter", [0.0, 0.25])
def test_the_dual_facets_tile_the_volume(jitter):
    """Σ S ⊗ (x_j − x_i) = V · I for the median dual of any tet mesh (each tet's pieces sum to its volume)."""
    model = _block((6, 5, 4), jitter)
    vectors = spring_dual_vectors(model)
    edges = model.positions[model.springs[:, 1]] - model.positions[model.springs[:, 0]]
    tensor = np.einsum("si,sj->ij", vectors, edges)
    np.testing.assert_allclose(tensor, model.volume() * np.eye(3), atol=1e-12 * model.volume() / 1e-3)


def _crossing(model, axis: int, at_m: float) -> np.ndarray:
    below = model.positions[:, axis] < at_m
    return np.flatnonzero(below[model.springs[:, 0]] != below[model.springs[:, 1]])


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_a_block_torn_straight_across_opens_its_cross_section(axis):
    model = _block()
    torn = _crossing(model, axis, 0.0437)
    area = opened_area_m2(spring_dual_vectors(model)[torn])
    assert area == pytest.approx(SIDE_M**2, rel=1e-9)
    # The facets themselves zigzag along the cells: half as much again as the tear they stand for.
    assert np.linalg.norm(spring_dual_vectors(model)[torn], axis=1).sum() > 1.4 * SIDE_M**2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_on_an_irregular_mesh_the_cross_section_within_the_cells_jitter(seed):
    model = _block((12, 10, 10), jitter=0.25, seed=seed)
    torn = _crossing(model, 0, 0.0521)
    area = opened_area_m2(spring_dual_vectors(model)[torn])
    assert SIDE_M**2 <= area <= 1.12 * SIDE_M**2


def test_half_a_tear_is_half_the_area_and_one_spring_its_facet():
    model = _block()
    vectors = spring_dual_vectors(model)
    torn = _crossing(model, 2, 0.0437)
    midpoints_x = model.positions[model.springs[torn]].mean(axis=1)[:, 0]
    halves = [torn[midpoints_x < 0.05], torn[midpoints_x >= 0.05]]
    areas = [opened_area_m2(vectors[half]) for half in halves]
    assert areas == [pytest.approx(0.5 * SIDE_M**2, rel=0.1)] * 2
    assert sum(areas) == pytest.approx(SIDE_M**2, rel=0.01)
    assert opened_area_m2(vectors[torn[:1]]) == pytest.approx(np.linalg.norm(vectors[torn[0]]))
    assert opened_area_m2(vectors[:0]) == 0.0


def test_opened_areas_count_each_spring_once_when_it_goes():
    model = _block((4, 4, 4))
    active = np.ones(model.spring_count, dtype=bool)
    areas = OpenedAreas(model, active)
    torn = _crossing(model, 0, 0.0437)
    first, second = torn[: len(torn) // 2], torn[len(torn) // 2:]
    active[first] = False
    area, springs = areas.opened(active)
    assert springs == len(first) and area == pytest.approx(opened_area_m2(spring_dual_vectors(model)[first]))
    assert areas.opened(active) == (0.0, 0)  # nothing new
    active[second] = False
    assert areas.opened(active)[1] == len(second)
