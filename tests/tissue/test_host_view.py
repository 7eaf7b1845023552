"""Host views of Taichi ndarrays: the same numbers as ``to_numpy`` and live with the device array on the CPU."""

from __future__ import annotations

import numpy as np
import pytest

from surgsim.tissue.host_view import HostView, host_view


@pytest.mark.parametrize("make, values", [
    (lambda ti: ti.Vector.ndarray(3, ti.f64, shape=7), np.arange(21.0).reshape(7, 3) * 0.5),
    (lambda ti: ti.ndarray(ti.i32, shape=5), np.array([3, -1, 4, 1, -5], dtype=np.int32)),
    (lambda ti: ti.ndarray(ti.f64, shape=(4, 6)), np.linspace(-1.0, 1.0, 24).reshape(4, 6)),
    (lambda ti: ti.Vector.ndarray(4, ti.f64, shape=3), np.arange(12.0).reshape(3, 4) - 6.0),
])
def test_a_host_view_reads_what_the_device_array_holds_and_follows_its_changes(taichi_cpu, make, values):
    import taichi as ti

    array = make(ti)
    array.from_numpy(values)
    view = host_view(array)
    assert view is not None and view.shape == values.shape and view.dtype == values.dtype
    np.testing.assert_array_equal(view, array.to_numpy())
    array.from_numpy(values * 2)  # written by a Taichi kernel: the view sees it without another call
    np.testing.assert_array_equal(view, values * 2)
    copy = HostView(array).copy()
    array.from_numpy(values * 3)
    np.testing.assert_array_equal(copy, values * 2)  # a copy does not follow


def test_state_reads_go_through_the_host_view_and_match_to_numpy(taichi_cpu):
    from surgsim.mesh.primitives import tet_block
    from surgsim.tissue.solver import TissueSolver

    solver = TissueSolver(tet_block((0.02, 0.02, 0.02), (2, 2, 2), tissue="liver"))
    control = solver.control()
    control.anchor(box=((-1, -1, 0.019), (1, 1, 1)))
    s0, s1 = solver.state(), solver.state()
    for _ in range(5):
        solver.step(s0, s1, control)
        s0, s1 = s1, s0
    np.testing.assert_array_equal(s0.positions_numpy(), s0.positions.to_numpy())
    np.testing.assert_array_equal(s0.velocities_numpy(), s0.velocities.to_numpy())
    arrays = s0.numpy()
    np.testing.assert_array_equal(arrays.forces, s0.forces.to_numpy())
    assert not np.shares_memory(s0.positions_numpy(), s0.positions_numpy())
