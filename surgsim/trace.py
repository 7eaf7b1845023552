"""Session traces: the versioned, append-only record of one session, which scoring and replay read.

A trace is JSON Lines (UTF-8): one JSON object per line, keys sorted, floats written as Python's shortest repr (so a
value read back is bit-identical). Time is counted in physics ticks; the time of tick ``N`` is ``N × dt_s``.

1. ``{"type": "header", "format": "surgsim-trace", "format_version": 1, "surgsim_version", "procedure",
   "procedure_sha256", "backend", "dt_s", "seed"}``: always the first line. ``procedure`` is the procedure file's
   path relative to the trace file's folder (absolute when that is impossible); ``procedure_sha256`` is the hash
   of the file's bytes. Since the split hashes: ``procedure_physics_sha256``, ``procedure_physics_sections``
   (section → sha256) and ``procedure_rubric_sha256`` (:mod:`surgsim.procedure.identity`), so that a trace can be
   rescored after a rubric edit and is refused after a physics edit; older traces lack them.
2. ``{"type": "command", "tick", "instrument", ...}``: what a device asked of an instrument; written only when it
   differs from the instrument's previous command. Two layouts, told apart by their keys (no tag, so that the
   records of trocar instruments are the same bytes they always were):

   - a laparoscopic instrument (:class:`~surgsim.instrument_command.InstrumentCommand`): ``"pivot_yaw_rad", "pivot_pitch_rad", "insertion_m",
     "roll_rad", "jaw", "energy"``;
   - an open-surgery instrument moved freely (:class:`~surgsim.instrument_command.FreePoseCommand`): ``"position_m": [x, y, z]`` the distal end
     of the shaft, ``"orientation_xyzw": [x, y, z, w]`` the distal frame's orientation (a unit quaternion, scene
     frame), ``"jaw", "energy"``.

   ``jaw`` is 0 (open) to 1 (closed), ``energy`` whether cautery is on. Every field is written, and a record
   without one is refused (the command types' defaults are for programs, not for files).
3. ``{"type": "sample", "tick", "instruments": {name: {"tip_m": [x, y, z], "force_n": [fx, fy, fz], "jaw",
   "energy", "tick_forces_n": [f, ...]}}}``: the observed state of every instrument (RAS metres, the tissue's force
   on the tip in newtons); ``tick_forces_n`` are the force magnitudes at every tick since the previous sample, this
   sample's tick last (:mod:`surgsim.scoring.tick_forces`; older traces lack it).
   The session loop writes one every 10 ticks (100 Hz at the 1 kHz haptic rate); readers must not assume a rate,
   as scoring integrates over the actual tick gaps. Sample ticks strictly increase.
4. ``{"type": "event", ...}``: an :class:`~surgsim.events.Event` (``Event.to_json()``), in simulated time.
5. ``{"type": "end", "tick", "reason"}``: ``reason`` is ``completed``, ``quit`` or ``time_limit``. A trace without
   it was cut short (crash, kill, power loss) and reads as truncated.

Durability: :class:`TraceWriter` creates the file exclusively (a trace is never overwritten), writes each record as
one line straight through to the operating system, and fsyncs at least once a wall-clock second while records keep
coming, and on close. A killed process therefore loses at most the line being written; a machine crash at most the
last second.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from surgsim import __version__
from surgsim.errors import InputError
from surgsim.events import Event
from surgsim.fileio import OutputError, output_problem, require_input_file
from surgsim.instrument_command import (
    Command,
    FreePoseCommand,
    InstrumentCommand,
    is_free_pose_record,
)

TRACE_FORMAT = "surgsim-trace"
TRACE_FORMAT_VERSION = 1
FSYNC_INTERVAL_S = 1.0
EndReason = Literal["completed", "quit", "time_limit"]

_Vec3 = Annotated[list[float], Field(min_length=3, max_length=3)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class TraceHeader(_Record):
    surgsim_version: str
    procedure: str
    procedure_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    backend: str
    dt_s: float = Field(gt=0)
    seed: int
    # The tissue's step [s] and the solver's iterations (absent in traces from before multi-rate physics: the tissue
    # then stepped every tick with the solver's defaults of the time, 8 iterations).
    tissue_dt_s: float | None = Field(None, gt=0)
    tissue_iterations: int | None = Field(None, ge=1)
    # The share of the procedure's target_nodes its imported organs were meshed with (absent: 1, the procedure's own).
    resolution: float | None = Field(None, gt=0, le=1)
    # Hashes of the procedure's parts (surgsim.procedure.identity); absent in traces recorded before they existed.
    procedure_physics_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    procedure_physics_sections: dict[str, str] | None = None
    procedure_rubric_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @property
    def tissue_step_s(self) -> float:
        """The tissue's step [s] this trace was recorded with."""
        return self.tissue_dt_s if self.tissue_dt_s is not None else self.dt_s

    @classmethod
    def for_session(
        cls, *, trace_path: str | os.PathLike, procedure_path: str | os.PathLike, procedure_sha256: str,
        backend: str, dt_s: float, seed: int, tissue_dt_s: float | None = None, tissue_iterations: int | None = None,
        resolution: float | None = None, identity=None,
    ) -> "TraceHeader":
        """The header of a new trace at ``trace_path`` recording a session of the procedure at ``procedure_path``."""
        procedure = Path(procedure_path).resolve()
        trace_folder = Path(trace_path).resolve().parent
        try:
            shares_more_than_root = Path(os.path.commonpath([procedure, trace_folder])) != Path(procedure.anchor)
        except ValueError:  # different drives on Windows
            shares_more_than_root = False
        # Relative paths survive moving the project; across unrelated trees an absolute path is clearer.
        written = os.path.relpath(procedure, trace_folder) if shares_more_than_root else str(procedure)
        return cls(
            surgsim_version=__version__, procedure=Path(written).as_posix(), procedure_sha256=procedure_sha256,
            backend=backend, dt_s=dt_s, seed=seed, tissue_dt_s=tissue_dt_s, tissue_iterations=tissue_iterations,
            resolution=resolution,
            **({} if identity is None else {
                "procedure_physics_sha256": identity.physics_sha256,
                "procedure_physics_sections": dict(identity.physics_sections),
                "procedure_rubric_sha256": identity.rubric_sha256,
            }),
        )

    @property
    def has_part_hashes(self) -> bool:
        """Whether the header has the physics and rubric hashes (traces from before them have only the file's)."""
        return self.procedure_physics_sections is not None and self.procedure_rubric_sha256 is not None

    def procedure_path(self, trace_path: str | os.PathLike) -> Path:
        """Where the procedure is, for a trace read from ``trace_path``."""
        return Path(trace_path).resolve().parent / self.procedure


