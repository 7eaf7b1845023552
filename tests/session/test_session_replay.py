"""Replay: a recorded session re-run headless reproduces its events and samples bit for bit."""

from __future__ import annotations

import shutil

from surgsim.cli import main
from surgsim.devices.replay import ReplayDevice
from surgsim.instrument_command import InstrumentCommand
from surgsim.live import LiveLoop
from surgsim.render.viewer import NullViewer
from surgsim.replay import replay_trace
from surgsim.session import Session
from surgsim.trace import CommandRecord

PROCEDURE = "procedures/pattern_cutting.yaml"
TICKS = 700


def record(trace_path, taichi_cpu, procedure=PROCEDURE):
    """A short scripted session: the grasper pushes into the middle of the gauze (0.54 s at its slew limit) and closes."""
    commands = [
        CommandRecord(tick=tick, instrument="left_grasper", command=InstrumentCommand(
            pivot_yaw_rad=0.0, pivot_pitch_rad=0.0, insertion_m=0.268, roll_rad=0.0,
            jaw=1.0 if tick >= 600 else 0.0, energy=False))
        for tick in (0, 600)
    ]
    session = Session(procedure, arch=taichi_cpu, trace_path=trace_path)
    LiveLoop(session, ReplayDevice(commands, dt_s=session.dt_s), NullViewer(), realtime=False,
             max_ticks=TICKS).run()
    return session


def test_replay_reproduces_events_samples_and_tissue(tmp_path, taichi_cpu):
    original = record(tmp_path / "original.jsonl", taichi_cpu)
    result = replay_trace(tmp_path / "original.jsonl", tmp_path / "replayed.jsonl", arch=taichi_cpu)
    kinds = {event.kind for event in result.recorded.events}
    assert "contact_start" in kinds, kinds  # the replay has a real tool-tissue interaction to reproduce
    assert result.recorded.samples and result.events_match and result.samples_match
    again = record(tmp_path / "again.jsonl", taichi_cpu)
    assert again.tissue_digest() == original.tissue_digest()


def test_replay_of_an_edited_procedure_is_refused(tmp_path, taichi_cpu, capsys):
    procedure = tmp_path / "procedures" / "pattern_cutting.yaml"
    procedure.parent.mkdir()
    shutil.copy(PROCEDURE, procedure)
    record(tmp_path / "session.jsonl", taichi_cpu, procedure)
    procedure.write_text(procedure.read_text().replace("time_limit_s: 300", "time_limit_s: 301"))
    assert main(["replay", str(tmp_path / "session.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "session.jsonl" in err and "Traceback" not in err


def test_a_truncated_trace_replays_what_is_there(tmp_path, taichi_cpu):
    record(tmp_path / "full.jsonl", taichi_cpu)
    lines = (tmp_path / "full.jsonl").read_bytes().splitlines(keepends=True)
    (tmp_path / "cut.jsonl").write_bytes(b"".join(lines[: len(lines) // 2]) + lines[len(lines) // 2][:10])
    result = replay_trace(tmp_path / "cut.jsonl", tmp_path / "replayed.jsonl", arch=taichi_cpu)
    assert result.recorded.truncated and result.matches
    assert len(result.replayed.samples) >= len(result.recorded.samples)


def test_replay_refuses_to_overwrite(tmp_path, capsys):
    existing = tmp_path / "exists.jsonl"
    existing.write_text("keep me")
    assert main(["replay", "procedures/traces/liver_retraction.expert.jsonl", "--out", str(existing)]) == 2
    assert existing.read_text() == "keep me"


def test_replay_renders_a_snapshot_and_a_video(tmp_path, taichi_cpu):
    import pytest

    pytest.importorskip("imageio_ffmpeg")
    from surgsim.render.gl_viewer import OffscreenViewer
    from surgsim.render.virtual_display import VirtualDisplay

    if not VirtualDisplay.available():
        pytest.skip("Xvfb is not installed")
    record(tmp_path / "session.jsonl", taichi_cpu)
    with VirtualDisplay():
        result = replay_trace(tmp_path / "session.jsonl", tmp_path / "replayed.jsonl", arch=taichi_cpu,
                              viewer=OffscreenViewer(320, 240), snapshot_path=tmp_path / "last.png",
                              video_path=tmp_path / "replay.mp4", video_fps=20.0)
    assert result.matches  # drawing frames in simulated time changes nothing in the physics
    assert (tmp_path / "last.png").stat().st_size > 1000
    assert (tmp_path / "replay.mp4").stat().st_size > 1000
