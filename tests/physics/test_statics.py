"""Statics: rest stays at rest, hanging column sag (network equilibrium, reference, analytic), Young's modulus."""

from __future__ import annotations

import numpy as np
import pytest

from surgsim.mesh.primitives import tet_block
from surgsim.tissue.reference import ReferenceSolver
from surgsim.tissue.stiffness import measure_youngs_modulus, spring_stiffness

from physics_helpers import TEST_TISSUE, hanging_column, positions, run, static_equilibrium


def test_rest_stays_at_rest(solver_cls):
    model = tet_block((0.1, 0.02, 0.02), (10, 2, 2), tissue="liver")
    solver = solver_cls(model, gravity=(0.0, 0.0, 0.0))
    control = solver.control()
    events = []
    final = run(solver, control, 1000, events=events)
    displacement = np.abs(positions(final) - model.positions).max()
    assert displacement < 1e-6
    assert np.abs(final.velocities_numpy()).max() < 1e-6
    assert events == []


@pytest.fixture(scope="module")
def settled_column(solver_cls):
    """The hanging column after 1.5 s with damping, by Taichi and by the numpy reference."""
    model, top, bottom = hanging_column()
    results = {}
    for name, cls in (("taichi", solver_cls), ("numpy", ReferenceSolver)):
        solver = cls(model)
        control = solver.control()
        control.anchor(top)
        results[name] = (solver, positions(run(solver, control, 1500)))
    return model, top, bottom, results


def _sag(model, bottom, x):
    return float(-(x[bottom, 2] - model.positions[bottom, 2]).mean())


def test_hanging_column_matches_reference(settled_column):
    model, _, bottom, results = settled_column
    sag_taichi = _sag(model, bottom, results["taichi"][1])
    sag_numpy = _sag(model, bottom, results["numpy"][1])
    assert sag_taichi > 0
    assert abs(sag_taichi - sag_numpy) <= 0.01 * sag_numpy


def test_hanging_column_is_the_network_equilibrium(settled_column):
    """The solver's static state is the spring network's exact equilibrium (independent of iteration count)."""
    model, top, bottom, results = settled_column
    solver, x = results["taichi"]
    anchored = np.zeros(model.node_count, dtype=bool)
    anchored[top] = True
    exact = static_equilibrium(solver.layout, anchored, solver.options.gravity)
    sag_exact = _sag(model, bottom, exact)
    assert np.abs(x - exact).max() <= 2e-3 * sag_exact


def test_hanging_column_matches_analytic_stretch(settled_column):
    """A bar hanging under its own weight stretches by ρ g L² / (2 E)."""
    model, _, bottom, results = settled_column
    length = 0.1
    analytic = TEST_TISSUE.density_kg_m3 * 9.81 * length**2 / (2.0 * TEST_TISSUE.youngs_modulus_pa)
    sag = _sag(model, bottom, results["taichi"][1])
    assert sag == pytest.approx(analytic, rel=0.10)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_calibrated_youngs_modulus_static(axis):
    """Linear uniaxial test of the spring network: the requested E within 10 % along every axis."""
    model = tet_block((0.05, 0.05, 0.05), (6, 6, 6), tissue=TEST_TISSUE)
    youngs, _ = measure_youngs_modulus(model, spring_stiffness(model), axis=axis)
    assert youngs == pytest.approx(TEST_TISSUE.youngs_modulus_pa, rel=0.10)


def test_uncalibrated_mapping_differs():
    """The calibration factor matters: a factor of 0.8 would leave the block 16 % too soft (the test can fail)."""
    model = tet_block((0.05, 0.02, 0.02), (5, 2, 2), tissue=TEST_TISSUE)
    youngs, _ = measure_youngs_modulus(model, spring_stiffness(model, calibration=0.8))
    assert youngs < 0.9 * TEST_TISSUE.youngs_modulus_pa


def test_uniaxial_tension_through_the_solver(solver_cls):
    """Dynamic solver, one end held, a traction on the other: settled strain gives E within 10 %."""
    size = (0.1, 0.02, 0.02)
    model = tet_block(size, (10, 2, 2), tissue=TEST_TISSUE)
    x = model.positions
    held = np.flatnonzero(np.isclose(x[:, 0], 0.0))
    loaded = np.flatnonzero(np.isclose(x[:, 0], size[0]))
    stress = 300.0  # Pa, 0.5 % strain
    area = size[1] * size[2]
    # Consistent nodal loads: each boundary triangle on the loaded face gives a third of its area to each corner.
    tri = model.surface_triangles
    on_face = np.all(np.isin(tri, loaded), axis=1)
    p = x[tri[on_face]]
    tri_area = 0.5 * np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)
    weights = np.zeros(model.node_count)
    np.add.at(weights, tri[on_face].reshape(-1), np.repeat(tri_area / 3.0, 3))
    assert weights.sum() == pytest.approx(area)
    solver = solver_cls(model, gravity=(0.0, 0.0, 0.0))
    control = solver.control()
    control.anchor(held)
    state = solver.state()
    forces = np.zeros((model.node_count, 3))
    forces[:, 0] = stress * weights
    state.set_forces(forces)
    final = positions(run(solver, control, 1500, state))
    u = final[:, 0] - x[:, 0]
    a = np.isclose(x[:, 0], 0.3 * size[0])
    b = np.isclose(x[:, 0], 0.7 * size[0])
    strain = (u[b].mean() - u[a].mean()) / (0.4 * size[0])
    youngs = stress / strain
    assert youngs == pytest.approx(TEST_TISSUE.youngs_modulus_pa, rel=0.10)
