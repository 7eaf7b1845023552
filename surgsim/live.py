"""The live loop: physics at its fixed tick on its own thread, drawing at the display's rate on the caller's.

The physics thread asks the device for commands once per tick and steps the session; the drawing thread polls the
viewer's input, hands it to the device, and draws a frame at its rate. Frames are handed over between ticks: the
drawing thread asks for one, the physics thread makes it (:meth:`Session.frame`) after its current tick and then
waits while it is drawn. Both threads run Python under one interpreter lock; drawing makes hundreds of short OpenGL
calls, each of which gives the lock up, and a physics thread that is behind the wall clock (it never sleeps) would
take it back for a whole switch interval after each one: the window froze at ~3 FPS. Waiting out the draw costs the
physics the drawing time (a few ms a frame) and keeps the window at its frame rate whatever the physics does; the
rate drops from 60 to :data:`BEHIND_FPS` frames a second (and the interpreter hands its lock over every :data:`SWITCH_INTERVAL_S`) while the physics is behind. A slow frame delays drawing,
never the ticks' inputs: with a device whose commands depend only on the tick (a replay, a script), the trace is the
same at any frame rate. The physics thread measures its real-time factor (:attr:`LiveLoop.physics_rate`), which the
HUD shows when it falls below real time.

A haptic device (one that reports a pose instead of commands) drives the active instrument through
:func:`pose_to_command` (a laparoscopic instrument) or :func:`pose_to_free_command` (an open-surgery one), and feels
the tissue's force on that instrument every tick. Open-surgery instruments move in the frame of the view: device
right, up and toward the user are the image's right, up and toward the viewer (the camera at the session's start), so
the tool follows the hand as seen on the screen; devices that make their own commands (mouse and keyboard, SpaceMouse)
are told each free instrument's start pose and the view through their ``set_free_tools``.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np

from surgsim.devices.base import DeviceReading, FreeTool, UiAction, view_axes
from surgsim.instrument_command import FreePoseCommand, InstrumentCommand

# A stylus workspace of about ±8 cm maps onto the trocar's ±60° cone and 0-25 cm of insertion.
RAD_PER_M = math.radians(60.0) / 0.08
INSERTION_PER_M = 0.25 / 0.16
# An open-surgery tool moves as the hand does (1:1): the stylus's ±8 cm reach ±8 cm around the tool's start.
FREE_MOTION_SCALE = 1.0
# The drawing rate while the physics is behind the wall clock: every frame costs the physics its drawing time. Aimed a
# little above 30 so that the frames' own cost still leaves at least 30 a second.
BEHIND_FPS = 34.0
# While the live loop runs, a thread waiting for the interpreter lock gets it after this long instead of Python's 5 ms:
# the drawing thread wakes from its frame pause and asks for the lock while the physics thread runs kernels that hold
# it, and at 5 ms a hand-over took so long that the window drew 4 frames a second (measured on 2 cores, Mesa).
SWITCH_INTERVAL_S = 0.0005
# The physics' real-time factor is measured over windows of this length [s] of wall time.
RATE_WINDOW_S = 0.5


def pose_to_command(reading: DeviceReading) -> InstrumentCommand | None:
    """A 6-DOF stylus position (device frame: x right, y up, z toward the user) as a laparoscopic command:
    left/right pivots (yaw), up/down pivots (pitch), pushing in inserts; the primary button closes the jaw and the
    secondary one switches energy on."""
    if reading.position_m is None:
        return None
    x, y, z = (float(v) for v in reading.position_m)
    return InstrumentCommand(
        pivot_yaw_rad=x * RAD_PER_M,
        pivot_pitch_rad=-y * RAD_PER_M,
        insertion_m=max(0.0, 0.12 - z * INSERTION_PER_M),
        roll_rad=0.0,
        jaw=1.0 if "primary" in reading.buttons else 0.0,
        energy="secondary" in reading.buttons,
    )


def pose_to_free_command(reading: DeviceReading, tool: FreeTool, *,
                         scale: float = FREE_MOTION_SCALE) -> FreePoseCommand | None:
    """A 6-DOF stylus pose (device frame: x right, y up, z toward the user) as the free pose of an open-surgery tool:
    the stylus's position, times ``scale``, along the view's axes (``tool.view``) offsets the tool's start position;
    the stylus's rotation (when the device reports one; identity at its neutral pose) turns the tool from its start
    orientation about the same view-aligned axes. The primary button closes the jaw, the secondary one switches
    energy on."""
    if reading.position_m is None:
        return None
    view = tool.view
    position = tool.position_m + scale * (view @ np.asarray(reading.position_m, dtype=np.float64))
    rotation = tool.rotation
    if reading.rotation is not None:
        rotation = view @ np.asarray(reading.rotation, dtype=np.float64) @ view.T @ tool.rotation
    return FreeTool.command(position, rotation, jaw=1.0 if "primary" in reading.buttons else 0.0,
                            energy="secondary" in reading.buttons)


def free_tools(session) -> dict[str, FreeTool]:
    """Every open-surgery instrument of ``session`` (name → :class:`FreeTool`), seen from the session's camera."""
    camera = session.scene.camera.pose()
    return {name: FreeTool.seen_from(camera, instrument.start_position, instrument.start_rotation)
            for name, instrument in session.world.instruments.items() if instrument.access == "open"}


