"""Replaying a recorded session: the trace's commands run again through the session loop, headless, and the result
compared with the recording.

The session loop is deterministic (:mod:`surgsim.session`): on the backend a trace was recorded with, its commands
reproduce the same events, the same instrument samples and the same final tissue state, bit for bit. A replay is
therefore a check of that promise (a mismatch means the simulator, the procedure's scene or the backend differs from
the recording's) and a way to re-create any moment of a session from a few kilobytes of commands.

- The procedure is the one the trace's header names (or ``procedure_path``), checked against the header's sha256;
  the time step and seed are the header's; the backend is the caller's (``arch``, default CPU).
- Commands: the command in effect at tick ``t`` is each instrument's latest record at or before ``t``
  (:class:`~surgsim.devices.replay.ReplayDevice`), handed to :meth:`Session.tick` as a live device's would be.
- Length: a complete trace is replayed to its end record's tick; a truncated one (a crash, a kill) up to its last
  record, which is all there is to compare.
- Comparison, two of them: within tolerance (:mod:`surgsim.reproduction`: what counts on any machine, and what
  verified scoring relies on), and bit for bit (:func:`compare_traces`: the recorded events must equal the replayed
  ones, in order and in every field, as written to the trace; likewise the samples, the commands and a complete
  recording's end reason; traces store floats as shortest round-trip reprs, so equal means bit-identical). A
  truncated recording is compared with the replay up to its last record.
- Drawing (optional, a viewer given): frames of the replay for a video at a rate in simulated time, and the last frame
  as a PNG. The viewer only reads the session, so drawing never changes what the replay computes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from surgsim.errors import InputError
from surgsim.reproduction import Comparison, compare_outcomes
from surgsim.scoring.inputs import SessionSource
from surgsim.trace import Trace, read_trace_like


@dataclass(frozen=True)
class Mismatch:
    """The first difference between the recording and the replay in one kind of record."""

    kind: str  # events, samples, commands, end
    index: int
    recorded: object
    replayed: object

    def describe(self) -> str:
        return (f"{self.kind} differ from record {self.index + 1} on: recorded {self.recorded!r}, "
                f"replayed {self.replayed!r}")


@dataclass(frozen=True)
class ReplayResult:
    """What a replay did and whether it reproduced the recording."""

    recorded: Trace
    replayed: Trace
    replayed_path: Path
    ticks: int
    backend: str
    tissue_digest: str
    mismatches: tuple[Mismatch, ...] = ()  # bit-level differences (:func:`compare_traces`)
    comparison: Comparison | None = None  # within tolerance (:mod:`surgsim.reproduction`)
    source: SessionSource | None = None
    snapshot: Path | None = None  # the PNG of the last frame, when one was asked for and drawn
    video: Path | None = None
    frames: int = 0

    @property
    def matches(self) -> bool:
        """Bit-identical to the recording (the promise on the recording's own machine and backend)."""
        return not self.mismatches

    @property
    def reproduces(self) -> bool:
        """Within the tolerances of :mod:`surgsim.reproduction` (the promise on any machine)."""
        return self.comparison is not None and self.comparison.reproduces

    def _matches(self, kind: str) -> bool:
        return not any(m.kind == kind for m in self.mismatches)

    @property
    def events_match(self) -> bool:
        return self._matches("events")

    @property
    def samples_match(self) -> bool:
        return self._matches("samples")

    @property
    def compared(self) -> dict[str, int]:
        """How many records of each kind were compared."""
        return {"events": len(self.recorded.events), "samples": len(self.recorded.samples),
                "commands": len(self.recorded.commands)}


def replay_ticks(trace: Trace) -> int:
    """How many ticks a replay of ``trace`` runs: to the end record, or for a truncated trace to its last record."""
    if trace.end is not None:
        return trace.end.tick
    ticks = [record.tick for record in trace.commands + trace.samples]
    ticks += [round(event.time_s / trace.header.dt_s) for event in trace.events]
    return max(ticks, default=0)


def replay_trace(
    trace_path: str | os.PathLike,
    out_path: str | os.PathLike | None = None,
    *,
    arch: str = "cpu",
    procedure_path: str | os.PathLike | None = None,
    viewer=None,
    snapshot_path: str | os.PathLike | None = None,
    video_path: str | os.PathLike | None = None,
    video_fps: float = 30.0,
    on_tick: Callable[[object], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    allow_unproven: bool = False,
) -> ReplayResult:
    """Replay the trace at ``trace_path`` and compare. The replayed session is recorded at ``out_path`` (which must
    not exist) or in a temporary file that is removed again (``ReplayResult.replayed`` keeps its contents).

    ``viewer`` (an unopened viewer, e.g. ``OffscreenViewer``): draw the replay; ``video_path`` gets a frame every
    ``1 / video_fps`` s of simulated time (needs imageio-ffmpeg), ``snapshot_path`` the last frame as a PNG (a viewer
    that cannot read its pixels, such as the null viewer, gives none). Drawing never changes the physics.
    ``on_start(ticks)`` is called once the session is built, ``on_tick(session)`` after every tick (progress).
    ``allow_unproven``: accept an old trace whose procedure file changed (:func:`surgsim.scoring.inputs.
    load_session_source`); the comparison then decides. Raises :class:`InputError` for a trace that cannot be read, a
    procedure that is missing or whose physics changed since the recording, or commands the session refuses.
    """
    from surgsim.devices.replay import ReplayDevice
    from surgsim.scoring.inputs import load_session_source
    from surgsim.session import Session

    source = load_session_source(trace_path, procedure_path, allow_unproven=allow_unproven)
    procedure, recorded = source.procedure, source.trace
    ticks = replay_ticks(recorded)
    if (snapshot_path is not None or video_path is not None) and viewer is None:
        raise InputError("replay", "a snapshot or a video needs a viewer to draw with (an OffscreenViewer).")
    temporary = None
    if out_path is None:
        temporary = Path(tempfile.mkdtemp(prefix="surgsim-replay-"))
        path = temporary / Path(trace_path).name
    else:
        path = Path(out_path)
        if path.exists():
            raise InputError(path, "a trace already exists here; traces are never overwritten.")
    snapshot = video_file = None
    frames = 0
    try:
        device = ReplayDevice.from_trace(recorded)
        header = recorded.header
        solver_options = {} if header.tissue_iterations is None else {"iterations": header.tissue_iterations}
        session = Session(procedure.path, arch=arch, dt_s=header.dt_s, tissue_dt_s=header.tissue_step_s,
                          seed=header.seed, trace_path=path, solver_options=solver_options,
                          resolution=header.resolution or 1.0)
        if on_start is not None:
            on_start(ticks)
        with contextlib.ExitStack() as stack:
            stack.enter_context(session)
            video = None
            if viewer is not None:
                viewer.open(session.scene.render_scene())
                stack.callback(viewer.close)
                camera = session.scene.camera.pose()
                if video_path is not None:
                    from surgsim.render.video import VideoWriter

                    video = stack.enter_context(VideoWriter(video_path, fps=video_fps))
                frame_every = max(1, round(1.0 / (video_fps * session.dt_s)))
            for _ in range(ticks):
                commands = device.read().commands
                try:
                    session.tick(commands)
                except InputError as error:  # a command the scene cannot take: say where it is in the trace
                    raise InputError(recorded.path, f"the command at tick {session.tick_count} cannot be replayed: "
                                                    f"{error.source}: {error.problem}") from None
                if on_tick is not None:
                    on_tick(session)
                if video is not None and session.tick_count % frame_every == 0:
                    viewer.draw(session.frame(camera=camera))
                    video.write(viewer.read_pixels())
                    frames += 1
            digest = session.tissue_digest()
            if viewer is not None:
                viewer.draw(session.frame(camera=camera))
                frames += 1
                if snapshot_path is not None and hasattr(viewer, "snapshot"):
                    snapshot = Path(viewer.snapshot(snapshot_path))
            if video is not None:
                video_file = Path(video_path)
        replayed = read_trace_like(path, recorded)
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
    return ReplayResult(recorded, replayed, path, ticks, session.backend, digest,
                        tuple(compare_traces(recorded, replayed)), compare_outcomes(recorded, replayed), source,
                        snapshot, video_file, frames)


def compare_traces(recorded: Trace, replayed: Trace) -> list[Mismatch]:
    """The first mismatch of each kind of record between a recording and its replay (empty: bit-identical).

    A truncated recording is compared as a prefix of the replay; a complete one in full, end reason included."""
    if (replayed.commands is recorded.commands and replayed.samples is recorded.samples
            and replayed.events is recorded.events and replayed.end is recorded.end):
        return []  # read_trace_like lent the recording's records: the replay's bytes had their digest
    mismatches = []
    kinds = (
        ("events", recorded.events, replayed.events, lambda event: event.to_json()),
        ("samples", recorded.samples, replayed.samples, lambda sample: sample.model_dump()),
        ("commands", recorded.commands, replayed.commands, lambda command: command.model_dump()),
    )
    for kind, ours, theirs, as_json in kinds:
        if recorded.truncated:
            theirs = theirs[: len(ours)]
        for index in range(max(len(ours), len(theirs))):
            a = ours[index] if index < len(ours) else None
            b = theirs[index] if index < len(theirs) else None
            if a is b or (kind != "events" and a is not None and b is not None and a == b):
                continue  # equal pydantic records, field by field (dumping every record took 0.7 s)
            a, b = (None if a is None else as_json(a)), (None if b is None else as_json(b))
            if a != b:
                mismatches.append(Mismatch(kind, index, a, b))
                break
    if not recorded.truncated and (replayed.end is None or replayed.end.model_dump() != recorded.end.model_dump()):
        mismatches.append(Mismatch("end", 0, recorded.end.model_dump(),
                                   replayed.end.model_dump() if replayed.end else None))
    return mismatches
