"""Devices driving open-surgery (free 6-DOF) instruments: motions are made in the frame of the view."""

from __future__ import annotations

import math

import numpy as np
import pytest

from surgsim.devices import mouse_keyboard, spacemouse
from surgsim.devices.base import DeviceReading, FreeTool, InstrumentLimits, rotation_about
from surgsim.devices.mouse_keyboard import FREE_MAPPING, MouseKeyboard, MouseKeyboardGains
from surgsim.devices.spacemouse import SpaceMouseDevice
from surgsim.errors import InputError
from surgsim.instruments.pose import rotation_from_quaternion
from surgsim.live import pose_to_free_command
from surgsim.view.camera import laparoscope_pose
from surgsim.view.input import Key, MouseMove, Wheel
from surgsim.instrument_command import FreePoseCommand, InstrumentCommand

# The camera looks along +y from y = -0.3 m: image right = +x, image up = +z, toward the viewer = -y.
CAMERA = laparoscope_pose((0.0, -0.3, 0.05), (0.0, 0.0, 0.05))
START = np.array([0.01, 0.0, 0.08])
SHAFT_DOWN = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])  # x hinge, y opening, z down
TOOL = FreeTool.seen_from(CAMERA, START, SHAFT_DOWN)
GAINS = MouseKeyboardGains(free_move_m_per_px=0.0001, free_turn_rad_per_px=0.001, roll_rad_per_px=0.004,
                           insertion_m_per_notch=0.002)


def drag(dx: float, dy: float = 0.0, *modifiers: str) -> MouseMove:
    return MouseMove(100 + dx, 100 + dy, dx, dy, frozenset({"right"}), frozenset(modifiers))


def pose_of(command: FreePoseCommand) -> tuple[np.ndarray, np.ndarray]:
    return np.array(command.position_m), rotation_from_quaternion(command.orientation_xyzw)


def test_the_view_frame_is_the_cameras():
    np.testing.assert_allclose(TOOL.view, [[1, 0, 0], [0, 0, -1], [0, 1, 0]], atol=1e-12)  # columns right, up, back


def test_a_stylus_pose_maps_onto_the_tool_in_the_view_frame():
    neutral = pose_to_free_command(DeviceReading(position_m=np.zeros(3)), TOOL)
    position, rotation = pose_of(neutral)
    np.testing.assert_allclose(position, START, atol=1e-12)
    np.testing.assert_allclose(rotation, SHAFT_DOWN, atol=1e-12)
    assert neutral.jaw == 0.0 and not neutral.energy
    # right 1 cm, up 2 cm, toward the user 3 cm; stylus turned 0.3 rad about its up axis; button held
    turn = rotation_about((0.0, 1.0, 0.0), 0.3)
    moved = pose_to_free_command(DeviceReading(position_m=np.array([0.01, 0.02, 0.03]), rotation=turn,
                                               buttons=frozenset({"primary", "secondary"})), TOOL)
    position, rotation = pose_of(moved)
    np.testing.assert_allclose(position, START + [0.01, -0.03, 0.02], atol=1e-12)
    np.testing.assert_allclose(rotation, rotation_about((0.0, 0.0, 1.0), 0.3) @ SHAFT_DOWN, atol=1e-9)
    assert moved.jaw == 1.0 and moved.energy
    assert pose_to_free_command(DeviceReading(), TOOL) is None


@pytest.fixture
def device() -> MouseKeyboard:
    device = MouseKeyboard(["lap", "open"], gains=GAINS)
    device.set_free_tools({"open": TOOL})
    device.open()
    device.handle([Key("2", True), Key("2", False)])
    return device


def test_the_docstring_documents_every_free_mapping_row():
    for control, effect in FREE_MAPPING:
        assert control in mouse_keyboard.__doc__ and effect in mouse_keyboard.__doc__


