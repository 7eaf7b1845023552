"""Mouse and keyboard: synthetic viewer events move the instrument commands as the mapping documents."""

from __future__ import annotations

import math

import pytest

from surgsim.devices import mouse_keyboard
from surgsim.devices.base import InstrumentLimits, UiAction
from surgsim.devices.mouse_keyboard import MAPPING, MouseKeyboard, MouseKeyboardGains
from surgsim.errors import InputError
from surgsim.instrument_command import InstrumentCommand
from surgsim.view.input import FocusChange, Key, MouseButton, MouseMove, Wheel

GAINS = MouseKeyboardGains(pivot_rad_per_px=0.001, roll_rad_per_px=0.004, insertion_m_per_notch=0.002)
INSTRUMENTS = ("left_grasper", "right_scissors", "hook")


def drag(dx: float, dy: float = 0.0, *, shift: bool = False, button: str = "right") -> MouseMove:
    return MouseMove(100 + dx, 100 + dy, dx, dy, frozenset({button}), frozenset({"shift"}) if shift else frozenset())


def press(key: str) -> list[Key]:
    return [Key(key, True), Key(key, False)]


@pytest.fixture
def device() -> MouseKeyboard:
    device = MouseKeyboard(INSTRUMENTS, gains=GAINS)
    device.open()
    return device


def test_the_docstring_documents_every_mapping_row():
    for control, effect in MAPPING:
        assert control in mouse_keyboard.__doc__ and effect in mouse_keyboard.__doc__


def test_dragging_pivots_the_active_instrument_by_gain_times_pixels(device):
    device.handle([drag(120), drag(0, -50)])
    command = device.read().commands["left_grasper"]
    assert command.pivot_yaw_rad == pytest.approx(120 * 0.001)
    assert command.pivot_pitch_rad == pytest.approx(50 * 0.001)  # dragging up raises the pitch
    assert device.read().commands["right_scissors"].pivot_yaw_rad == 0.0


def test_moving_without_the_drag_button_does_nothing(device):
    device.handle([MouseMove(0, 0, 300, 300), drag(300, button="left")])
    assert device.command("left_grasper").pivot_yaw_rad == 0.0


def test_wheel_inserts_and_shift_drag_rolls(device):
    device.handle([Wheel(3), Wheel(-1), drag(25, shift=True)])
    command = device.command("left_grasper")
    assert command.insertion_m == pytest.approx(2 * 0.002)
    assert command.roll_rad == pytest.approx(25 * 0.004)
    assert command.pivot_yaw_rad == 0.0  # a shift-drag rolls only


def test_space_latches_the_jaw_and_the_left_button_holds_it(device):
    device.handle(press("space"))
    assert device.command("left_grasper").jaw == 1.0
    device.handle(press("space"))
    assert device.command("left_grasper").jaw == 0.0
    device.handle([MouseButton("left", True)])
    assert device.read().commands["left_grasper"].jaw == 1.0
    device.handle([MouseButton("left", False)])
    assert device.command("left_grasper").jaw == 0.0


def test_number_keys_switch_instrument_and_each_keeps_its_command(device):
    device.handle(press("space") + [drag(100)])
    device.handle(press("2") + [drag(-40)])
    reading = device.read()
    assert reading.active_instrument == "right_scissors"
    assert reading.commands["left_grasper"].jaw == 1.0  # still holding while the other hand works
    assert reading.commands["left_grasper"].pivot_yaw_rad == pytest.approx(0.1)
    assert reading.commands["right_scissors"].pivot_yaw_rad == pytest.approx(-0.04)
    device.handle(press("3"))
    assert device.active_instrument == "hook"


def test_a_number_without_an_instrument_is_ignored():
    device = MouseKeyboard(["only"])
    device.handle(press("3"))
    assert device.active_instrument == "only"


