"""Solver features on the Taichi CPU backend: anchors, obstacles and friction, regions, cutting, forces, states."""

from __future__ import annotations

import math

import numpy as np
import pytest

from surgsim.errors import InputError
from surgsim.mesh.build import build_tissue_model
from surgsim.mesh.materials import material
from surgsim.mesh.primitives import tet_block
from surgsim.tissue import Box, Plane, StateArrays

from stepping import run_guarded


def test_kinematic_anchor_follows_its_target(solver_cls):
    model = tet_block((0.05, 0.02, 0.02), (5, 2, 2), tissue="liver")
    solver = solver_cls(model)
    control = solver.control()
    ids = control.anchor(box=((-1, -1, -1), (0.0, 1, 1)))
    a, b = solver.state(), solver.state()
    target = model.positions[ids] + [0.0, 0.0, 0.002]
    control.set_anchor_targets(ids, target)
    solver.step(a, b, control)
    x = b.positions_numpy()
    assert np.allclose(x[ids], target, atol=1e-15)
    assert np.allclose(b.velocities_numpy()[ids], [0.0, 0.0, 2.0], atol=1e-9)  # 2 mm in 1 ms
    free = np.setdiff1d(np.arange(model.node_count), ids)
    assert np.all(np.abs(x[free] - model.positions[free]) < 0.002)
    with pytest.raises(InputError):
        control.set_anchor_targets(free[:1], model.positions[free[:1]])
    control.release(ids)
    assert len(control.anchored_nodes) == 0


def test_anchor_by_region(solver_cls):
    model = tet_block((0.03, 0.02, 0.02), (3, 2, 2), tissue="liver")
    solver = solver_cls(model)
    control = solver.control()
    assert len(control.anchor(region="liver")) == model.node_count
    final = run_guarded(solver, control, 50)
    assert np.allclose(final.positions_numpy(), model.positions)
    with pytest.raises(InputError):
        control.anchor(region="spleen")


def test_block_comes_to_rest_on_a_plane(solver_cls):
    model = tet_block((0.04, 0.04, 0.02), (4, 4, 2), origin_m=(0.0, 0.0, 0.01), tissue="liver")
    solver = solver_cls(model)
    control = solver.control()
    control.set_obstacles([Plane(point=(0.0, 0.0, 0.0), normal=(0.0, 0.0, 1.0), friction=0.5)])
    final = run_guarded(solver, control, 1500)
    x = final.positions_numpy()
    assert x[:, 2].min() >= -1e-12  # never inside the floor
    assert x[:, 2].min() < 1e-6  # but resting on it
    assert np.linalg.norm(final.velocities_numpy(), axis=1).max() < 1e-3


def test_box_obstacle_pushes_nodes_out(solver_cls):
    model = tet_block((0.04, 0.02, 0.02), (4, 2, 2), tissue="liver")
    solver = solver_cls(model, gravity=(0.0, 0.0, 0.0))
    control = solver.control()
    rot = np.array([[math.cos(0.3), -math.sin(0.3), 0.0], [math.sin(0.3), math.cos(0.3), 0.0], [0.0, 0.0, 1.0]])
    box = Box(center=(0.02, 0.01, -0.0045), half_extents=(0.01, 0.01, 0.005), rotation=rot)
    control.add_obstacle(box)
    final = run_guarded(solver, control, 20).positions_numpy()
    q = (final - box.center) @ rot
    inside = np.all(np.abs(q) < np.asarray(box.half_extents) - 1e-9, axis=1)
    assert not inside.any()
    moved = np.linalg.norm(final - model.positions, axis=1)
    assert moved.max() > 1e-4  # some nodes started inside and were pushed out
    with pytest.raises(InputError):
        Box(center=(0, 0, 0), half_extents=(1, 1, -1)).pack()


