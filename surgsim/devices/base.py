"""The Device protocol and what a device reports.

Every input device — mouse and keyboard, a recorded trace, a scripted haptic arm in tests, a Touch, a Force
Dimension arm, a SpaceMouse — is opened, read once per tick, sent a force, and closed the same way. A reading
carries either a 6-DOF pose (haptic arms: ``position_m`` and ``rotation``) or ready-made commands
(:class:`~surgsim.instrument_command.InstrumentCommand` for a laparoscopic instrument, :class:`~surgsim.instrument_command.FreePoseCommand` for
an open-surgery one; mouse and keyboard, replay, SpaceMouse), plus buttons and UI actions.

Open-surgery instruments (no trocar) are moved in the frame of the view: a device that drives them is told each one's
start pose and the camera's axes (:class:`FreeTool`) by the live loop, through ``set_free_tools`` when it has one.

Button names are shared by all devices: ``"primary"`` (closes the jaw) and ``"secondary"`` (energy).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Mapping, Protocol, runtime_checkable

import numpy as np

from surgsim.instrument_command import Command, FreePoseCommand
from surgsim.view import camera
from surgsim.view.camera import CameraPose


class DeviceUnavailable(RuntimeError):
    """The device cannot be opened: its driver package is missing, it is unplugged, or its SDK refused.

    The message says which and what to do; :func:`surgsim.devices.open_device` prints it and falls back to the
    mouse and keyboard.
    """


class UiAction(str, enum.Enum):
    TOGGLE_PAUSE = "toggle_pause"
    RESTART = "restart"
    QUIT = "quit"


@dataclass(frozen=True)
class InstrumentLimits:
    """The range of every command: pivots and roll within ± the value [rad], insertion within min..max [m]."""

    pivot_yaw_rad: float = 1.2
    pivot_pitch_rad: float = 1.2
    roll_rad: float = math.pi
    insertion_min_m: float = 0.0
    insertion_max_m: float = 0.35
    free_reach_m: float = 0.3
    """How far an open-surgery instrument may be moved from its start position [m]."""


def view_axes(camera_pose: CameraPose) -> np.ndarray:
    """The camera's axes in the scene frame [3, 3] (columns: the image's right, its up, backward toward the viewer)."""
    right, up, forward = camera.camera_basis(camera_pose)
    return np.column_stack([right, up, -forward])


@dataclass(frozen=True)
class FreeTool:
    """An open-surgery instrument as a device sees it.

    ``position_m`` [3] and ``rotation`` [3, 3] (columns: hinge pin x, jaw opening y, shaft z): its distal frame when
    the session starts, in the scene frame; ``view`` [3, 3]: the camera's axes in the scene frame (columns: the
    image's right, its up, and backward, toward the viewer), the frame in which the device's motions are made: a device
    axis x (right), y (up), z (toward the user) moves the tool along the view's.
    """

    position_m: np.ndarray
    rotation: np.ndarray
    view: np.ndarray

    @classmethod
    def seen_from(cls, camera_pose: CameraPose, position_m, rotation) -> "FreeTool":
        return cls(np.array(position_m, dtype=np.float64), np.array(rotation, dtype=np.float64),
                   view_axes(camera_pose))

    @staticmethod
    def command(position_m, rotation, *, jaw: float, energy: bool) -> FreePoseCommand:
        """The free pose command for the distal frame at ``position_m`` [m] turned to ``rotation`` (3×3)."""
        from surgsim.instruments.builder import (
            quaternion_from_matrix,  # here: devices load without PyBullet
        )

        return FreePoseCommand(position_m=[float(v) for v in position_m],
                               orientation_xyzw=list(quaternion_from_matrix(rotation)), jaw=float(jaw),
                               energy=bool(energy))


def rotation_about(axis, angle_rad: float) -> np.ndarray:
    """3×3 rotation by ``angle_rad`` about the unit ``axis`` (Rodrigues)."""
    x, y, z = (float(v) for v in axis)
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + math.sin(angle_rad) * k + (1.0 - math.cos(angle_rad)) * (k @ k)


def within_reach(offset: np.ndarray, reach_m: float) -> np.ndarray:
    """``offset`` [m] shortened to at most ``reach_m``."""
    length = float(np.linalg.norm(offset))
    return offset * (reach_m / length) if length > reach_m else offset


@dataclass(frozen=True)
class CameraMotion:
    """Camera moves asked for since the last reading: orbit [rad], zoom factor (< 1 closer), pan [m]."""

    orbit_yaw_rad: float = 0.0
    orbit_pitch_rad: float = 0.0
    zoom_factor: float = 1.0
    pan_right_m: float = 0.0
    pan_up_m: float = 0.0

    @property
    def is_still(self) -> bool:
        return self == CameraMotion()

    def apply(self, pose: CameraPose) -> CameraPose:
        """``pose`` moved by this motion."""
        if self.is_still:
            return pose
        pose = camera.orbit(pose, self.orbit_yaw_rad, self.orbit_pitch_rad)
        pose = camera.zoom(pose, self.zoom_factor)
        return camera.pan(pose, self.pan_right_m, self.pan_up_m)


@dataclass(frozen=True)
class DeviceReading:
    """One sample of a device.

    - ``time_s`` [s]: when it was taken (the device's clock; replay: simulated time)
    - ``position_m`` [3] [m] and ``rotation`` [3, 3] (columns: the stylus frame's axes): a 6-DOF pose, in the
      device's own frame, or None
    - ``commands``: instrument name → command, for devices that drive instruments directly (else empty)
    - ``buttons``: the names of the buttons held
    - ``actions``: UI actions since the last reading (pause, restart, quit)
    - ``active_instrument``: the instrument the device drives now, when it drives one at a time
    - ``camera_mode`` / ``camera_motion``: whether the device moves the camera now, and how far since last time
    """

    time_s: float = 0.0
    position_m: np.ndarray | None = None
    rotation: np.ndarray | None = None
    commands: Mapping[str, Command] = field(default_factory=dict)
    buttons: frozenset[str] = frozenset()
    actions: tuple[UiAction, ...] = ()
    active_instrument: str | None = None
    camera_mode: bool = False
    camera_motion: CameraMotion = CameraMotion()


@runtime_checkable
class Device(Protocol):
    name: str
    rate_hz: float
    """How often the device wants to be read [Hz] (1000 for haptic arms, the frame rate for the mouse)."""

    def open(self) -> None:
        """Connect; raises :class:`DeviceUnavailable` with a clear message when it cannot."""

    def read(self) -> DeviceReading:
        """The current sample (never blocks for long: the haptic loop calls it every millisecond)."""

    def write_force(self, force_n: np.ndarray) -> None:
        """Display ``force_n`` [3] [N] in the device's frame (ignored by devices without motors)."""

    def close(self) -> None:
        """Disconnect (zeroing any force first); safe to call twice."""
