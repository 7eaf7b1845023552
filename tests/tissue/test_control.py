"""TissueControl: the per-step inputs apart from the solver. Version counters per part, one solver stepping several
controls (each with its own device copy), the damping override used for settling, and the anchor journal that keeps
a moving grasp's device uploads incremental."""

from __future__ import annotations

import numpy as np
import pytest

from surgsim.mesh.primitives import tet_block
from surgsim.tissue import Plane
from surgsim.tissue.control import TissueControl

from stepping import run_guarded


def _block():
    return tet_block((0.03, 0.02, 0.02), (3, 2, 2), tissue="liver")


def test_each_part_has_its_own_version():
    from surgsim.tissue.reference import ReferenceSolver

    model = _block()
    control = ReferenceSolver(model).control()
    v = control.versions
    ids = control.anchor(nodes=[0, 1])
    assert (v.anchors, v.membership, v.springs, v.obstacles) == (1, 1, 0, 0)
    control.set_anchor_targets(ids, model.positions[ids] + 0.001)
    assert (v.anchors, v.membership) == (2, 1)  # targets only: which nodes are anchored did not change
    control.attach([2], model.positions[[2]], 10.0)
    assert (v.anchors, v.membership) == (3, 1)
    control.release(ids)
    assert (v.anchors, v.membership) == (4, 2)
    control.set_obstacles([Plane((0, 0, 0), (0, 0, 1))])
    assert (v.obstacles, v.springs) == (1, 0)
    control.set_spring_active(np.ones(model.spring_count, dtype=bool))
    assert (v.springs, v.anchors) == (1, 4)


def test_the_chebyshev_bound_follows_the_anchored_set(solver_cls):
    model = _block()
    solver = solver_cls(model)
    control = solver.control()
    h = solver.options.dt / solver.options.substeps
    free = solver.rho(control, h)
    control.anchor(np.arange(model.node_count - 1))  # one free node left
    held = solver.rho(control, h)
    assert held != free
    assert held == model_bound(control, h)
    control.release(np.arange(model.node_count))
    assert solver.rho(control, h) == free


def model_bound(control: TissueControl, h: float) -> float:
    return control.layout.chebyshev_rho(h, control.node_params, control.anchored)


def test_one_solver_steps_two_controls_as_two_solvers_would(solver_cls):
    """Alternating two controls on one solver (each with its own device copy) gives bit for bit what two solvers give:
    the solver keeps nothing of one control that leaks into the other."""
    model = _block()
    shared = solver_cls(model)
    held, floored = shared.control(), shared.control()
    held.anchor(box=((-1, -1, -1), (0.0, 1, 1)))
    floored.set_obstacles([Plane((0, 0, -0.002), (0, 0, 1), friction=0.5)])
    a, b = shared.state(), shared.state()
    c, d = shared.state(), shared.state()
    for _ in range(40):
        shared.step(a, b, held)
        shared.step(c, d, floored)
        a, b, c, d = b, a, d, c
    alone = {}
    for name, setup in (("held", lambda k: k.anchor(box=((-1, -1, -1), (0.0, 1, 1)))),
                        ("floored", lambda k: k.set_obstacles([Plane((0, 0, -0.002), (0, 0, 1), friction=0.5)]))):
        solver = solver_cls(model)
        control = solver.control()
        setup(control)
        alone[name] = run_guarded(solver, control, 40).positions_numpy()
    np.testing.assert_array_equal(a.positions_numpy(), alone["held"])
    np.testing.assert_array_equal(c.positions_numpy(), alone["floored"])
    assert np.abs(alone["held"] - alone["floored"]).max() > 1e-4  # the two set-ups really differ


def test_a_damping_override_steps_like_a_solver_built_with_that_damping(solver_cls):
    """What Session's settling relies on: the session's solver with ``control(damping_ratio=ζ)`` is the solver of
    options ``damping_ratio=ζ``, bit for bit (mass scaling included)."""
    model = _block()
    solver = solver_cls(model)
    settle = solver.control(damping_ratio=3.0)
    settle.anchor(box=((-1, -1, -1), (0.0, 1, 1)))
    damped = solver_cls(model, damping_ratio=3.0)
    reference = damped.control()
    reference.anchor(box=((-1, -1, -1), (0.0, 1, 1)))
    x = run_guarded(solver, settle, 60).positions_numpy()
    np.testing.assert_array_equal(x, run_guarded(damped, reference, 60).positions_numpy())
    plain = solver.control()
    plain.anchor(box=((-1, -1, -1), (0.0, 1, 1)))
    assert np.abs(run_guarded(solver, plain, 60).positions_numpy() - x).max() > 1e-6  # ζ = 3 does damp differently


def test_a_control_of_another_model_is_refused(solver_cls):
    solver = solver_cls(_block())
    other = solver_cls(tet_block((0.02, 0.02, 0.02), (2, 2, 2), tissue="liver")).control()
    a, b = solver.state(), solver.state()
    with pytest.raises(ValueError):
        solver.step(a, b, other)


def test_the_device_table_follows_every_change_incremental_or_whole(solver_cls):
    """Frame moves, row changes and whole-table changes in any order, fewer or more than the journal keeps between
    two steps: the device's anchor table is the host's after the step."""
    model = tet_block((0.04, 0.02, 0.02), (4, 2, 2), tissue="liver")
    p = model.positions
    solver = solver_cls(model)
    control = solver.control()
    grip = np.flatnonzero(p[:, 0] > 0.039)
    control.anchor(grip[:3])
    control.attach(grip[3:], p[grip[3:]], 20.0)
    control.set_anchor_frame("jaws", grip, p[grip] - p[grip].mean(axis=0))
    a, b = solver.state(), solver.state()

    def check():
        solver.step(a, b, control)
        table = solver.anchor_table(control).to_numpy()
        np.testing.assert_allclose(table[:, :3], control.anchor_targets, rtol=0, atol=1e-15)
        np.testing.assert_array_equal(table[:, 3], control.anchor_table()[:, 3])

    def turn(angle, lift):
        r = np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]])
        control.move_anchor_frame("jaws", p[grip].mean(axis=0) + [0.0, 0.0, lift], r)

    turn(0.1, 0.001)
    check()
    turn(0.2, 0.002)
    control.anchor(grip[3:4], targets=p[grip[3:4]])  # whole table; the node leaves the frame
    turn(0.3, 0.003)
    control.attach(grip[4:5], p[grip[4:5]] + 0.001, 5.0)  # rows only
    check()
    assert not np.isin(grip[3], control.anchor_frame_nodes("jaws"))
    synced = control.versions.anchors  # what the device holds now
    for k in range(1200):  # more changes than the journal keeps: the next step uploads the whole table
        turn(0.001 * k, 1e-6 * k)
    assert control.anchor_changes_since(synced) is None
    check()
    control.drop_anchor_frame("jaws")
    control.release(grip)
    check()

