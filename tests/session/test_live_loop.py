"""The live loop: the frame rate never changes the physics, and a missing display is a clear message."""

from __future__ import annotations

import math

import numpy as np
import pytest

from surgsim.cli import main
from surgsim.devices.replay import ReplayDevice
from surgsim.instrument_command import InstrumentCommand
from surgsim.live import LiveLoop
from surgsim.render.viewer import NullViewer
from surgsim.scoring import score_session
from surgsim.session import Session
from surgsim.trace import CommandRecord, read_trace

PROCEDURE = "procedures/pattern_cutting.yaml"
TICKS = 250


def scripted_commands() -> list[CommandRecord]:
    """The grasper swings toward the gauze and closes its jaws: commands at a few ticks, as a device sends them."""
    records = []
    for tick in range(0, TICKS, 25):
        fraction = tick / TICKS
        records.append(CommandRecord(tick=tick, instrument="left_grasper", command=InstrumentCommand(
            pivot_yaw_rad=0.1 * fraction, pivot_pitch_rad=-0.05 * fraction, insertion_m=0.05 + 0.15 * fraction,
            roll_rad=0.0, jaw=1.0 if fraction > 0.6 else 0.0, energy=False)))
    return records


def run_at(fps: float, trace_path, taichi_cpu) -> tuple[bytes, bytes]:
    session = Session(PROCEDURE, arch=taichi_cpu, trace_path=trace_path)
    device = ReplayDevice(scripted_commands(), dt_s=session.dt_s)
    viewer = NullViewer()
    result = LiveLoop(session, device, viewer, realtime=False, fps=fps, max_ticks=TICKS).run()
    assert result.ticks == TICKS
    report = score_session(session.spec, read_trace(trace_path))
    return trace_path.read_bytes(), report.json_bytes()


def test_frame_rate_does_not_change_the_trace_or_the_score(tmp_path, taichi_cpu):
    slow_trace, slow_score = run_at(10.0, tmp_path / "slow.jsonl", taichi_cpu)
    fast_trace, fast_score = run_at(200.0, tmp_path / "fast.jsonl", taichi_cpu)
    assert b'"type":"command"' in slow_trace and b'"type":"sample"' in slow_trace
    assert slow_trace.splitlines()[1:] == fast_trace.splitlines()[1:]  # the header names its own file's folder
    assert slow_score == fast_score


def test_run_without_a_display_says_how_to_go_headless(monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["run", "liver_retraction"]) == 2
    err = capsys.readouterr().err
    assert "no display" in err and "surgsim replay" in err and "Traceback" not in err


@pytest.mark.parametrize("argv, source", [
    (["run", "no_such_procedure"], "no_such_procedure"),
    (["run", "liver_retraction", "--viewer", "null", "--max-seconds", "-1"], "--max-seconds"),
])
def test_bad_run_arguments_exit_2(argv, source, capsys):
    assert main(argv) == 2
    assert source in capsys.readouterr().err


def test_pose_devices_drive_the_active_instrument():
    from surgsim.devices.base import DeviceReading
    from surgsim.live import pose_to_command

    left = pose_to_command(DeviceReading(position_m=(-0.04, 0.0, 0.0), buttons=frozenset({"primary"})))
    right = pose_to_command(DeviceReading(position_m=(0.04, 0.0, 0.0)))
    assert left.pivot_yaw_rad < 0 < right.pivot_yaw_rad
    assert math.isclose(right.pivot_yaw_rad, math.radians(30.0))
    assert left.jaw == 1.0 and right.jaw == 0.0
    assert pose_to_command(DeviceReading()) is None


def test_the_devices_camera_motion_moves_the_view(taichi_cpu):
    from surgsim.devices.base import CameraMotion, DeviceReading

    class OrbitingDevice:
        """Asks for a small orbit every tick, as the mouse does in camera mode."""

        name, rate_hz = "orbiting", 1000.0

        def read(self) -> DeviceReading:
            return DeviceReading(camera_mode=True, camera_motion=CameraMotion(orbit_yaw_rad=0.01))

        def write_force(self, force_n) -> None:
            pass

    class RecordingViewer(NullViewer):
        def __init__(self):
            super().__init__()
            self.eyes = []

        def draw(self, frame) -> None:
            super().draw(frame)
            self.eyes.append(frame.camera.eye_m)

    session = Session(PROCEDURE, arch=taichi_cpu)
    start = session.scene.camera.pose()
    viewer = RecordingViewer()
    LiveLoop(session, OrbitingDevice(), viewer, realtime=False, max_ticks=20).run_stepped(10)
    assert len(viewer.eyes) == 2
    first, second = (np.asarray(eye) for eye in viewer.eyes)
    target = np.asarray(start.target_m)
    # An orbit turns the eye about the target: same distance, a different place, further on each frame.
    assert np.linalg.norm(first - target) == pytest.approx(np.linalg.norm(np.asarray(start.eye_m) - target))
    assert np.linalg.norm(first - np.asarray(start.eye_m)) > 1e-3
    assert np.linalg.norm(second - np.asarray(start.eye_m)) > np.linalg.norm(first - np.asarray(start.eye_m))