class InstrumentSample(_Record):
    """The observed state of one instrument: tip position [m] and the tissue's force on it [N]; ``tick_forces_n``
    the force magnitudes at every tick since the previous sample (absent in traces from before it existed)."""

    tip_m: _Vec3
    force_n: _Vec3
    jaw: float = Field(ge=0, le=1)
    energy: bool
    tick_forces_n: list[float] | None = None


class CommandRecord(_Record):
    tick: int = Field(ge=0)
    instrument: str
    command: InstrumentCommand | FreePoseCommand


class SampleRecord(_Record):
    tick: int = Field(ge=0)
    instruments: dict[str, InstrumentSample]


class EndRecord(_Record):
    tick: int = Field(ge=0)
    reason: EndReason


@dataclass(frozen=True)
class Trace:
    """A trace as read back. ``end`` is None when the trace was cut short (``truncated``). ``records_sha256``: the
    digest of the bytes after the header line that the records were parsed from (None for a trace built otherwise)."""

    path: Path
    header: TraceHeader
    commands: tuple[CommandRecord, ...]
    samples: tuple[SampleRecord, ...]
    events: tuple[Event, ...]
    end: EndRecord | None
    records_sha256: str | None = None

    @property
    def truncated(self) -> bool:
        return self.end is None

    def time_s(self, tick: int) -> float:
        return tick * self.header.dt_s

    @property
    def duration_s(self) -> float:
        """Simulated time from tick 0 to the end record, or to the last record of a truncated trace."""
        if self.end is not None:
            return self.time_s(self.end.tick)
        ticks = [record.tick for record in self.commands + self.samples]
        times = [self.time_s(tick) for tick in ticks] + [event.time_s for event in self.events]
        return max(times, default=0.0)


