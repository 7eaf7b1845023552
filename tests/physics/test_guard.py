"""Blow-up guard: an absurd force on the liver never lets a non-finite value out, is reported, and recovers."""

from __future__ import annotations

import numpy as np

from surgsim.mesh.model import TissueModel
from surgsim.mesh.primitives import tet_block
from surgsim.tissue.reference import ReferenceSolver

from physics_helpers import positions


def test_absurd_point_force_on_liver(solver_cls):
    model = TissueModel.load("assets/meshes/liver.npz")
    solver = solver_cls(model)
    control = solver.control()
    lo, hi = model.positions.min(axis=0), model.positions.max(axis=0)
    control.anchor(box=(lo - 1.0, [hi[0] + 1.0, hi[1] + 1.0, lo[2] + 0.2 * (hi[2] - lo[2])]))
    a, b = solver.state(), solver.state()
    node = int(np.argmax(model.positions[:, 2]))
    solver.set_point_forces(a, [node], [[1.0e4, 0.0, 0.0]])  # 10 kN on one node
    events = []
    for _ in range(100):
        event = solver.step(a, b, control)
        if event is not None:
            events.append(event)
        a, b = b, a
        x = positions(a)
        assert np.all(np.isfinite(x)) and np.all(np.isfinite(a.velocities_numpy()))
    assert events, "the guard must report the blow-up"
    assert all(e.kind == "blowup" for e in events)
    assert any(not e.recovered for e in events)
    assert all(e.max_speed > solver.options.max_speed for e in events)
    # nothing moved far: the rejected steps kept the last good state
    assert np.abs(positions(a) - model.positions).max() < 0.1

    # force off: the simulation carries on normally (the liver, never settled, swings down under gravity from its
    # rest shape and comes to rest: ~1 m/s at 0.2 s, below 0.1 m/s within a second)
    solver.set_point_forces(a, [node], [[0.0, 0.0, 0.0]])
    for _ in range(1000):
        assert solver.step(a, b, control) is None
        a, b = b, a
    assert np.all(np.isfinite(positions(a)))
    assert np.linalg.norm(a.velocities_numpy(), axis=1).max() < 0.1


def test_retry_with_more_substeps_recovers(solver_cls):
    """A step whose fastest node exceeds the limit at one sub-step but not at four is redone and reported.

    (Seeded case found by scanning: a stiff column kicked with random 5 m/s velocities, 4 iterations: the
    under-resolved single sub-step overshoots to 12.1 m/s, four sub-steps stay below 12 and end at 6.3 m/s.)
    """
    model = tet_block((0.02, 0.02, 0.1), (2, 2, 10), tissue="vessel")
    kick = np.random.default_rng(1).normal(0.0, 5.0, model.positions.shape)
    outcomes = []
    for cls in (solver_cls, ReferenceSolver):
        solver = cls(model, iterations=4, max_speed=12.0)
        control = solver.control()
        state, out = solver.state(), solver.state()
        if hasattr(state, "set_velocities"):
            state.set_velocities(kick)
        else:
            state.velocities[:] = kick
        event = solver.step(state, out, control)
        assert event is not None and event.max_speed > 12.0
        outcomes.append([(event.kind, event.recovered, event.retries, event.substeps)])
        v = out.velocities_numpy() if hasattr(out, "velocities_numpy") else out.velocities
        assert np.all(np.isfinite(positions(out))) and np.linalg.norm(v, axis=1).max() <= 12.0
    assert outcomes[0] == [("blowup", True, 1, 4)]
    assert outcomes[1] == outcomes[0]
