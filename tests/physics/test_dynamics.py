"""Dynamics: free fall, energy, damping, agreement with the numpy reference, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from surgsim.mesh.model import TissueModel
from surgsim.mesh.primitives import tet_block
from surgsim.tissue.contact import Plane
from surgsim.tissue.diagnostics import energy
from surgsim.tissue.reference import ReferenceSolver

from physics_helpers import positions, run

LIVER = "assets/meshes/liver.npz"


def test_free_fall_matches_analytic(solver_cls):
    """An unanchored body falls g t²/2 (internal Kelvin–Voigt damping never slows rigid motion)."""
    model = tet_block((0.04, 0.02, 0.02), (4, 2, 2), tissue="liver")
    solver = solver_cls(model, ambient_damping_share=0.0)  # material damping, all of it internal
    control = solver.control()
    steps = 500
    final = run(solver, control, steps)
    t = steps * solver.options.dt
    drop = -(positions(final)[:, 2] - model.positions[:, 2]).mean()
    assert drop == pytest.approx(0.5 * 9.81 * t**2, rel=0.01)
    # and the body is not deformed by falling
    assert np.ptp(positions(final)[:, 2] - model.positions[:, 2]) < 1e-6


def _energy_history(solver_cls, damping_ratio, seconds=10.0):
    model = tet_block((0.1, 0.02, 0.02), (10, 2, 2), tissue="liver")
    solver = solver_cls(model, gravity=(0.0, 0.0, 0.0), damping_ratio=damping_ratio)
    control = solver.control()
    state = solver.state()
    state.set_positions(model.positions * np.array([1.03, 1.0, 1.0]))  # released from a 3 % stretch
    history = []
    steps = int(round(seconds / solver.options.dt))

    def record(i, s):
        if i % 10 == 0:
            history.append(energy(solver.layout, s.positions_numpy(), s.velocities_numpy())["total"])

    final = run(solver, control, steps, state, record)
    history.append(energy(solver.layout, final.positions_numpy(), final.velocities_numpy())["total"])
    return np.array(history)


def test_energy_never_grows_without_damping(solver_cls):
    e = _energy_history(solver_cls, 0.0)
    assert e[0] > 0
    # implicit Euler dissipates: no sample exceeds any earlier one (beyond rounding)
    assert np.all(np.diff(e) <= 1e-9 * e[0])
    # but it is not a damper in disguise: the 12 Hz axial mode keeps a third of its energy over 0.1 s
    assert e[10] > 0.3 * e[0]


def test_energy_decays_with_damping(solver_cls):
    undamped = _energy_history(solver_cls, 0.0, seconds=1.0)
    damped = _energy_history(solver_cls, 0.3, seconds=1.0)
    assert damped[-1] < 0.05 * damped[0]
    assert damped[-1] < 0.5 * undamped[-1]
    assert np.all(np.diff(damped) <= 1e-9 * damped[0])


def _scene(cls, model):
    """Anchors, a point force, a floor and the default (material) damping: everything the kernels do."""
    solver = cls(model)
    control = solver.control()
    lo, hi = model.positions.min(axis=0), model.positions.max(axis=0)
    control.anchor(box=(lo - 1.0, [hi[0] + 1.0, lo[1] + 0.2 * (hi[1] - lo[1]), hi[2] + 1.0]))
    control.set_obstacles([Plane(point=(0.0, 0.0, lo[2] + 0.1 * (hi[2] - lo[2])), normal=(0.0, 0.0, 1.0),
                                 friction=0.5)])
    state = solver.state()
    forces = np.zeros((model.node_count, 3))
    forces[int(np.argmax(model.positions[:, 1]))] = (0.05, 0.0, 0.02)
    if hasattr(state, "set_forces"):
        state.set_forces(forces)
    else:
        state.forces[:] = forces
    return solver, control, state


def test_taichi_matches_numpy_reference_on_liver(solver_cls):
    model = TissueModel.load(LIVER)
    finals = {}
    for cls in (solver_cls, ReferenceSolver):
        solver, control, state = _scene(cls, model)
        events = []
        finals[cls] = positions(run(solver, control, 100, state, events=events))
        assert events == []
    moved = np.abs(finals[solver_cls] - model.positions).max()
    assert moved > 1e-3  # the scene really moves
    assert np.abs(finals[solver_cls] - finals[ReferenceSolver]).max() <= 1e-5 * moved


def test_bit_identical_replay(solver_cls):
    """Two identical runs give bit-identical positions (parallel and serial execution each; they agree to rounding)."""
    model = tet_block((0.06, 0.03, 0.03), (6, 3, 3), tissue="liver")
    results = []
    for execution in ("parallel", "parallel", "serial", "serial"):
        solver, control, state = _scene(lambda m: solver_cls(m, execution=execution), model)
        results.append(positions(run(solver, control, 200, state)))
    assert np.array_equal(results[0], results[1])
    assert np.array_equal(results[2], results[3])
    moved = np.abs(results[0] - model.positions).max()
    assert np.abs(results[0] - results[2]).max() <= 1e-9 * moved


@pytest.mark.parametrize("options", [{}, {"poisson": "from_material", "viscoelastic": "from_material"}],
                         ids=["springs", "volume+relaxation"])
def test_scratch_fields_and_ndarrays_agree(solver_cls, monkeypatch, options):
    """On one thread a sub-step keeps its own arrays in scratch fields and bundles the spring pass
    (kernels_step.SCRATCH_NODES); a mesh too large for them runs on its ndarrays. Each is bit-identical run to run,
    and the two agree to rounding (LLVM orders some sums differently)."""
    from surgsim.tissue import kernels_step

    model = tet_block((0.06, 0.03, 0.03), (6, 3, 3), tissue="liver")
    results = []
    for fits in (True, True, False, False):
        if not fits:
            monkeypatch.setattr(kernels_step, "SCRATCH_SPRINGS", model.spring_count - 1)
        solver, control, state = _scene(lambda m: solver_cls(m, execution="serial", **options), model)
        assert solver.bundled is fits
        results.append(positions(run(solver, control, 200, state)))
    assert np.array_equal(results[0], results[1])
    assert np.array_equal(results[2], results[3])
    moved = np.abs(results[0] - model.positions).max()
    assert moved > 1e-3
    assert np.abs(results[0] - results[2]).max() <= 1e-9 * moved


def test_attachments_and_moving_anchors_match_numpy_reference(solver_cls):
    """Attached nodes (zero-length springs to moving targets), anchors moved every step through the sparse row
    updates, and a rigid group moved by its frame: the Taichi solver agrees with the numpy twin, which reads the
    whole tables."""
    model = tet_block((0.06, 0.03, 0.03), (6, 3, 3), tissue="liver")
    p = model.positions
    held = np.flatnonzero(p[:, 0] < 1e-9)
    tied = np.flatnonzero(p[:, 0] > 0.059)
    gripped = np.flatnonzero((p[:, 0] > 0.019) & (p[:, 0] < 0.021) & (p[:, 2] > 0.029))
    centre = p[gripped].mean(axis=0)
    finals = {}
    for cls in (solver_cls, ReferenceSolver):
        solver = cls(model)
        control = solver.control()
        control.anchor(held)
        control.attach(tied, p[tied], np.linspace(20.0, 80.0, len(tied)))
        control.anchor(gripped[:2])
        control.attach(gripped[2:], p[gripped[2:]], 30.0)
        control.set_anchor_frame("grip", gripped, p[gripped] - centre)
        a, b = solver.state(), solver.state()
        for k in range(150):
            lift = min(1.0, (k + 1) / 100) * np.array([0.0, 0.0, 0.01])
            control.set_anchor_targets(tied, p[tied] + lift)
            control.set_anchor_targets(held[:3], p[held[:3]] + 0.2 * lift)
            turn = 0.3 * lift[2] / 0.01
            rotation = np.array([[np.cos(turn), -np.sin(turn), 0.0], [np.sin(turn), np.cos(turn), 0.0], [0, 0, 1]])
            control.move_anchor_frame("grip", centre + 0.5 * lift, rotation)
            if k == 100:
                control.attach(tied[:4], p[tied[:4]] + lift, 5.0)  # weaker: only their rows change
            assert solver.step(a, b, control) is None
            a, b = b, a
        finals[cls] = positions(a)
        if cls is solver_cls:  # the device's targets are the host's
            table = solver.anchor_table(control).to_numpy()
            np.testing.assert_allclose(table[:, :3], control.anchor_targets, atol=1e-15)
            np.testing.assert_array_equal(table[:, 3], control.anchor_table()[:, 3])
    moved = np.abs(finals[solver_cls] - p).max()
    assert moved > 3e-3
    assert np.abs(finals[solver_cls] - finals[ReferenceSolver]).max() <= 1e-5 * moved