def _dumps_record(record: dict) -> str:
    """One trace line (without the newline): sorted keys, no spaces, floats as repr, NaN refused."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False)


class TraceWriter:
    """Writes one session's trace; use as a context manager.

    ::

        with TraceWriter(path, header) as trace:
            trace.write_command(tick, "left_grasper", command)   # skipped when unchanged
            trace.write_sample(tick, {"left_grasper": sample})
            trace.write_event(event)
            trace.write_end(tick, "completed")

    Leaving the block without :meth:`write_end` (an exception, a crash) leaves a trace that reads as truncated, which
    is the truth about that session.
    """

    def __init__(
        self, path: str | os.PathLike, header: TraceHeader, *, wall_clock: Callable[[], float] = time.monotonic
    ):
        self.path = Path(path)
        self._wall_clock = wall_clock
        self._last_commands: dict[str, Command] = {}
        self._last_tick = 0
        self._last_sample_tick = -1
        self._ended = False
        self._last_sync_s = wall_clock()
        try:
            # Line buffering hands every record to the OS as soon as its line is complete.
            self._file = open(self.path, "x", encoding="utf-8", newline="\n", buffering=1)
        except FileExistsError:
            raise InputError(self.path, "a trace already exists here; traces are never overwritten.") from None
        except OSError as error:  # a read-only or full file system, a missing folder, no permission
            raise OutputError(self.path, output_problem(error)) from None
        try:
            self._write({"type": "header", "format": TRACE_FORMAT, "format_version": TRACE_FORMAT_VERSION,
                         **header.model_dump(exclude_none=True)})
            self._sync()
        except OutputError:  # a full disk: leave no empty trace behind, which would block the next try's path
            with contextlib.suppress(OSError):
                self._file.close()
            self.path.unlink(missing_ok=True)
            raise

    def __enter__(self) -> "TraceWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def write_command(self, tick: int, instrument: str, command: Command) -> bool:
        """Record ``command`` unless it equals the instrument's previous one; True when written."""
        last = self._last_commands.get(instrument)
        if last is command or last == command:
            return False
        self._last_commands[instrument] = command
        self._write({"type": "command", "tick": self._tick(tick), "instrument": instrument, **command.model_dump()})
        return True

    def write_sample(self, tick: int, instruments: Mapping[str, InstrumentSample]) -> None:
        if tick <= self._last_sample_tick:
            raise ValueError(f"a sample at tick {tick} after one at tick {self._last_sample_tick}; one per tick at most")
        self._last_sample_tick = tick
        self._write({
            "type": "sample",
            "tick": self._tick(tick),
            "instruments": {name: sample.model_dump(exclude_none=True) for name, sample in instruments.items()},
        })

    def write_event(self, event: Event) -> None:
        self._write({"type": "event", **event.to_json()})

    def write_end(self, tick: int, reason: EndReason) -> None:
        end = EndRecord(tick=self._tick(tick), reason=reason)
        self._write({"type": "end", **end.model_dump()})
        self._ended = True
        self.close()

    def close(self) -> None:
        if not self._file.closed:
            self._sync()
            self._file.close()

    def _tick(self, tick: int) -> int:
        if tick < self._last_tick:
            raise ValueError(f"tick {tick} is earlier than the last recorded tick {self._last_tick}")
        self._last_tick = tick
        return tick

    def _write(self, record: dict) -> None:
        if self._ended:
            raise ValueError("the trace has ended; nothing can follow its end record")
        try:
            self._file.write(_dumps_record(record) + "\n")
        except OSError as error:  # the disk filled up during the session
            raise OutputError(self.path, output_problem(error)) from None
        if self._wall_clock() - self._last_sync_s >= FSYNC_INTERVAL_S:
            self._sync()

    def _sync(self) -> None:
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as error:
            raise OutputError(self.path, output_problem(error)) from None
        self._last_sync_s = self._wall_clock()


