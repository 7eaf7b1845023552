"""The ambient drag damps the tissue's deformation, not its rigid motion: a free piece keeps its momentum and spin,
falls as a body falls, and a deformed one still settles."""

from __future__ import annotations

import numpy as np
import pytest

from surgsim.mesh.primitives import tet_block
from surgsim.tissue.control import connected_bodies
from surgsim.tissue.reference import ReferenceSolver

from physics_helpers import positions, run


def _block():
    return tet_block((0.04, 0.02, 0.02), (4, 2, 2), tissue="liver")


def _velocities(state):
    return state.velocities_numpy() if hasattr(state, "velocities_numpy") else state.velocities


def _with_velocities(solver, velocities):
    state = solver.state()
    if hasattr(state, "set_velocities"):
        state.set_velocities(velocities)
    else:
        state.velocities[:] = velocities
    return state


def test_the_drag_is_really_on(solver_cls):
    solver = solver_cls(_block())
    alpha = solver.control().node_params[:, 3]
    assert alpha.min() > 5.0  # 1/s: with drag on absolute velocity a body would lose >90 % of its speed in 0.5 s


def test_a_free_body_keeps_its_momentum(solver_cls):
    model = _block()
    solver = solver_cls(model, gravity=(0.0, 0.0, 0.0))
    v0 = np.array([0.1, -0.05, 0.02])
    final = run(solver, solver.control(), 500, _with_velocities(solver, np.tile(v0, (model.node_count, 1))))
    assert np.abs(_velocities(final) - v0).max() < 1e-9
    assert np.abs(positions(final) - model.positions - 0.5 * v0).max() < 1e-9


def test_a_free_body_keeps_spinning(solver_cls):
    model = _block()
    solver = solver_cls(model, gravity=(0.0, 0.0, 0.0))
    masses = solver.control().node_params[:, 0]
    centre = (masses[:, None] * model.positions).sum(axis=0) / masses.sum()
    omega = np.array([0.0, 0.0, 2.0])  # rad/s about the long axis' normal

    def spin(state):
        r = positions(state) - centre
        return (masses[:, None] * np.cross(r, _velocities(state))).sum(axis=0)[2]

    start = _with_velocities(solver, np.cross(omega, model.positions - centre))
    initial = spin(start)
    final = run(solver, solver.control(), 500, start)
    # Implicit Euler and the springs' own dashpots take a little; drag on absolute velocity would have taken e^{-αt}.
    assert spin(final) == pytest.approx(initial, rel=0.02)


def test_free_fall_with_the_default_damping(solver_cls):
    model = _block()
    solver = solver_cls(model)
    final = run(solver, solver.control(), 500)
    drop = -(positions(final)[:, 2] - model.positions[:, 2]).mean()
    assert drop == pytest.approx(0.5 * 9.81 * 0.5**2, rel=0.005)


def test_a_released_stretch_still_settles(solver_cls):
    model = tet_block((0.1, 0.02, 0.02), (10, 2, 2), tissue="liver")
    solver = solver_cls(model, gravity=(0.0, 0.0, 0.0))
    control = solver.control()
    state = solver.state()
    state.set_positions(model.positions * np.array([1.03, 1.0, 1.0]))
    final = run(solver, control, 1000, state)
    # the body's own vibration is gone, its centre did not move
    assert np.abs(_velocities(final)).max() < 1e-3
    assert np.abs(positions(final).mean(axis=0) - (model.positions * [1.03, 1, 1]).mean(axis=0)).max() < 1e-6


def test_a_piece_cut_free_is_a_body_of_its_own(solver_cls):
    model = _block()
    left = model.positions[:, 0] < 0.02 - 1e-9
    active = left[model.springs[:, 0]] == left[model.springs[:, 1]]  # every spring across x = 20 mm cut
    offsets, nodes = connected_bodies(model.node_count, model.springs, active)
    sizes = np.diff(offsets)
    assert sorted(sizes[sizes > 0].tolist()) == sorted([int(left.sum()), int((~left).sum())])
    assert sorted(nodes.tolist()) == list(range(model.node_count))
    # Twin agreement on two bodies, one anchored, one free and moving.
    finals = {}
    for cls in (solver_cls, ReferenceSolver):
        solver = cls(model)
        control = solver.control()
        control.set_spring_active(active)
        control.anchor(np.flatnonzero(model.positions[:, 0] < 1e-9))
        velocities = np.zeros((model.node_count, 3))
        velocities[~left] = (0.05, 0.0, 0.1)
        finals[cls] = positions(run(solver, control, 100, _with_velocities(solver, velocities)))
    moved = np.abs(finals[solver_cls] - model.positions).max()
    assert moved > 1e-3
    assert np.abs(finals[solver_cls] - finals[ReferenceSolver]).max() <= 1e-9 * max(moved, 1.0)


def test_only_bodies_without_held_nodes_are_free(solver_cls):
    model = _block()
    left = model.positions[:, 0] < 0.02 - 1e-9
    control = solver_cls(model).control()
    control.set_spring_active(left[model.springs[:, 0]] == left[model.springs[:, 1]])
    assert len(control.free_bodies()[0]) == 3  # two free pieces
    control.anchor(np.flatnonzero(model.positions[:, 0] < 1e-9))
    offsets, nodes = control.free_bodies()
    assert len(offsets) == 2 and sorted(nodes.tolist()) == np.flatnonzero(~left).tolist()
    grasped = np.flatnonzero(~left)[:2]
    control.attach(grasped, model.positions[grasped], 10.0)  # a grasp holds the right piece too
    assert len(control.free_bodies()[0]) == 1
    control.release(grasped)
    assert len(control.free_bodies()[0]) == 2
