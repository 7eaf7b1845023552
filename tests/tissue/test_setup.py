"""Options, layout, stiffness and damping mapping, selection (numpy only, no Taichi)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from surgsim.errors import InputError
from surgsim.mesh.build import build_tissue_model
from surgsim.mesh.materials import material
from surgsim.mesh.primitives import tet_block
from surgsim.tissue.layout import SolverModel
from surgsim.tissue.options import SolverOptions
from surgsim.tissue.selection import nodes_in_box, select_nodes
from surgsim.tissue.stiffness import rayleigh_coefficients, spring_stiffness, spring_volumes


def test_options_reject_unknown_keys_and_bad_values():
    with pytest.raises(InputError, match="substep"):
        SolverOptions.parse({"substep": 2})
    with pytest.raises(InputError, match="iterations"):
        SolverOptions.parse(iterations=0)
    with pytest.raises(InputError, match="execution"):
        SolverOptions.parse(execution="gpu")
    opts = SolverOptions.parse({"iterations": 4}, dt=5e-4)
    assert (opts.iterations, opts.dt) == (4, 5e-4)
    with pytest.raises(Exception):
        opts.iterations = 3  # frozen


def test_csr_adjacency_lists_every_spring_twice_in_order():
    model = tet_block((0.03, 0.02, 0.02), (3, 2, 2))
    lay = SolverModel.build(model, SolverOptions())
    assert lay.csr_offsets[-1] == 2 * model.spring_count
    for i in range(model.node_count):
        lo, hi = lay.csr_offsets[i], lay.csr_offsets[i + 1]
        nbrs = lay.csr_neighbors[lo:hi]
        assert np.all(np.diff(nbrs) > 0)
        for j, s in zip(nbrs, lay.csr_springs[lo:hi]):
            assert sorted(model.springs[s]) == sorted((i, j))
    assert np.bincount(lay.csr_springs).tolist() == [2] * model.spring_count


def test_spring_stiffness_follows_the_van_gelder_mapping():
    model = tet_block((0.02, 0.02, 0.02), (2, 2, 2), tissue="liver")
    k = spring_stiffness(model, calibration=1.0)
    expected = 6.0e3 * spring_volumes(model) / model.rest_lengths**2
    assert np.allclose(k, expected)
    assert spring_volumes(model).sum() == pytest.approx(6 * model.volume())  # each tet has six edges
    assert np.allclose(spring_stiffness(model, calibration=2.0), 2.0 * k)


def test_per_region_material_sets_stiffness_and_damping():
    soft = tet_block((0.02, 0.02, 0.02), (2, 2, 2))
    positions = np.vstack([soft.positions, soft.positions + [0.0, 0.0, 0.02]])
    tets = np.vstack([soft.tets, soft.tets + soft.node_count])
    regions = np.repeat([0, 1], len(soft.tets))
    model = build_tissue_model(positions, tets, regions, ["liver", "vessel"], [material("liver"), material("vessel")])
    lay = SolverModel.build(model, SolverOptions(mass_scaling=0.0))
    ratio = lay.stiffness[model.spring_region == 1].mean() / lay.stiffness[model.spring_region == 0].mean()
    assert ratio == pytest.approx(300e3 / 6e3, rel=0.05)
    beta = lay.dashpot / lay.stiffness
    zeta = model.region_materials["damping_ratio"]
    assert beta[model.spring_region == 1].mean() / beta[model.spring_region == 0].mean() == pytest.approx(
        zeta[1] / zeta[0])


def test_rayleigh_damping_gives_the_requested_ratio_at_the_reference_frequency():
    for share in (0.0, 0.5, 0.9, 1.0):
        alpha, beta = rayleigh_coefficients(0.3, 4.0, share)
        omega = 2 * math.pi * 4.0
        assert alpha / (2 * omega) + beta * omega / 2 == pytest.approx(0.3)
        assert alpha / (2 * omega) == pytest.approx(0.3 * share)


def test_mass_scaling_only_touches_badly_shaped_elements():
    block = tet_block((0.05, 0.05, 0.05), (5, 5, 5), tissue="liver")
    assert SolverModel.build(block, SolverOptions()).added_mass == 0.0
    # a sliver-like node: almost no mass but ordinary springs (what tetgen slivers produce)
    masses = block.masses.copy()
    masses[40] *= 1e-6
    sliver = dataclasses.replace(block, masses=masses)
    lay = SolverModel.build(sliver, SolverOptions())
    assert 0.0 < lay.added_mass < 0.001 * block.masses.sum()
    assert lay.masses[40] > 100 * masses[40]
    assert np.array_equal(np.delete(lay.masses, 40), np.delete(masses, 40))
    rho = SolverModel.chebyshev_rho(1e-3, lay.node_params(np.ones(block.spring_count, bool)),
                                    np.zeros(block.node_count, bool))
    assert rho < 0.99
    off = SolverModel.build(sliver, SolverOptions(mass_scaling=0.0))
    assert off.added_mass == 0.0


def test_spring_mask_zeroes_parameters():
    model = tet_block((0.03, 0.02, 0.02), (3, 2, 2))
    lay = SolverModel.build(model, SolverOptions())
    mask = np.ones(model.spring_count, dtype=bool)
    mask[::2] = False
    params = lay.spring_params(mask)
    assert np.all(params[~mask, 1:] == 0.0) and np.all(params[mask, 1] > 0)
    nodes = lay.node_params(mask)
    assert nodes[:, 1].sum() == pytest.approx(2 * lay.stiffness[mask].sum())


def test_node_selection():
    model = tet_block((0.03, 0.02, 0.02), (3, 2, 2))
    ids = nodes_in_box(model.positions, (-1, -1, -1), (0.0, 1, 1))
    assert np.all(model.positions[ids, 0] == 0.0) and len(ids) == 9
    both = select_nodes(model, [0, 1], box=((-1, -1, -1), (0.0, 1, 1)))
    assert set(both) == set(ids) | {1}
    assert len(select_nodes(model, region="generic")) == model.node_count
    with pytest.raises(InputError):
        select_nodes(model, region="spleen")
    with pytest.raises(InputError):
        select_nodes(model, [model.node_count])
    with pytest.raises(InputError):
        select_nodes(model)