# -- reading -----------------------------------------------------------------------------------------------------------
_validate_event = TypeAdapter(Event).validate_python


def read_trace(path: str | os.PathLike) -> Trace:
    """Read the trace at ``path``.

    A last line cut off mid-write is dropped and the trace reads as truncated. Anything else wrong (a missing or
    foreign header, a newer format version, a malformed line elsewhere, records after the end, sample ticks that go
    backwards) raises :class:`InputError` naming the file and line.
    """
    path = require_input_file(path, "trace file")
    return _parse_trace(path, _trace_bytes(path))


def read_trace_like(path: str | os.PathLike, model: Trace) -> Trace:
    """Read the trace at ``path``, which is expected to hold the same records as ``model`` (a replay of it): when
    the bytes after its header line are those ``model``'s records were parsed from (same digest), the records are
    ``model``'s and only the header is parsed; otherwise (another writer's formatting, a difference, a truncated
    ``model``) as :func:`read_trace`. Parsing a long trace's records takes a second; hashing them, milliseconds."""
    path = require_input_file(path, "trace file")
    data = _trace_bytes(path)
    if model.truncated or model.records_sha256 is None or _records_sha256(data) != model.records_sha256:
        return _parse_trace(path, data, known_commands=_command_lines(model))
    reader = _TraceReader(path)
    reader.add(1, reader.parse(1, data.split(b"\n", 1)[0], tolerate_damage=False))
    return Trace(path, reader.header, model.commands, model.samples, model.events, model.end, model.records_sha256)


def _command_lines(model: Trace) -> dict[bytes, CommandRecord]:
    """``model``'s command records by the exact line each was parsed from, read again from ``model``'s file; empty
    when that file is gone or changed, or its lines cannot be told apart without parsing them.

    A replay re-records the recording's commands byte for byte, while its samples differ in the last bits on
    another machine; a line equal to one of these is this record, and is not parsed and validated again."""
    try:
        data = Path(model.path).read_bytes()
    except OSError:
        return {}
    if _records_sha256(data) != model.records_sha256:
        return {}
    # Keys are sorted (_dumps_record), so a command line ends with its type; any other writer: the count disagrees.
    lines = [line for line in data.split(b"\n")[1:] if line.endswith(b'"type":"command"}')]
    if len(lines) != len(model.commands):
        return {}
    return dict(zip(lines, model.commands))


def _parse_trace(path: Path, data: bytes, known_commands: Mapping[bytes, CommandRecord] | None = None) -> Trace:
    lines = data.split(b"\n")
    last_line_complete = lines[-1] == b""
    if last_line_complete:
        lines.pop()
    reader = _TraceReader(path)
    known_commands = known_commands or {}
    with _collector_paused():
        for number, raw in enumerate(lines, start=1):
            known = known_commands.get(raw)
            if known is not None and reader.header is not None and reader.end is None:
                reader.commands.append(known)
                continue
            is_unfinished_tail = number == len(lines) and not last_line_complete
            record = reader.parse(number, raw, tolerate_damage=is_unfinished_tail and number > 1)
            if record is not None:
                reader.add(number, record)
    return reader.trace(_records_sha256(data))


def _trace_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InputError(path, f"cannot read the trace: {error.strerror}.") from None


def _records_sha256(data: bytes) -> str:
    """The digest of a trace file's bytes after its header line."""
    newline = data.find(b"\n")
    return hashlib.sha256(data[newline + 1:] if newline >= 0 else b"").hexdigest()