@dataclass
class LiveResult:
    reason: str  # completed | time_limit | quit
    ticks: int
    frames: int
    wall_s: float


class LiveLoop:
    """Runs ``session`` with ``device`` and ``viewer`` until the procedure ends, the viewer closes or the user quits.

    ``realtime``: pace the ticks to the wall clock (interactive use); False runs them as fast as the CPU allows
    (replays, tests). ``fps``: the drawing rate to aim at. ``max_ticks`` stops after that many ticks.
    """

    def __init__(self, session, device, viewer, *, realtime: bool = True, fps: float = 60.0,
                 max_ticks: int | None = None):
        self.session = session
        self.device = device
        self.viewer = viewer
        self.realtime = realtime
        self.frame_period_s = 1.0 / fps
        self.max_ticks = max_ticks
        self.paused = False
        self.active_instrument = session.instrument_names[0] if session.instrument_names else None
        self.free_tools = free_tools(session)
        if self.free_tools and hasattr(device, "set_free_tools"):
            device.set_free_tools(self.free_tools)
        self.camera = session.scene.camera.pose()
        self._tick_lock = threading.Lock()
        self._device_lock = threading.Lock()
        self._stop = threading.Event()
        self._quit = False
        self._error: BaseException | None = None
        self._frame_wanted = threading.Event()
        self._frame_given = threading.Event()
        self._frame_drawn = threading.Event()
        self._frame = None
        self.physics_rate: float | None = None  # simulated s per wall s over the last window; None until measured
        self._rate_mark: tuple[float, int] | None = None

    # -- frames handed from the physics thread to the drawing thread ---------------------------------------------
    def _make_frame(self):
        frame = self.session.frame(active_instrument=self.active_instrument, paused=self.paused, camera=self.camera)
        if self.physics_rate is not None:
            frame = dataclasses.replace(frame, hud=dataclasses.replace(frame.hud, physics_rate=self.physics_rate))
        return frame

    def _serve_frame(self) -> None:
        """On the physics thread, between ticks: make the frame the drawing thread asked for, then wait while it is
        drawn (see the module's docstring; bounded, so a drawing thread that went away never stalls the physics)."""
        if not self._frame_wanted.is_set():
            return
        self._frame_wanted.clear()
        self._frame_drawn.clear()
        self._frame = self._make_frame()
        self._frame_given.set()
        self._frame_drawn.wait(0.25)

    def _request_frame(self, physics: threading.Thread):
        """On the drawing thread: the next frame, or None when the physics did not hand one over in time."""
        if not physics.is_alive():
            with self._tick_lock:
                return self._make_frame()
        if not self._frame_given.is_set():
            self._frame_wanted.set()
            if not self._frame_given.wait(0.05):
                return None
        self._frame_given.clear()
        return self._frame

    def _measure_rate(self, now: float) -> None:
        ticks = self.session.tick_count
        if self._rate_mark is None:
            self._rate_mark = (now, ticks)
            return
        since, ticks_then = self._rate_mark
        if now - since >= RATE_WINDOW_S:
            self.physics_rate = (ticks - ticks_then) * self.session.dt_s / (now - since)
            self._rate_mark = (now, ticks)

    @property
    def physics_behind(self) -> bool:
        return self.physics_rate is not None and self.physics_rate < 0.95

    # -- physics thread ------------------------------------------------------------------------------------------
    def _physics(self) -> None:
        session = self.session
        started = time.perf_counter()
        ticks_at_start = session.tick_count
        try:
            while not self._stop.is_set():
                if self.paused:
                    self._frame_wanted.wait(0.01)
                    self._serve_frame()
                    started = time.perf_counter()
                    ticks_at_start = session.tick_count
                    self._rate_mark = None
                    continue
                with self._device_lock:
                    reading = self.device.read()
                    self._take_actions(reading)
                    self._move_camera(reading)
                commands = dict(reading.commands)
                tool = self.free_tools.get(self.active_instrument)
                if not commands and self.active_instrument is not None:
                    command = pose_to_command(reading) if tool is None else pose_to_free_command(reading, tool)
                    if command is not None:
                        commands[self.active_instrument] = command
                with self._tick_lock:
                    session.tick(commands)
                    force = session.coupler.reaction_force(self.active_instrument) if self.active_instrument else None
                if force is not None:
                    # a free tool's device moves in the view's frame: the force goes back into it
                    self.device.write_force(force if tool is None else tool.view.T @ force)
                if session.finished or (self.max_ticks is not None and session.tick_count >= self.max_ticks):
                    break
                self._serve_frame()
                now = time.perf_counter()
                self._measure_rate(now)
                if self.realtime:
                    due = started + (session.tick_count - ticks_at_start) * session.dt_s
                    delay = due - now
                    if delay > 0 and self._frame_wanted.wait(delay):
                        self._serve_frame()
        except BaseException as error:  # surfaced on the drawing thread, which owns the user's attention
            self._error = error
        finally:
            self._stop.set()

    def _move_camera(self, reading: DeviceReading) -> None:
        """Apply the device's camera motion (the mouse in camera mode); a device that drives open-surgery tools
        along the view is told the new view (a haptic stylus keeps the start view: its mapping is absolute, and
        re-aiming it would make the tool jump)."""
        if reading.camera_motion.is_still:
            return
        self.camera = reading.camera_motion.apply(self.camera)
        if self.free_tools and hasattr(self.device, "set_view"):
            self.device.set_view(view_axes(self.camera))

    def _take_actions(self, reading: DeviceReading) -> None:
        if reading.active_instrument is not None:
            self.active_instrument = reading.active_instrument
        for action in reading.actions:
            if action == UiAction.TOGGLE_PAUSE:
                self.paused = not self.paused
            elif action == UiAction.QUIT:
                self._quit = True
                self._stop.set()

    # -- offline: one thread, a frame every N ticks (videos in simulated time) ---------------------------------------
    def run_stepped(self, frame_every_ticks: int, on_frame=None) -> LiveResult:
        """Tick and draw on this thread: a frame after every ``frame_every_ticks`` ticks, then ``on_frame(viewer)``
        (e.g. to write the pixels to a video). The ticks are the same as :meth:`run` gives."""
        session, viewer = self.session, self.viewer
        viewer.open(session.scene.render_scene())
        started = time.perf_counter()
        while not session.finished and (self.max_ticks is None or session.tick_count < self.max_ticks):
            reading = self.device.read()
            self._take_actions(reading)
            self._move_camera(reading)
            session.tick(dict(reading.commands))
            if session.tick_count % frame_every_ticks == 0:
                viewer.draw(session.frame(active_instrument=self.active_instrument, camera=self.camera))
                if on_frame is not None:
                    on_frame(viewer)
        session.finish(None)
        return LiveResult(session.ended, session.tick_count, getattr(viewer, "frame_count", 0),
                          time.perf_counter() - started)

    # -- drawing (caller's thread) -------------------------------------------------------------------------------
    def run(self) -> LiveResult:
        with self.session:  # its set-up's objects out of the garbage collector's full passes (Session.__enter__)
            return self._run()

    def _run(self) -> LiveResult:
        session, viewer = self.session, self.viewer
        viewer.open(session.scene.render_scene())
        physics = threading.Thread(target=self._physics, name="surgsim-physics", daemon=True)
        started = time.perf_counter()
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        physics.start()
        try:
            while not self._stop.is_set():
                frame_started = time.perf_counter()
                # The physics waits from handing the frame over until it is drawn: input is read in that pause too,
                # so neither thread fights the other for the interpreter lock.
                frame = self._request_frame(physics)
                try:
                    events = viewer.poll_input()
                    if events and hasattr(self.device, "handle"):
                        with self._device_lock:
                            self.device.handle(events)
                    if viewer.should_close():
                        self._quit = True
                        break
                    if frame is None:
                        continue
                    viewer.draw(frame)
                finally:
                    self._frame_drawn.set()
                period = max(self.frame_period_s, 1.0 / BEHIND_FPS) if self.physics_behind else self.frame_period_s
                rest = period - (time.perf_counter() - frame_started)
                if rest > 0:
                    self._stop.wait(rest)
        finally:
            self._stop.set()
            self._frame_drawn.set()
            physics.join()
            sys.setswitchinterval(switch_interval)
        if self._error is not None:
            raise self._error
        viewer.draw(session.frame(active_instrument=self.active_instrument, camera=self.camera))
        session.finish("quit" if self._quit else None)
        return LiveResult(session.ended, session.tick_count, getattr(viewer, "frame_count", 0),
                          time.perf_counter() - started)