def test_free_and_trocar_instruments_get_their_own_commands(device):
    reading = device.read()
    assert isinstance(reading.commands["lap"], InstrumentCommand)
    assert isinstance(reading.commands["open"], FreePoseCommand)
    position, rotation = pose_of(reading.commands["open"])
    np.testing.assert_allclose(position, START, atol=1e-12)
    np.testing.assert_allclose(rotation, SHAFT_DOWN, atol=1e-12)


def test_dragging_moves_the_tool_across_the_view_and_the_wheel_along_its_shaft(device):
    device.handle([drag(100, -50), Wheel(3)])
    position, rotation = pose_of(device.command("open"))
    np.testing.assert_allclose(position, START + [0.01, 0.0, 0.005] + 3 * 0.002 * SHAFT_DOWN[:, 2], atol=1e-12)
    np.testing.assert_allclose(rotation, SHAFT_DOWN, atol=1e-12)
    assert device.command("lap").pivot_yaw_rad == 0.0  # the trocar instrument did not move


def test_shift_drag_rolls_and_ctrl_drag_turns_about_the_distal_end(device):
    device.handle([drag(50, 0, "shift")])
    position, rotation = pose_of(device.command("open"))
    np.testing.assert_allclose(position, START, atol=1e-12)
    np.testing.assert_allclose(rotation, SHAFT_DOWN @ rotation_about((0, 0, 1), 50 * 0.004), atol=1e-9)
    device.handle([drag(0, -100, "ctrl")])  # up: about the view's right axis (+x), positive
    _, turned = pose_of(device.command("open"))
    np.testing.assert_allclose(turned, rotation_about((1, 0, 0), 0.1) @ rotation, atol=1e-9)


def test_the_tool_stays_within_reach_and_restart_brings_it_back(device):
    device.handle([drag(1e9, 0), drag(math.nan, 0), Wheel(math.nan), Key("space", True), Key("space", False)])
    position, _ = pose_of(device.command("open"))
    assert np.linalg.norm(position - START) == pytest.approx(InstrumentLimits().free_reach_m)
    assert device.command("open").jaw == 1.0
    device.handle([Key("r", True), Key("r", False)])
    restarted = device.command("open")
    np.testing.assert_allclose(pose_of(restarted)[0], START, atol=1e-12)
    assert restarted.jaw == 0.0


def test_free_tools_must_be_known_instruments():
    with pytest.raises(InputError, match="unknown instruments: nope"):
        MouseKeyboard(["lap"]).set_free_tools({"nope": TOOL})


def test_the_spacemouse_moves_a_free_tool_at_its_rate(monkeypatch):
    class Cap:
        x, y, z, roll, pitch, yaw, buttons = 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, [1, 0]

        def read(self):
            return self

    device = SpaceMouseDevice("open", dead_band=0.0, free_rate_m_s=0.05)
    device.set_free_tools({"open": TOOL})
    device._device, device._last_read_s = Cap(), 0.0  # as if opened at t = 0
    clock = iter([0.05, 0.10])
    monkeypatch.setattr(spacemouse.time, "perf_counter", lambda: next(clock))
    device.read()
    command = device.read().commands["open"]
    position, rotation = pose_of(command)
    np.testing.assert_allclose(position, START + [0.05 * 0.1, 0.0, 0.0], atol=1e-12)  # right, 0.1 s at full rate
    np.testing.assert_allclose(rotation, SHAFT_DOWN, atol=1e-9)
    assert command.jaw == 1.0


def test_after_the_camera_moves_drags_follow_the_new_view_from_where_the_tool_is(device):
    device.handle([drag(100, 0)])
    moved, _ = pose_of(device.command("open"))
    # The view turned a quarter about +z: image right is now +y.
    device.set_view(np.column_stack([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))
    device.handle([drag(100, 0)])
    position, _ = pose_of(device.command("open"))
    np.testing.assert_allclose(position, moved + [0.0, 0.01, 0.0], atol=1e-12)