@contextlib.contextmanager
def _collector_paused():
    """Python's cycle collector off while records are built: tens of thousands of small acyclic objects set off its
    full passes over the whole heap (a long trace read in 0.4 s instead of 0.5-1.1 s)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _TraceReader:
    def __init__(self, path: Path):
        self.path = path
        self.header: TraceHeader | None = None
        self.commands: list[CommandRecord] = []
        self.samples: list[SampleRecord] = []
        self.events: list[Event] = []
        self.end: EndRecord | None = None

    def fail(self, line: int, problem: str):
        raise InputError(self.path, f"line {line}: {problem}")

    def parse(self, number: int, raw: bytes, *, tolerate_damage: bool) -> dict | None:
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            if tolerate_damage:
                return None  # the line being written when the session died
            self.fail(number, f"not a JSON object ({error}).")
        except RecursionError:  # json's decoder recurses per level of "[[[[…"
            self.fail(number, "nested too deeply to be a trace record.")
        if not isinstance(record, dict) or not isinstance(record.get("type"), str):
            self.fail(number, "expected a JSON object with a 'type'.")
        return record

    def add(self, number: int, record: dict) -> None:
        kind = record.pop("type")
        if self.header is None:
            self._read_header(number, kind, record)
            return
        if self.end is not None:
            self.fail(number, "a record after the end record.")
        if kind == "header":
            self.fail(number, "a second header.")
        if kind == "event":
            self.events.append(self._validate(number, kind, _validate_event, record))
        elif kind == "command":
            tick, instrument = record.pop("tick", None), record.pop("instrument", None)
            model = FreePoseCommand if is_free_pose_record(record) else InstrumentCommand
            missing = [name for name in model.model_fields if name not in record]
            if missing:
                self.fail(number, f"bad {kind} record: command.{missing[0]}: Field required.")
            command = self._validate(number, kind, model.model_validate, record, within=("command",))
            nested = {"tick": tick, "instrument": instrument, "command": command}
            self.commands.append(self._validate(number, kind, CommandRecord.model_validate, nested))
        elif kind == "sample":
            sample = self._validate(number, kind, SampleRecord.model_validate, record)
            if self.samples and sample.tick <= self.samples[-1].tick:
                self.fail(number, f"sample tick {sample.tick} does not follow tick {self.samples[-1].tick}.")
            self.samples.append(sample)
        elif kind == "end":
            self.end = self._validate(number, kind, EndRecord.model_validate, record)
        else:
            self.fail(number, f"unknown record type '{kind}'; expected header, command, sample, event or end.")

    def _read_header(self, number: int, kind: str, record: dict) -> None:
        if kind != "header" or record.pop("format", None) != TRACE_FORMAT:
            self.fail(number, f"not a surgsim trace: the first line must be its '{TRACE_FORMAT}' header.")
        version = record.pop("format_version", None)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            self.fail(number, "the header has no valid format_version.")
        if version > TRACE_FORMAT_VERSION:
            self.fail(
                number,
                f"trace format version {version} is newer than this surgsim reads ({TRACE_FORMAT_VERSION}); "
                "upgrade surgsim to read it.",
            )
        self.header = self._validate(number, "header", TraceHeader.model_validate, record)

    def _validate(self, number: int, kind: str, validate: Callable[[Any], Any], record: Any, *, within: tuple = ()):
        try:
            return validate(record)
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            where = ".".join(str(part) for part in within + tuple(first["loc"])) or "the record"
            self.fail(number, f"bad {kind} record: {where}: {first['msg']}.")

    def trace(self, records_sha256: str | None = None) -> Trace:
        if self.header is None:
            raise InputError(self.path, "the trace is empty; it has no header.")
        return Trace(self.path, self.header, tuple(self.commands), tuple(self.samples), tuple(self.events), self.end,
                     records_sha256)