def test_friction_holds_a_block_on_a_slope(solver_cls):
    """On a 20° slope a block slides freely without friction and sticks with μ = 1 (tan 20° = 0.36)."""
    model = tet_block((0.02, 0.02, 0.01), (2, 2, 1), origin_m=(0.0, 0.0, 0.0), tissue="liver")
    angle = math.radians(20.0)
    gravity = (9.81 * math.sin(angle), 0.0, -9.81 * math.cos(angle))  # slope frame: x down the slope
    slides = {}
    for mu in (0.0, 1.0):
        solver = solver_cls(model, gravity=gravity, ambient_damping_share=0.0)  # no drag: only friction acts
        control = solver.control()
        control.set_obstacles([Plane(point=(0.0, 0.0, 0.0), normal=(0.0, 0.0, 1.0), friction=mu)])
        final = run_guarded(solver, control, 300)
        slides[mu] = float((final.positions_numpy()[:, 0] - model.positions[:, 0]).mean())
    t = 0.3
    assert slides[0.0] == pytest.approx(0.5 * 9.81 * math.sin(angle) * t**2, rel=0.05)
    assert abs(slides[1.0]) < 0.02 * slides[0.0]


def test_stiff_region_stretches_less(solver_cls):
    """A column, soft bottom half and stiff top half, hanging: strain ratio follows the modulus ratio."""
    column = tet_block((0.02, 0.02, 0.1), (2, 2, 10))
    regions = (column.positions[column.tets, 2].mean(axis=1) > 0.05).astype(int)  # tets above mid-height: stiff
    soft, stiff = material("liver"), material("gallbladder")
    model = build_tissue_model(column.positions, column.tets, regions, ["soft", "stiff"], [soft, stiff])
    solver = solver_cls(model)
    control = solver.control()
    control.anchor(box=((-1, -1, 0.0999), (1, 1, 1)))
    x = run_guarded(solver, control, 1500).positions_numpy()
    z0 = model.positions[:, 2]

    def stretch(z_lo, z_hi):
        lo = np.isclose(z0, z_lo)
        hi = np.isclose(z0, z_hi)
        return (x[hi, 2].mean() - x[lo, 2].mean()) / (z_hi - z_lo) - 1.0

    # load at the mid-plane of each half: the lower half carries ~1/4 of the weight at its middle, the upper ~3/4
    strain_soft = stretch(0.01, 0.04) / 1.0
    strain_stiff = stretch(0.06, 0.09) / 3.0
    assert strain_soft / strain_stiff == pytest.approx(stiff.youngs_modulus_pa / soft.youngs_modulus_pa, rel=0.25)


def test_cutting_springs_separates_the_body(solver_cls):
    """The spring-active mask (the cut/tear hook): cut a hanging column in two, the lower half falls freely."""
    model = tet_block((0.02, 0.02, 0.1), (2, 2, 10), tissue="liver")
    solver = solver_cls(model, ambient_damping_share=0.0)
    control = solver.control()
    control.anchor(box=((-1, -1, 0.0999), (1, 1, 1)))
    z = model.positions[:, 2]
    s = model.springs
    crossing = (z[s[:, 0]] < 0.05) != (z[s[:, 1]] < 0.05)
    mask = np.ones(model.spring_count, dtype=bool)
    mask[crossing] = False
    control.set_spring_active(mask)
    final = run_guarded(solver, control, 200).positions_numpy()
    lower = z < 0.05
    drop = -(final[lower, 2] - z[lower]).mean()
    assert drop == pytest.approx(0.5 * 9.81 * 0.2**2, rel=0.02)
    assert np.abs(final[~lower, 2] - z[~lower]).max() < 0.01  # the upper half still hangs
    # restoring the springs is possible too (the mask is the control's, not the model's)
    control.set_spring_active(np.ones(model.spring_count, dtype=bool))
    assert np.all(control.spring_params[:, 1] > 0)