def test_energy_is_on_while_e_is_held(device):
    device.handle([Key("e", True), Key("e", True, repeat=True)])
    assert device.command("left_grasper").energy is True
    device.handle([Key("e", False)])
    assert device.command("left_grasper").energy is False


def test_losing_focus_releases_held_jaw_and_energy_but_not_the_latch(device):
    device.handle([MouseButton("left", True), Key("e", True)] + press("2") + press("space") + [FocusChange(False)])
    assert device.command("left_grasper").jaw == 0.0
    assert device.command("left_grasper").energy is False
    assert device.command("right_scissors").jaw == 1.0


def test_absurd_input_is_clamped_and_non_finite_input_ignored(device):
    limits = InstrumentLimits()
    device.handle([drag(1e9, -1e9), Wheel(1e9), drag(-1e9, shift=True)])
    command = device.command("left_grasper")
    assert command.pivot_yaw_rad == limits.pivot_yaw_rad
    assert command.pivot_pitch_rad == limits.pivot_pitch_rad
    assert command.insertion_m == limits.insertion_max_m
    assert command.roll_rad == -limits.roll_rad
    device.handle([Wheel(-1e12), drag(math.nan, math.inf), Wheel(math.nan)])
    command = device.command("left_grasper")
    assert command.insertion_m == limits.insertion_min_m
    assert command.pivot_yaw_rad == limits.pivot_yaw_rad
    assert all(math.isfinite(v) for v in command.model_dump().values() if isinstance(v, float))


def test_ui_keys_become_actions_once(device):
    device.handle(press("p") + press("escape"))
    assert device.read().actions == (UiAction.TOGGLE_PAUSE, UiAction.QUIT)
    assert device.read().actions == ()


def test_restart_returns_instruments_to_their_start():
    start = InstrumentCommand(pivot_yaw_rad=0.1, pivot_pitch_rad=0.0, insertion_m=0.05, roll_rad=0.0, jaw=0.0,
                              energy=False)
    device = MouseKeyboard(["g"], initial={"g": start})
    device.handle([drag(200), Wheel(5)] + press("space"))
    assert device.command("g") != start
    device.handle(press("r"))
    assert device.read().actions == (UiAction.RESTART,)
    assert device.command("g") == start


def test_camera_mode_turns_drags_and_wheel_into_camera_motion(device):
    device.handle(press("c") + [drag(10, 20), drag(5, 0, shift=True), Wheel(2), MouseButton("left", True)])
    reading = device.read()
    assert reading.camera_mode
    motion = reading.camera_motion
    gains = device.gains
    assert motion.orbit_yaw_rad == pytest.approx(-10 * gains.camera_orbit_rad_per_px)
    assert motion.orbit_pitch_rad == pytest.approx(20 * gains.camera_orbit_rad_per_px)
    assert motion.pan_right_m == pytest.approx(-5 * gains.camera_pan_m_per_px)
    assert motion.zoom_factor == pytest.approx(gains.camera_zoom_per_notch ** 2)
    assert reading.commands["left_grasper"] == MouseKeyboard(INSTRUMENTS).command("left_grasper")
    assert device.read().camera_motion.is_still  # motion is reported once
    device.handle(press("c"))
    assert not device.read().camera_mode


def test_camera_motion_applies_to_a_pose(device):
    from surgsim.view import camera

    pose = camera.laparoscope_pose([0, 0.3, 0], [0, 0, 0])
    device.handle(press("c") + [Wheel(1)])
    moved = device.read().camera_motion.apply(pose)
    assert moved.eye_m[1] == pytest.approx(0.3 * device.gains.camera_zoom_per_notch)


def test_configuration_errors_are_input_errors():
    with pytest.raises(InputError):
        MouseKeyboard([])
    with pytest.raises(InputError, match="unknown"):
        MouseKeyboard(["a"], initial={"b": InstrumentCommand(pivot_yaw_rad=0, pivot_pitch_rad=0, insertion_m=0,
                                                             roll_rad=0, jaw=0, energy=False)})
