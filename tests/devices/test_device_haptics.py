"""Force rendering: virtual coupling signs and saturation, and the 1 kHz haptic thread on a scripted arm."""

from __future__ import annotations

import time

import numpy as np
import pytest

from surgsim.devices.haptic_thread import HapticThread
from surgsim.devices.simulated import SimulatedHaptic
from surgsim.devices.virtual_coupling import ProxyState, VirtualCoupling, saturate
from surgsim.errors import InputError

COUPLING = VirtualCoupling(stiffness_n_per_m=500.0, damping_n_s_per_m=0.0, max_force_n=3.0)
DEVICE_AT = np.array([0.01, 0.02, 0.03])


def test_the_user_feels_the_opposite_of_what_the_tool_pushes_into_tissue():
    pushing = np.array([0.0, 0.0, -1.5])  # the tool presses down on the tissue with 1.5 N
    proxy = COUPLING.proxy_held_by(DEVICE_AT, pushing)
    np.testing.assert_allclose(COUPLING.tool_force(DEVICE_AT, proxy), pushing)
    np.testing.assert_allclose(COUPLING.device_force(DEVICE_AT, proxy), -pushing)


def test_the_device_force_saturates_but_keeps_its_direction():
    pushing = np.array([30.0, 0.0, -40.0])
    force = COUPLING.device_force(DEVICE_AT, COUPLING.proxy_held_by(DEVICE_AT, pushing))
    assert np.linalg.norm(force) == pytest.approx(3.0)
    np.testing.assert_allclose(force / 3.0, -pushing / 50.0)


def test_damping_resists_relative_motion_and_nan_gives_zero_force():
    coupling = VirtualCoupling(stiffness_n_per_m=100.0, damping_n_s_per_m=2.0, max_force_n=10.0)
    force = coupling.device_force(DEVICE_AT, DEVICE_AT, device_velocity_m_s=[0.5, 0, 0])
    np.testing.assert_allclose(force, [-1.0, 0, 0])
    np.testing.assert_array_equal(coupling.device_force([np.nan, 0, 0], DEVICE_AT), np.zeros(3))
    np.testing.assert_array_equal(saturate(np.array([np.inf, 0, 0]), 1.0), np.zeros(3))


def test_coupling_parameters_are_checked():
    with pytest.raises(InputError, match="stiffness"):
        VirtualCoupling(stiffness_n_per_m=-1.0)
    with pytest.raises(InputError, match="max_force_n"):
        VirtualCoupling(max_force_n=0.0)


def wait_for(condition, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    return condition()


def test_the_haptic_thread_writes_the_coupling_force_to_the_device():
    pushing = np.array([0.0, -2.0, 0.0])
    arm = SimulatedHaptic([DEVICE_AT])
    arm.open()
    proxy = ProxyState(COUPLING.proxy_held_by(DEVICE_AT, pushing))
    with HapticThread(arm, COUPLING, lambda: proxy) as loop:
        assert wait_for(lambda: loop.ticks >= 50)
        assert loop.latest_reading is not None
    assert loop.error is None and not loop.running
    forces = arm.forces_array()
    assert len(forces) >= 50
    np.testing.assert_allclose(forces[:-1], np.tile(-pushing, (len(forces) - 1, 1)), atol=1e-9)
    np.testing.assert_array_equal(forces[-1], np.zeros(3))  # released when stopped
    assert loop.measured_rate_hz > 0


def test_without_a_tool_to_couple_to_the_force_is_zero():
    arm = SimulatedHaptic(np.linspace([0, 0, 0], [0.1, 0, 0], 20))
    with HapticThread(arm, COUPLING, lambda: None) as loop:
        assert wait_for(lambda: loop.ticks >= 20)
    assert np.abs(arm.forces_array()).max() == 0.0


def test_a_failing_device_stops_the_loop_and_is_released():
    class BrokenArm(SimulatedHaptic):
        def read(self):
            raise OSError("USB unplugged")

    arm = BrokenArm([DEVICE_AT])
    loop = HapticThread(arm, COUPLING, lambda: None)
    loop.start()
    assert wait_for(lambda: not loop.running)
    loop.stop()
    assert isinstance(loop.error, OSError)
    np.testing.assert_array_equal(arm.forces_array(), [[0.0, 0.0, 0.0]])


def test_the_scripted_arm_plays_its_poses_then_holds_the_last():
    rotations = np.tile(np.eye(3), (2, 1, 1))
    arm = SimulatedHaptic([[0, 0, 0], [1, 2, 3]], rotations=rotations, buttons=[frozenset(), {"primary"}])
    readings = [arm.read() for _ in range(4)]
    np.testing.assert_array_equal([r.position_m for r in readings], [[0, 0, 0], [1, 2, 3], [1, 2, 3], [1, 2, 3]])
    assert readings[1].buttons == {"primary"}
    np.testing.assert_array_equal(readings[3].rotation, np.eye(3))