def test_point_forces_persist_and_state_round_trips(solver_cls):
    model = tet_block((0.03, 0.02, 0.02), (3, 2, 2), tissue="liver")
    solver = solver_cls(model, gravity=(0.0, 0.0, 0.0))
    control = solver.control()
    a, b = solver.state(), solver.state()
    solver.set_point_forces(a, [5], [[0.0, 0.0, 0.01]])
    for _ in range(3):
        solver.step(a, b, control)
        a, b = b, a
    arrays = a.numpy()
    assert isinstance(arrays, StateArrays)
    assert arrays.time == pytest.approx(3e-3)
    assert arrays.forces[5, 2] == 0.01 and np.count_nonzero(arrays.forces) == 1
    assert arrays.positions[5, 2] > model.positions[5, 2]
    c = solver.state()
    c.load(arrays)
    assert np.array_equal(c.positions_numpy(), arrays.positions) and c.time == arrays.time
    with pytest.raises(ValueError):
        solver.step(a, a, control)
    with pytest.raises(ValueError):
        c.set_positions(np.full((model.node_count, 3), np.nan))


def test_solver_info_records_the_backend(solver_cls):
    model = tet_block((0.03, 0.02, 0.02), (3, 2, 2), tissue="liver")
    info = solver_cls(model).info()
    assert info["backend"] == "cpu" and info["nodes"] == model.node_count
    assert info["execution"] == "serial" and 0.0 < info["chebyshev_rho"] < 1.0


def test_attached_nodes_are_pulled_toward_their_targets(solver_cls):
    """Without gravity or other holds, an attachment drags the whole block until the attached nodes sit on their
    targets; releasing it leaves the block where it is; anchoring an attached node ends the attachment."""
    model = tet_block((0.03, 0.02, 0.02), (3, 2, 2), tissue="liver")
    solver = solver_cls(model, gravity=(0.0, 0.0, 0.0), damping_ratio=1.0)
    control = solver.control()
    ids = np.flatnonzero(model.positions[:, 0] > 0.029)
    offset = np.array([0.0, 0.0, 0.003])
    control.attach(ids, model.positions[ids] + offset, 200.0)
    assert np.all(control.attached[ids]) and not np.any(control.anchored)
    final = run_guarded(solver, control, 3000)
    np.testing.assert_allclose(final.positions_numpy(), model.positions + offset, atol=2e-5)
    control.set_anchor_targets(ids, model.positions[ids])  # attached nodes move like anchored ones
    with pytest.raises(InputError):
        control.attach(ids, model.positions[ids], 0.0)
    control.anchor(ids[:1])
    assert control.anchored[ids[0]] and not control.attached[ids[0]]
    control.release(ids)
    assert not np.any(control.attached) and not np.any(control.anchored)
    with pytest.raises(InputError):
        control.set_anchor_targets(ids, model.positions[ids])


def test_a_rigid_group_moves_its_nodes_and_loses_those_held_otherwise(solver_cls):
    model = tet_block((0.03, 0.02, 0.02), (3, 2, 2), tissue="liver")
    solver = solver_cls(model)
    control = solver.control()
    ids = np.flatnonzero(model.positions[:, 0] > 0.029)
    control.anchor(ids[:2])
    control.attach(ids[2:], model.positions[ids[2:]], 50.0)
    centre = model.positions[ids].mean(axis=0)
    control.set_anchor_frame("jaws", ids, model.positions[ids] - centre)
    quarter = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    control.move_anchor_frame("jaws", centre + [0.0, 0.0, 0.01], quarter)
    expected = centre + [0.0, 0.0, 0.01] + (model.positions[ids] - centre) @ quarter.T
    np.testing.assert_allclose(control.anchor_targets[ids], expected, atol=1e-15)
    control.anchor(ids[-1:], targets=model.positions[ids[-1:]])  # held by something else from now on (a clip)
    np.testing.assert_array_equal(control.anchor_frame_nodes("jaws"), ids[:-1])
    control.move_anchor_frame("jaws", centre, np.eye(3))
    np.testing.assert_allclose(control.anchor_targets[ids[-1]], model.positions[ids[-1]])  # not moved by the group
    with pytest.raises(InputError):
        control.set_anchor_frame("free", np.flatnonzero(model.positions[:, 0] < 1e-9), np.zeros((6, 3)))
    control.drop_anchor_frame("jaws")
    assert len(control.anchor_frame_nodes("jaws")) == 0
