"""Frames per second of the offscreen renderer on the liver scene with the HUD, alone and with the session's physics
running in the same process; and the physics' real-time factor alone and with rendering.

    python tools/bench_render.py [--seconds 4] [--sizes 1280x720,640x480] [--arch cpu]

"render + live session" is what a trainee's window does: ``surgsim run``'s live loop (:class:`surgsim.live.LiveLoop`)
on the shipped liver retraction procedure, its expert session's commands played in real time, physics on its thread,
drawing on this one at 60 frames a second (30 while the physics is behind the wall clock). Goal: ≥ 30 FPS whatever
the physics does.

Without a DISPLAY it starts its own Xvfb (so on a machine without a GPU, OpenGL is Mesa llvmpipe on the CPU). Every
frame is finished (``glFinish``) before the next starts, as a buffer swap would, so the rate counts the real work
and not frames queued in the driver. With physics, the solver runs in its own thread paced at 1 kHz of wall time
(stepping as fast as it can while behind), as a session's physics/haptics servo does, and each frame draws a copy
of its latest positions. A real-time factor of 1 means the physics keeps up with the wall clock.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

from surgsim.mesh.model import TissueModel
from surgsim.render.frame import (
    Capsule,
    FrameData,
    HudState,
    InstrumentFrame,
    InstrumentSpec,
    RenderScene,
    TissueFrame,
    TissueMesh,
)
from surgsim.render.virtual_display import VirtualDisplay
from surgsim.view import camera

LIVER = Path(__file__).resolve().parents[1] / "assets" / "meshes" / "liver.npz"
DT_S = 1e-3
ANCHOR_TOP_FRACTION = 0.1  # the top tenth of the liver's height is held, as its ligaments would


def make_solver(model: TissueModel, arch: str):
    """The liver solver on ``arch`` and a control holding the top of the liver."""
    from surgsim import backend
    from surgsim.tissue import TissueSolver

    backend.init(arch)
    solver = TissueSolver(model)
    lower, upper = model.positions.min(axis=0), model.positions.max(axis=0)
    top = upper[2] - ANCHOR_TOP_FRACTION * (upper[2] - lower[2])
    control = solver.control()
    control.anchor(box=(np.array([lower[0] - 1, lower[1] - 1, top]), upper + 1))
    return solver, control


class Physics:
    """The solver with its two states; :meth:`step` and :meth:`positions` may be called from different threads."""

    def __init__(self, solver, control):
        self.solver = solver
        self.control = control
        self.state, self.next_state = solver.state(), solver.state()
        self.steps = 0
        self._lock = threading.Lock()

    def step(self) -> None:
        with self._lock:
            self.solver.step(self.state, self.next_state, self.control, DT_S)
            self.state, self.next_state = self.next_state, self.state
            self.steps += 1

    def positions(self) -> np.ndarray:
        with self._lock:
            return self.state.positions_numpy()


class PhysicsThread:
    """Steps the solver in a daemon thread, keeping simulated time at (at most) the wall clock."""

    def __init__(self, physics: Physics):
        self.physics = physics
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="physics", daemon=True)

    def _run(self) -> None:
        started, first_step = time.perf_counter(), self.physics.steps
        while not self._stop.is_set():
            ahead = (self.physics.steps - first_step) * DT_S - (time.perf_counter() - started)
            if ahead > 0:
                time.sleep(ahead)
            else:
                self.physics.step()

    def __enter__(self) -> "PhysicsThread":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()


def physics_alone(physics: Physics, seconds: float) -> float:
    """Real-time factor of stepping as fast as possible."""
    start_steps, started = physics.steps, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(50):
            physics.step()
    return (physics.steps - start_steps) * DT_S / (time.perf_counter() - started)


def frame_at(model: TissueModel, positions: np.ndarray, pose, elapsed_s: float) -> FrameData:
    """A frame with a moving instrument and a HUD whose timer and force gauge change, as in a session."""
    centre = model.positions.mean(axis=0)
    swing = 0.02 * math.sin(2.0 * elapsed_s)
    tip = centre + np.array([swing, 0.06, 0.02])
    tool = InstrumentFrame("grasper", (Capsule(tuple(tip + [0.1, 0.15, 0.1]), tuple(tip), 0.0025),
                                       Capsule(tuple(tip), tuple(tip + [-0.01, -0.004, 0.0]), 0.002, "jaw")),
                           jaw=0.0, energy=False)
    hud = HudState(
        procedure_title="Liver retraction", step_title="Grasp the edge",
        step_instructions="Grasp the inferior edge of the liver, just above the gallbladder.",
        elapsed_s=elapsed_s, time_limit_s=120.0, forces_n={"grasper": 2.0 + 1.5 * math.sin(3.0 * elapsed_s)},
        force_limit_n=4.0, active_instrument="grasper",
    )
    return FrameData({"liver": TissueFrame(positions)}, pose, (tool,), hud)


def render_run(viewer, model, pose, seconds: float, physics: Physics | None):
    """(frames per second, physics real-time factor or None) of drawing for ``seconds``, with the solver running
    beside it when ``physics`` is given."""
    from OpenGL import GL

    def draw_for() -> tuple[int, float]:
        frames, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            positions = physics.positions() if physics is not None else model.positions
            viewer.draw(frame_at(model, positions, pose, elapsed))
            GL.glFinish()
            frames += 1
        return frames, time.perf_counter() - started

    if physics is None:
        frames, wall = draw_for()
        return frames / wall, None
    first_step = physics.steps
    with PhysicsThread(physics):
        frames, wall = draw_for()
    return frames / wall, (physics.steps - first_step) * DT_S / wall


LIVE_PROCEDURE = Path(__file__).resolve().parents[1] / "procedures" / "liver_retraction.yaml"
LIVE_TRACE = Path(__file__).resolve().parents[1] / "procedures" / "traces" / "liver_retraction.expert.jsonl"


def live_run(width: int, height: int, seconds: float, arch: str) -> tuple[float, float]:
    """(frames per second, physics real-time factor) of the live loop drawing a session for ``seconds`` of wall
    time, as ``surgsim run`` does."""
    from OpenGL import GL

    from surgsim.devices.replay import ReplayDevice
    from surgsim.live import LiveLoop
    from surgsim.render.gl_viewer import OffscreenViewer
    from surgsim.session import Session

    session = Session(LIVE_PROCEDURE, arch=arch)
    device = ReplayDevice.from_trace(LIVE_TRACE)
    for _ in range(100):  # compile the tick's kernels before timing
        session.tick(device.read().commands)
    with OffscreenViewer(width, height) as viewer:
        draw = viewer.draw

        def finished_draw(frame):  # as a buffer swap would: count real work, not frames queued in the driver
            draw(frame)
            GL.glFinish()

        viewer.draw = finished_draw
        loop = LiveLoop(session, device, viewer, realtime=True, fps=60.0, max_ticks=round(seconds / session.dt_s))
        stop = threading.Timer(seconds, loop._stop.set)
        stop.start()
        try:
            result = loop.run()
        finally:
            stop.cancel()
    return result.frames / result.wall_s, result.ticks * session.dt_s / result.wall_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="duration of each measurement (default 4)")
    parser.add_argument("--sizes", default="1280x720,640x480", help="image sizes, WxH comma-separated")
    parser.add_argument("--arch", default="auto", help="Taichi backend for the solver (auto, cpu, cuda, ...)")
    parser.add_argument("--screenshot", type=Path, help="save the last frame of each size here (size appended)")
    args = parser.parse_args(argv)
    sizes = [tuple(int(v) for v in size.lower().split("x")) for size in args.sizes.split(",")]

    display = None
    if not os.environ.get("DISPLAY"):
        display = VirtualDisplay(max(w for w, _ in sizes), max(h for _, h in sizes))
        display.start()
    try:
        from OpenGL import GL

        from surgsim.render.gl_viewer import OffscreenViewer

        model = TissueModel.load(LIVER)
        scene = RenderScene((TissueMesh.from_model("liver", model),),
                            instruments=(InstrumentSpec("grasper", "grasper"),))
        surface = model.positions[model.surface_nodes]
        pose = camera.laparoscope_pose(surface.mean(axis=0) + [0.0, 0.3, 0.08], surface.mean(axis=0), fov_deg=60)
        physics = Physics(*make_solver(model, args.arch))
        physics_alone(physics, 0.5)  # compile kernels before timing
        rows = [("physics alone (1 thread, as fast as it can)", "-", "-",
                 f"{physics_alone(physics, args.seconds):.2f}")]
        renderer = None
        for width, height in sizes:
            with OffscreenViewer(width, height) as viewer:
                viewer.open(scene)
                renderer = GL.glGetString(GL.GL_RENDERER).decode()
                render_run(viewer, model, pose, 0.5, None)  # warm up
                fps, _ = render_run(viewer, model, pose, args.seconds, None)
                rows.append(("render alone (HUD on)", f"{width}x{height}", f"{fps:.1f}", "-"))
                if args.screenshot:
                    viewer.snapshot(args.screenshot.with_name(f"{args.screenshot.stem}_{width}x{height}.png"))
            fps, rtf = live_run(width, height, args.seconds, args.arch)
            rows.append(("render + live session (surgsim run's loop)", f"{width}x{height}", f"{fps:.1f}",
                         f"{rtf:.2f}"))
    finally:
        if display is not None:
            display.stop()

    print(f"liver: {model.node_count} nodes, {len(model.surface_triangles)} surface triangles; solver on "
          f"{physics.solver.backend}; OpenGL renderer: {renderer}; dt = {DT_S * 1e3:g} ms")
    header = ("run", "image", "FPS", "physics real-time factor")
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(4)]
    for row in [header, tuple("-" * w for w in widths)] + rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
