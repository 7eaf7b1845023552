"""3Dconnexion SpaceMouse with the ``pyspacemouse`` package (``pip install 'surgsim[haptics]'``; on Linux it reads
the HID device, which needs the hidapi library and a udev rule giving you access).

The cap is a rate controller for one instrument: the further it is deflected, the faster the instrument moves
(inside a dead band it does not). Cap right/left → yaw, forward/back → pitch, pushed down → deeper (pulled up →
back out), twisted → roll. The left button holds the jaw closed (``"primary"``), the right one turns energy on
(``"secondary"``). No force output.

An open-surgery instrument (told by the live loop through :meth:`SpaceMouseDevice.set_free_tools`) moves in the frame
of the view instead: cap right/left → along the image's right, pushed forward → into the view, pulled up → the image's
up; tilted forward/back → turn about the view's right axis, tilted sideways → about the viewing direction, twisted →
roll about the shaft; within ``InstrumentLimits.free_reach_m`` of its start.
"""

from __future__ import annotations

import time

import numpy as np

from surgsim.devices.base import (DeviceReading, DeviceUnavailable, FreeTool, InstrumentLimits, rotation_about,
                                  within_reach)
from surgsim.instrument_command import InstrumentCommand

INSTALL_HINT = "pip install 'surgsim[haptics]' (the pyspacemouse package)"
MAX_STEP_S = 0.1  # a stalled loop must not turn one deflection into a leap


class SpaceMouseDevice:
    name = "spacemouse"
    rate_hz = 60.0

    def __init__(
        self,
        instrument: str,
        *,
        pivot_rate_rad_s: float = 0.8,
        insertion_rate_m_s: float = 0.05,
        roll_rate_rad_s: float = 1.5,
        free_rate_m_s: float = 0.05,
        dead_band: float = 0.08,
        limits: InstrumentLimits = InstrumentLimits(),
        initial: InstrumentCommand | None = None,
    ):
        self.instrument = instrument
        self.pivot_rate_rad_s = pivot_rate_rad_s
        self.insertion_rate_m_s = insertion_rate_m_s
        self.roll_rate_rad_s = roll_rate_rad_s
        self.free_rate_m_s = free_rate_m_s
        self.dead_band = dead_band
        self.limits = limits
        start = initial or InstrumentCommand()
        self._pose = np.array([start.pivot_yaw_rad, start.pivot_pitch_rad, start.insertion_m, start.roll_rad])
        self._device = None
        self._last_read_s: float | None = None
        self._free: FreeTool | None = None
        self._free_pose: tuple[np.ndarray, np.ndarray] | None = None

    def set_free_tools(self, tools) -> None:
        """Drive this device's instrument as an open-surgery tool when ``tools`` (name → FreeTool) names it."""
        self._free = tools.get(self.instrument)
        if self._free is not None:
            self._free_pose = (self._free.position_m.copy(), self._free.rotation.copy())

    def open(self) -> None:
        try:
            import pyspacemouse
        except ImportError:
            raise DeviceUnavailable(f"the SpaceMouse driver is not installed: {INSTALL_HINT}.") from None
        except OSError as error:  # the hidapi shared library is missing
            raise DeviceUnavailable(f"the SpaceMouse driver could not load hidapi ({error}).") from None
        try:
            device = pyspacemouse.open()
        except Exception as error:
            raise DeviceUnavailable(f"no SpaceMouse could be opened: {error}.") from None
        if not device:
            raise DeviceUnavailable("no SpaceMouse found: check that it is plugged in and that a udev rule lets you "
                                    "read it.")
        self._device = device
        self._last_read_s = time.perf_counter()

    def _deflection(self, value: float) -> float:
        """Cap deflection in -1..1 with the dead band removed (and the rest rescaled to start from 0)."""
        magnitude = abs(value) - self.dead_band
        return float(np.sign(value) * magnitude / (1.0 - self.dead_band)) if magnitude > 0 else 0.0

    def read(self) -> DeviceReading:
        state = self._device.read()
        now = time.perf_counter()
        dt = min(max(now - self._last_read_s, 0.0), MAX_STEP_S)
        self._last_read_s = now
        pressed = list(getattr(state, "buttons", []) or [])
        buttons = frozenset(name for index, name in enumerate(("primary", "secondary"))
                            if index < len(pressed) and pressed[index])
        if self._free is not None:
            command = self._free_command(state, dt, buttons)
            return DeviceReading(time_s=now, commands={self.instrument: command}, buttons=buttons,
                                 active_instrument=self.instrument)
        rates = np.array([
            self._deflection(state.x) * self.pivot_rate_rad_s,
            self._deflection(state.y) * self.pivot_rate_rad_s,
            -self._deflection(state.z) * self.insertion_rate_m_s,
            self._deflection(state.yaw) * self.roll_rate_rad_s,
        ])
        lim = self.limits
        low = np.array([-lim.pivot_yaw_rad, -lim.pivot_pitch_rad, lim.insertion_min_m, -lim.roll_rad])
        high = np.array([lim.pivot_yaw_rad, lim.pivot_pitch_rad, lim.insertion_max_m, lim.roll_rad])
        self._pose = np.clip(self._pose + rates * dt, low, high)
        command = InstrumentCommand(
            pivot_yaw_rad=float(self._pose[0]), pivot_pitch_rad=float(self._pose[1]),
            insertion_m=float(self._pose[2]), roll_rad=float(self._pose[3]),
            jaw=1.0 if "primary" in buttons else 0.0, energy="secondary" in buttons,
        )
        return DeviceReading(time_s=now, commands={self.instrument: command}, buttons=buttons,
                             active_instrument=self.instrument)

    def _free_command(self, state, dt: float, buttons: frozenset[str]):
        view = self._free.view
        right, up, back = view[:, 0], view[:, 1], view[:, 2]
        position, rotation = self._free_pose
        velocity = (self._deflection(state.x) * right - self._deflection(state.y) * back
                    + self._deflection(state.z) * up) * self.free_rate_m_s
        start = self._free.position_m
        position = start + within_reach(position + velocity * dt - start, self.limits.free_reach_m)
        turn = (rotation_about(right, self._deflection(state.pitch) * self.roll_rate_rad_s * dt)
                @ rotation_about(-back, self._deflection(state.roll) * self.roll_rate_rad_s * dt))
        roll = rotation_about((0.0, 0.0, 1.0), self._deflection(state.yaw) * self.roll_rate_rad_s * dt)
        u, _, vt = np.linalg.svd(turn @ rotation @ roll)  # keep it a rotation as small turns pile up
        rotation = u @ vt
        self._free_pose = (position, rotation)
        return FreeTool.command(position, rotation, jaw=1.0 if "primary" in buttons else 0.0,
                                energy="secondary" in buttons)

    def write_force(self, force_n: np.ndarray) -> None:
        """A SpaceMouse has no motors."""

    def close(self) -> None:
        if self._device is not None:
            self._device.close()
            self._device = None
