"""The awake window (TissueControl.set_awake): the nodes outside it rest exactly, the nodes inside move exactly as with
every node awake, and the kernel and its NumPy twin agree on both."""

from __future__ import annotations

import numpy as np
import pytest

from surgsim.mesh.combine import combine_models
from surgsim.mesh.primitives import tet_block
from surgsim.tissue.reference import ReferenceSolver
from surgsim.tissue.solver import TissueSolver

from physics_helpers import positions, run


def _two_organs():
    """Two blocks side by side (each will hang from its top face)."""
    a = tet_block((0.03, 0.02, 0.02), (3, 2, 2), tissue="liver")
    b = tet_block((0.02, 0.02, 0.04), (2, 2, 4), origin_m=(0.06, 0.0, 0.0), tissue="gallbladder")
    combined = combine_models([("first", a), ("second", b)])
    return combined.model, combined.node_ranges


def _velocities(state):
    return state.velocities_numpy() if hasattr(state, "velocities_numpy") else state.velocities


def _hang(solver, ranges):
    control = solver.control()
    x = solver.model.positions
    for organ in ranges.values():
        ids = np.asarray(organ)
        top = ids[x[ids, 2] >= x[ids, 2].max() - 1e-9]
        control.anchor(top)
    return control


@pytest.mark.parametrize("viscoelastic", ["off", "from_material"])
def test_resting_nodes_stay_and_awake_ones_move_as_with_all_awake(solver_cls, viscoelastic):
    model, ranges = _two_organs()
    second = ranges["second"]
    results = {}
    for window in ("all", "second"):
        solver = solver_cls(model, viscoelastic=viscoelastic)
        control = _hang(solver, ranges)
        if window == "second":
            control.set_awake(second.start, second.stop)
        state = run(solver, control, 40)
        results[window] = positions(state).copy(), _velocities(state).copy()
        if viscoelastic == "from_material":
            lengths = state.branch_lengths_numpy() if hasattr(state, "branch_lengths_numpy") else state.branch_lengths
            results[window] += (np.array(lengths),)
    x_all, v_all = results["all"][:2]
    x_win, v_win = results["second"][:2]
    first = np.asarray(ranges["first"])
    # The first organ sagged under gravity when awake, and rests where it started when not.
    assert np.abs(x_all[first] - model.positions[first]).max() > 1e-4
    assert np.array_equal(x_win[first], model.positions[first])
    assert not np.any(v_win[first])
    # The second one moves the same, bit for bit: nothing joins it to the first one.
    assert np.array_equal(x_win[second.start:second.stop], x_all[second.start:second.stop])
    assert np.array_equal(v_win[second.start:second.stop], v_all[second.start:second.stop])
    if viscoelastic == "from_material":
        lengths_all, lengths_win = results["all"][2], results["second"][2]
        window = solver_cls(model).control().set_awake(second.start, second.stop)
        inside = slice(window.first_spring, window.end_spring)
        assert np.array_equal(lengths_win[inside], lengths_all[inside])
        assert np.array_equal(lengths_win[: window.first_spring], model.rest_lengths[: window.first_spring])


def test_the_kernel_and_the_twin_agree_with_a_window(taichi_cpu):
    model, ranges = _two_organs()
    first = ranges["first"]
    out = []
    for cls in (TissueSolver, ReferenceSolver):
        solver = cls(model)
        control = _hang(solver, ranges)
        control.set_awake(first.start, first.stop)
        state = run(solver, control, 30)
        out.append((positions(state), _velocities(state)))
    assert np.abs(out[0][0] - out[1][0]).max() < 1e-12
    assert np.abs(out[0][1] - out[1][1]).max() < 1e-9


def test_a_window_that_cuts_an_organ_is_refused(taichi_cpu):
    model, ranges = _two_organs()
    control = TissueSolver(model).control()
    with pytest.raises(ValueError, match="cut a spring"):
        control.set_awake(ranges["first"].start + 1, ranges["second"].stop)
    window = control.set_awake(ranges["second"].start, ranges["second"].stop)
    assert (window.first_spring, window.end_spring) == (int(np.flatnonzero(model.spring_region == 1)[0]),
                                                        model.spring_count)
    assert (window.first_tet, window.end_tet) == (int(np.flatnonzero(model.tet_region == 1)[0]), model.tet_count)
