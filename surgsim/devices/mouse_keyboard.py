"""Mouse and keyboard as an instrument device: the viewer's input events become instrument commands.

One instrument is *active* at a time; the mouse moves it about its trocar. The other instruments keep their last
command (a grasper keeps holding tissue while you move the other hand). Mapping (``MAPPING`` holds the same rows):

=====================  ===================================================================================
control                effect
=====================  ===================================================================================
right-drag             pivot the active instrument: right = yaw +, up = pitch +
shift + right-drag     roll the active instrument: right = roll +
wheel                  insertion: up / away = deeper, down = back out
left button (hold)     close the active instrument's jaw while held
space                  toggle the active instrument's jaw closed / open (stays after you switch instrument)
1 / 2 / 3              make instrument 1 / 2 / 3 active (in the procedure's order)
E (hold)               energy (cautery) on the active instrument while held
C                      toggle camera mode: right-drag orbits the laparoscope, shift + right-drag pans, wheel zooms
P                      pause / resume
R                      restart the procedure (instruments back to their start)
Esc                    quit
=====================  ===================================================================================

An open-surgery instrument (no trocar; the live loop hands the device its start pose and the view through
:meth:`MouseKeyboard.set_free_tools`) gets free pose commands instead, moved in the frame of the view
(``FREE_MAPPING``; the other controls are as above):

=====================  ==========================================================================================
control                effect
=====================  ==========================================================================================
right-drag             move the active instrument across the view: right = image right, up = image up
shift + right-drag     roll the active instrument about its shaft: right = roll +
ctrl + right-drag      turn about the distal end: right = about the view's up axis +, up = about its right axis +
wheel                  along the shaft: up / away = forward toward the tip, down = back
=====================  ==========================================================================================

Gains (:class:`MouseKeyboardGains`) are in radians per pixel and metres per pixel or wheel notch; every command is
clamped to :class:`InstrumentLimits` (a free instrument to ``free_reach_m`` from its start), and non-finite input is
ignored. The left button holds and space latches so that a
trainee can either squeeze (hold) or grasp and let go of the mouse button while retracting (latch). Losing the window
focus releases whatever was held, so a jaw never stays closed because its button-up went to another window.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Iterable, Mapping, Sequence

import numpy as np

from surgsim.devices.base import (CameraMotion, DeviceReading, FreeTool, InstrumentLimits, UiAction, rotation_about,
                                  within_reach)
from surgsim.errors import InputError
from surgsim.view.input import FocusChange, InputEvent, Key, MouseButton, MouseMove, Wheel
from surgsim.instrument_command import Command, InstrumentCommand

MAPPING: tuple[tuple[str, str], ...] = (
    ("right-drag", "pivot the active instrument: right = yaw +, up = pitch +"),
    ("shift + right-drag", "roll the active instrument: right = roll +"),
    ("wheel", "insertion: up / away = deeper, down = back out"),
    ("left button (hold)", "close the active instrument's jaw while held"),
    ("space", "toggle the active instrument's jaw closed / open (stays after you switch instrument)"),
    ("1 / 2 / 3", "make instrument 1 / 2 / 3 active (in the procedure's order)"),
    ("E (hold)", "energy (cautery) on the active instrument while held"),
    ("C", "toggle camera mode: right-drag orbits the laparoscope, shift + right-drag pans, wheel zooms"),
    ("P", "pause / resume"),
    ("R", "restart the procedure (instruments back to their start)"),
    ("Esc", "quit"),
)

FREE_MAPPING: tuple[tuple[str, str], ...] = (
    ("right-drag", "move the active instrument across the view: right = image right, up = image up"),
    ("shift + right-drag", "roll the active instrument about its shaft: right = roll +"),
    ("ctrl + right-drag", "turn about the distal end: right = about the view's up axis +, up = about its right axis +"),
    ("wheel", "along the shaft: up / away = forward toward the tip, down = back"),
)

DRAG_BUTTON = "right"
JAW_BUTTON = "left"
_INSTRUMENT_KEYS = ("1", "2", "3")


@dataclass(frozen=True)
class MouseKeyboardGains:
    """How far one pixel or one wheel notch moves things."""

    pivot_rad_per_px: float = 0.002
    roll_rad_per_px: float = 0.005
    insertion_m_per_notch: float = 0.005
    free_move_m_per_px: float = 0.0002
    free_turn_rad_per_px: float = 0.002
    camera_orbit_rad_per_px: float = 0.004
    camera_zoom_per_notch: float = 0.9
    camera_pan_m_per_px: float = 0.0002


@dataclass
class _InstrumentState:
    yaw: float = 0.0
    pitch: float = 0.0
    insertion: float = 0.0
    roll: float = 0.0
    jaw_latched: bool = False

    @classmethod
    def from_command(cls, command: InstrumentCommand) -> "_InstrumentState":
        return cls(command.pivot_yaw_rad, command.pivot_pitch_rad, command.insertion_m, command.roll_rad,
                   command.jaw >= 0.5)


@dataclass
class _FreeState:
    """An open-surgery instrument's commanded distal frame: ``position`` [m], ``rotation`` 3×3."""

    position: np.ndarray
    rotation: np.ndarray
    jaw_latched: bool = False

    @classmethod
    def at_start(cls, tool: FreeTool) -> "_FreeState":
        return cls(tool.position_m.copy(), tool.rotation.copy())


