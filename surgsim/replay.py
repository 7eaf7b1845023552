"""Replaying a recorded session: its commands re-run through the same live loop, headless, and checked.

The procedure comes from the trace's header (its sha256 must match, as for scoring); the replay uses the recorded dt
and seed on the backend asked for. On the backend that recorded it, a replay reproduces the recorded events and
samples exactly; :class:`ReplayResult` says whether it did.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from surgsim.trace import Trace


@dataclass(frozen=True)
class ReplayResult:
    recorded: Trace
    replayed: Trace
    events_match: bool
    samples_match: bool
    snapshot: Path | None

    @property
    def matches(self) -> bool:
        return self.events_match and self.samples_match


def replay_trace(
    trace_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    arch: str = "cpu",
    procedure_path: str | os.PathLike | None = None,
    viewer=None,
    snapshot_path: str | os.PathLike | None = None,
    video_path: str | os.PathLike | None = None,
    video_fps: float = 30.0,
) -> ReplayResult:
    """Replay ``trace_path`` into a new trace at ``out_path`` (which must not exist) and compare the two.

    ``viewer``: draws while replaying (default: the null viewer); ``snapshot_path``: where the viewer saves the last
    frame; ``video_path``: an MP4 of the replay at ``video_fps`` frames per simulated second (needs an offscreen
    viewer). A truncated recording replays up to its last record.
    """
    from surgsim.devices.replay import ReplayDevice
    from surgsim.live import LiveLoop
    from surgsim.render.viewer import NullViewer
    from surgsim.scoring import load_session
    from surgsim.session import Session
    from surgsim.trace import read_trace

    procedure, recorded = load_session(trace_path, procedure_path)
    if recorded.end is not None:
        last_tick = recorded.end.tick
    else:
        ticks = [r.tick for r in recorded.samples] + [r.tick for r in recorded.commands]
        last_tick = max(ticks, default=0)
    viewer = viewer or NullViewer()
    session = Session(procedure.path, arch=arch, trace_path=out_path, dt_s=recorded.header.dt_s,
                      seed=recorded.header.seed)
    snapshot = None
    try:
        loop = LiveLoop(session, ReplayDevice.from_trace(recorded), viewer, realtime=False, fps=2.0,
                        max_ticks=last_tick)
        if video_path is None:
            loop.run()
        else:
            from surgsim.render.video import VideoWriter

            with VideoWriter(video_path, fps=video_fps) as video:
                loop.run_stepped(max(1, round(1.0 / (video_fps * session.dt_s))),
                                 lambda drawn: video.write(drawn.read_pixels()))
        if snapshot_path is not None:
            snapshot = viewer.snapshot(snapshot_path)
    finally:
        viewer.close()
    replayed = read_trace(out_path)
    recorded_samples = recorded.samples
    replayed_samples = replayed.samples[: len(recorded_samples)]
    return ReplayResult(
        recorded=recorded,
        replayed=replayed,
        events_match=_events_until(replayed, last_tick) == _events_until(recorded, last_tick),
        samples_match=replayed_samples == recorded_samples,
        snapshot=Path(snapshot) if snapshot else None,
    )


def _events_until(trace: Trace, last_tick: int) -> list:
    limit = last_tick * trace.header.dt_s + 1e-9
    return [event for event in trace.events if event.time_s <= limit]