@dataclass
class _CameraAccumulator:
    yaw: float = 0.0
    pitch: float = 0.0
    zoom: float = 1.0
    right: float = 0.0
    up: float = 0.0

    def motion(self) -> CameraMotion:
        return CameraMotion(self.yaw, self.pitch, self.zoom, self.right, self.up)


class MouseKeyboard:
    """A :class:`~surgsim.devices.base.Device` driven by :meth:`handle` (the viewer's events), read once a frame."""

    name = "mouse_keyboard"
    rate_hz = 60.0

    def __init__(
        self,
        instruments: Sequence[str],
        *,
        gains: MouseKeyboardGains = MouseKeyboardGains(),
        limits: InstrumentLimits = InstrumentLimits(),
        initial: Mapping[str, InstrumentCommand] | None = None,
    ):
        if not instruments:
            raise InputError("instruments", "the mouse and keyboard need at least one instrument to drive.")
        self.instruments = tuple(instruments)
        self.gains = gains
        self.limits = limits
        self._initial = dict(initial or {})
        unknown = set(self._initial) - set(self.instruments)
        if unknown:
            raise InputError("initial", f"commands for unknown instruments: {', '.join(sorted(unknown))}.")
        self.camera_mode = False
        self._free_tools: dict[str, FreeTool] = {}
        self._restart_state()
        self._camera = _CameraAccumulator()
        self._actions: list[UiAction] = []

    def _restart_state(self) -> None:
        self.active_instrument = self.instruments[0]
        self._states = {name: (_InstrumentState.from_command(self._initial[name]) if name in self._initial
                               else _InstrumentState()) for name in self.instruments}
        for state in self._states.values():
            self._clamp(state)
        self._states.update({name: _FreeState.at_start(tool) for name, tool in self._free_tools.items()})
        self._jaw_held_by: str | None = None
        self._energy_held_by: str | None = None

    def set_free_tools(self, tools: Mapping[str, FreeTool]) -> None:
        """Drive the instruments named in ``tools`` as open-surgery tools (free pose commands, ``FREE_MAPPING``),
        from their start poses; the live loop calls this for the session's free instruments."""
        unknown = set(tools) - set(self.instruments)
        if unknown:
            raise InputError("free tools", f"unknown instruments: {', '.join(sorted(unknown))}.")
        self._free_tools = dict(tools)
        for name, tool in self._free_tools.items():
            self._states[name] = _FreeState.at_start(tool)

    def set_view(self, view: np.ndarray) -> None:
        """The camera moved: drags move open-surgery tools along the new view's axes (``FreeTool.view``) from where
        they are now."""
        self._free_tools = {name: replace(tool, view=np.array(view, dtype=np.float64))
                            for name, tool in self._free_tools.items()}

    # -- Device protocol ---------------------------------------------------------------------------------------------
    def open(self) -> None:
        """Nothing to connect: events arrive through :meth:`handle`."""

    def close(self) -> None:
        """Nothing to disconnect."""

    def write_force(self, force_n: np.ndarray) -> None:
        """A mouse has no motors; forces are shown on the HUD instead."""

    def read(self) -> DeviceReading:
        """Every instrument's command, and the UI actions and camera motion since the last read."""
        reading = DeviceReading(
            time_s=time.perf_counter(),
            commands={name: self.command(name) for name in self.instruments},
            buttons=frozenset(["primary"] if self._jaw_held_by else []),
            actions=tuple(self._actions),
            active_instrument=self.active_instrument,
            camera_mode=self.camera_mode,
            camera_motion=self._camera.motion(),
        )
        self._actions.clear()
        self._camera = _CameraAccumulator()
        return reading

    # -- commands ----------------------------------------------------------------------------------------------------
    def command(self, instrument: str) -> Command:
        state = self._states[instrument]
        closed = state.jaw_latched or self._jaw_held_by == instrument
        if isinstance(state, _FreeState):
            return FreeTool.command(state.position, state.rotation, jaw=1.0 if closed else 0.0,
                                    energy=self._energy_held_by == instrument)
        return InstrumentCommand(
            pivot_yaw_rad=state.yaw, pivot_pitch_rad=state.pitch, insertion_m=state.insertion, roll_rad=state.roll,
            jaw=1.0 if closed else 0.0, energy=self._energy_held_by == instrument,
        )

    def _clamp(self, state: _InstrumentState) -> None:
        lim = self.limits
        state.yaw = float(np.clip(state.yaw, -lim.pivot_yaw_rad, lim.pivot_yaw_rad))
        state.pitch = float(np.clip(state.pitch, -lim.pivot_pitch_rad, lim.pivot_pitch_rad))
        state.roll = float(np.clip(state.roll, -lim.roll_rad, lim.roll_rad))
        state.insertion = float(np.clip(state.insertion, lim.insertion_min_m, lim.insertion_max_m))

    # -- events ------------------------------------------------------------------------------------------------------
    def handle(self, events: Iterable[InputEvent]) -> None:
        """Apply the viewer's input events, in order."""
        for event in events:
            if isinstance(event, MouseMove):
                self._on_move(event)
            elif isinstance(event, Wheel):
                self._on_wheel(event)
            elif isinstance(event, MouseButton):
                self._on_button(event)
            elif isinstance(event, Key):
                self._on_key(event)
            elif isinstance(event, FocusChange) and not event.focused:
                self._jaw_held_by = self._energy_held_by = None

    def _on_move(self, event: MouseMove) -> None:
        if DRAG_BUTTON not in event.buttons or not (math.isfinite(event.dx_px) and math.isfinite(event.dy_px)):
            return
        shift = "shift" in event.modifiers
        g = self.gains
        if self.camera_mode:
            if shift:  # the scene follows the mouse: the camera slides the other way
                self._camera.right -= event.dx_px * g.camera_pan_m_per_px
                self._camera.up += event.dy_px * g.camera_pan_m_per_px
            else:
                self._camera.yaw -= event.dx_px * g.camera_orbit_rad_per_px
                self._camera.pitch += event.dy_px * g.camera_orbit_rad_per_px
            return
        state = self._states[self.active_instrument]
        if isinstance(state, _FreeState):
            self._move_free(state, event, shift=shift, ctrl="ctrl" in event.modifiers)
            return
        if shift:
            state.roll += event.dx_px * g.roll_rad_per_px
        else:
            state.yaw += event.dx_px * g.pivot_rad_per_px
            state.pitch -= event.dy_px * g.pivot_rad_per_px  # screen y grows downward; up = pitch +
        self._clamp(state)

    def _on_wheel(self, event: Wheel) -> None:
        if not math.isfinite(event.notches):
            return
        if self.camera_mode:
            self._camera.zoom *= float(np.clip(self.gains.camera_zoom_per_notch ** event.notches, 1e-3, 1e3))
            return
        state = self._states[self.active_instrument]
        if isinstance(state, _FreeState):
            state.position += event.notches * self.gains.insertion_m_per_notch * state.rotation[:, 2]
            self._clamp_free(state)
            return
        state.insertion += event.notches * self.gains.insertion_m_per_notch
        self._clamp(state)

    def _move_free(self, state: _FreeState, event: MouseMove, *, shift: bool, ctrl: bool) -> None:
        g = self.gains
        view = self._free_tools[self.active_instrument].view
        right, up = view[:, 0], view[:, 1]
        if shift:
            state.rotation = state.rotation @ rotation_about((0.0, 0.0, 1.0), event.dx_px * g.roll_rad_per_px)
        elif ctrl:  # screen y grows downward: dragging up turns about the view's right axis the positive way
            turn = rotation_about(up, event.dx_px * g.free_turn_rad_per_px) @ rotation_about(
                right, -event.dy_px * g.free_turn_rad_per_px)
            state.rotation = turn @ state.rotation
        else:
            state.position += (event.dx_px * right - event.dy_px * up) * g.free_move_m_per_px
        self._clamp_free(state)

    def _clamp_free(self, state: _FreeState) -> None:
        start = self._free_tools[self.active_instrument].position_m
        state.position = start + within_reach(state.position - start, self.limits.free_reach_m)
        u, _, vt = np.linalg.svd(state.rotation)  # keep it a rotation as small turns pile up
        state.rotation = u @ vt

    def _on_button(self, event: MouseButton) -> None:
        if event.button != JAW_BUTTON:
            return
        if event.pressed and not self.camera_mode:
            self._jaw_held_by = self.active_instrument
        elif not event.pressed:
            self._jaw_held_by = None

    def _on_key(self, event: Key) -> None:
        if event.key == "e":
            if not event.pressed:
                self._energy_held_by = None
            elif not event.repeat:
                self._energy_held_by = self.active_instrument
            return
        if not event.pressed or event.repeat:
            return
        if event.key == "space":
            state = self._states[self.active_instrument]
            state.jaw_latched = not state.jaw_latched
        elif event.key in _INSTRUMENT_KEYS:
            index = _INSTRUMENT_KEYS.index(event.key)
            if index < len(self.instruments):
                self.active_instrument = self.instruments[index]
        elif event.key == "c":
            self.camera_mode = not self.camera_mode
        elif event.key == "p":
            self._actions.append(UiAction.TOGGLE_PAUSE)
        elif event.key == "r":
            self._restart_state()
            self._actions.append(UiAction.RESTART)
        elif event.key == "escape":
            self._actions.append(UiAction.QUIT)
