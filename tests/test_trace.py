"""Session traces: the writer's format and durability, and the reader's handling of truncated and bad files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from surgsim.errors import InputError
from surgsim.events import Event
from surgsim.trace import (
    FreePoseCommand,
    InstrumentCommand,
    InstrumentSample,
    TraceHeader,
    TraceWriter,
    read_trace,
    read_trace_like,
)

SHA = "ab" * 32
COMMAND = InstrumentCommand(pivot_yaw_rad=0.1, pivot_pitch_rad=-0.2, insertion_m=0.05, roll_rad=0.0, jaw=0.0,
                            energy=False)
FREE = FreePoseCommand(position_m=[0.1, -0.2, 0.30000000000000004], orientation_xyzw=[0.0, 0.7071067811865476, 0.0,
                                                                                  0.7071067811865476],
                       jaw=0.25, energy=True)
SAMPLE = InstrumentSample(tip_m=[0.1, 0.2, 0.3], force_n=[0.0, 0.0, 1.5], jaw=0.5, energy=True)


def header(trace_path: Path) -> TraceHeader:
    return TraceHeader.for_session(trace_path=trace_path, procedure_path=trace_path.parent / "p.yaml",
                                   procedure_sha256=SHA, backend="cpu", dt_s=0.001, seed=42)


def write_complete(path: Path) -> Path:
    with TraceWriter(path, header(path)) as writer:
        writer.write_command(0, "left", COMMAND)
        writer.write_sample(0, {"left": SAMPLE})
        writer.write_event(Event(0.004, "grasp", instrument="left", region="edge", position_m=(0.1, 0.2, 0.3)))
        writer.write_sample(10, {"left": SAMPLE})
        writer.write_end(12, "completed")
    return path


def test_round_trip(tmp_path):
    trace = read_trace(write_complete(tmp_path / "t.jsonl"))
    assert trace.header.seed == 42 and trace.header.procedure == "p.yaml"
    assert trace.header.procedure_path(tmp_path / "t.jsonl") == (tmp_path / "p.yaml").resolve()
    assert trace.commands[0].command == COMMAND and trace.commands[0].instrument == "left"
    assert [s.tick for s in trace.samples] == [0, 10] and trace.samples[0].instruments["left"] == SAMPLE
    assert trace.events == (Event(0.004, "grasp", instrument="left", region="edge", position_m=(0.1, 0.2, 0.3)),)
    assert trace.end.reason == "completed" and not trace.truncated
    assert trace.duration_s == pytest.approx(0.012)


def test_a_replay_with_the_same_record_lines_reads_as_the_recording_and_any_other_is_parsed(tmp_path):
    """``read_trace_like``: the records of a replay whose bytes after the header equal those the recording was parsed
    from are the recording's (only its own header is parsed); one changed digit, a missing end, or the recording's
    file edited after it was read make it parse the file in full."""
    from surgsim.replay import compare_traces

    recording = read_trace(write_complete(tmp_path / "recorded.jsonl"))
    lines = (tmp_path / "recorded.jsonl").read_text().splitlines(keepends=True)
    header_line = json.loads(lines[0])
    header_line["seed"] = 7  # a replay's own header differs (machine, time); it is read from the replay
    (tmp_path / "same.jsonl").write_text(json.dumps(header_line) + "\n" + "".join(lines[1:]))
    same = read_trace_like(tmp_path / "same.jsonl", recording)
    assert same.header.seed == 7 and same.path == tmp_path / "same.jsonl"
    assert same.commands is recording.commands and same.samples is recording.samples and same.end is recording.end
    assert compare_traces(recording, same) == []

    changed = "".join(lines).replace('"jaw":0.5', '"jaw":0.51')
    (tmp_path / "changed.jsonl").write_text(changed)
    other = read_trace_like(tmp_path / "changed.jsonl", recording)
    assert other.samples is not recording.samples and other.samples[0].instruments["left"].jaw == 0.51
    assert [m.kind for m in compare_traces(recording, other)] == ["samples"]
    # a command line the replay wrote byte for byte is the recording's record; a changed one is parsed
    assert other.commands[0] is recording.commands[0]
    (tmp_path / "command_changed.jsonl").write_text(changed.replace('"insertion_m":0.05', '"insertion_m":0.06'))
    moved = read_trace_like(tmp_path / "command_changed.jsonl", recording)
    assert moved.commands[0] is not recording.commands[0] and moved.commands[0].command.insertion_m == 0.06
    assert [m.kind for m in compare_traces(recording, moved)] == ["samples", "commands"]

    # the recording's file edited after it was read: a replay equal to the edited file is not the recording
    (tmp_path / "recorded.jsonl").write_text(changed)
    (tmp_path / "as_edited.jsonl").write_text(changed)
    as_edited = read_trace_like(tmp_path / "as_edited.jsonl", recording)
    assert as_edited.samples is not recording.samples and compare_traces(recording, as_edited)

    (tmp_path / "unfinished.jsonl").write_text("".join(lines[:-1]))
    unfinished = read_trace_like(tmp_path / "unfinished.jsonl", recording)
    assert unfinished.truncated and [m.kind for m in compare_traces(recording, unfinished)] == ["end"]


def test_lines_are_sorted_json_with_repr_floats(tmp_path):
    lines = write_complete(tmp_path / "t.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["type"] for r in records] == ["header", "command", "sample", "event", "sample", "end"]
    assert records[0]["format"] == "surgsim-trace" and records[0]["format_version"] == 1
    for line, record in zip(lines, records):
        assert line == json.dumps(record, sort_keys=True, separators=(",", ":"))
    assert '"insertion_m":0.05' in lines[1]


def test_trocar_command_records_keep_their_layout(tmp_path):
    record = json.loads(write_complete(tmp_path / "t.jsonl").read_text().splitlines()[1])
    assert sorted(record) == ["energy", "insertion_m", "instrument", "jaw", "pivot_pitch_rad", "pivot_yaw_rad",
                              "roll_rad", "tick", "type"]


def test_free_pose_commands_round_trip_bit_for_bit(tmp_path):
    path = tmp_path / "t.jsonl"
    with TraceWriter(path, header(path)) as writer:
        writer.write_command(0, "left", COMMAND)
        writer.write_command(0, "open", FREE)
        assert not writer.write_command(1, "open", FREE)
        turned = FREE.model_copy(update={"orientation_xyzw": [0.1, 0.2, 0.3, 0.9273618495495703], "jaw": 1.0})
        writer.write_command(2, "open", turned)
        writer.write_end(3, "completed")
    lines = path.read_text().splitlines()
    assert json.loads(lines[2]) == {"type": "command", "tick": 0, "instrument": "open", "energy": True, "jaw": 0.25,
                                    "orientation_xyzw": FREE.orientation_xyzw, "position_m": FREE.position_m}
    trace = read_trace(path)
    assert [type(c.command) for c in trace.commands] == [InstrumentCommand, FreePoseCommand, FreePoseCommand]
    assert trace.commands[1].command == FREE and trace.commands[2].command == turned
    assert trace.commands[1].command.position_m[2] == 0.30000000000000004  # floats survive exactly
    copy = tmp_path / "copy.jsonl"
    with TraceWriter(copy, header(copy)) as writer:
        for record in trace.commands:
            writer.write_command(record.tick, record.instrument, record.command)
        writer.write_end(trace.end.tick, trace.end.reason)
    assert copy.read_bytes() == path.read_bytes()


@pytest.mark.parametrize("edit, message", [
    (lambda line: line.replace('"jaw":0.25', '"jaw":2.0'), "line 3: bad command record: command.jaw"),
    (lambda line: line.replace('"orientation_xyzw":[0.0,', '"orientation_xyzw":['), "command.orientation_xyzw"),
    (lambda line: line.replace('"position_m"', '"pivot_yaw_rad":0.1,"position_m"'), "command.pivot_yaw_rad"),
])
def test_bad_free_command_records_name_the_line_and_field(tmp_path, edit, message):
    path = tmp_path / "t.jsonl"
    with TraceWriter(path, header(path)) as writer:
        writer.write_command(0, "left", COMMAND)
        writer.write_command(0, "open", FREE)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2] + [edit(lines[2])]) + "\n")
    with pytest.raises(InputError, match=message):
        read_trace(path)


def test_unchanged_commands_are_not_written_again(tmp_path):
    path = tmp_path / "t.jsonl"
    with TraceWriter(path, header(path)) as writer:
        assert writer.write_command(0, "left", COMMAND)
        assert not writer.write_command(1, "left", COMMAND)
        assert writer.write_command(2, "right", COMMAND)
        assert writer.write_command(3, "left", COMMAND.model_copy(update={"jaw": 1.0}))
    assert [(c.tick, c.instrument) for c in read_trace(path).commands] == [(0, "left"), (2, "right"), (3, "left")]


def test_writer_refuses_ticks_that_go_back(tmp_path):
    path = tmp_path / "t.jsonl"
    with TraceWriter(path, header(path)) as writer:
        writer.write_sample(10, {"left": SAMPLE})
        with pytest.raises(ValueError, match="one per tick"):
            writer.write_sample(10, {"left": SAMPLE})
        with pytest.raises(ValueError, match="earlier than the last recorded tick"):
            writer.write_command(5, "left", COMMAND)


def test_an_existing_trace_is_never_overwritten(tmp_path):
    path = write_complete(tmp_path / "t.jsonl")
    before = path.read_bytes()
    with pytest.raises(InputError, match="never overwritten"):
        TraceWriter(path, header(path))
    assert path.read_bytes() == before


def test_fsync_at_least_once_a_wall_second(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    clock = iter(0.3 * i for i in range(1000))
    path = tmp_path / "t.jsonl"
    writer = TraceWriter(path, header(path), wall_clock=lambda: next(clock))
    after_header = len(synced)
    for tick in range(10):  # 0.3 s of wall time per record
        writer.write_sample(tick, {"left": SAMPLE})
    assert len(synced) - after_header >= 2  # 3 s of records: a sync at least every ~1 s
    writer.close()


def test_a_killed_session_loses_nothing_already_written(tmp_path):
    path = tmp_path / "killed.jsonl"
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from surgsim.trace import InstrumentSample, TraceHeader, TraceWriter
        path = Path({str(path)!r})
        header = TraceHeader.for_session(trace_path=path, procedure_path=path.parent / "p.yaml",
                                         procedure_sha256={SHA!r}, backend="cpu", dt_s=0.001, seed=1)
        writer = TraceWriter(path, header)
        sample = InstrumentSample(tip_m=[0.0, 0.0, 0.0], force_n=[0.0, 0.0, 0.0], jaw=0.0, energy=False)
        for tick in range(0, 500, 10):
            writer.write_sample(tick, {{"left": sample}})
        print("written", flush=True)
        time.sleep(60)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "written"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=10)
        process.stdout.close()
    trace = read_trace(path)
    assert trace.truncated and len(trace.samples) == 50


def test_half_written_last_line_reads_as_truncated(tmp_path):
    path = write_complete(tmp_path / "t.jsonl")
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-2]) + lines[-2][:25])  # the last sample cut mid-line, no end record
    trace = read_trace(path)
    assert trace.truncated and [s.tick for s in trace.samples] == [0]
    assert trace.duration_s == pytest.approx(0.004)  # the last record left is the event


def bad_trace(tmp_path: Path, edit) -> Path:
    path = write_complete(tmp_path / "t.jsonl")
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")
    return path


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda lines: lines[:2] + ["{not json"] + lines[2:], "line 3: not a JSON object"),
        (lambda lines: lines[:2] + ['{"type": "warp"}'] + lines[2:], "line 3: unknown record type 'warp'"),
        (lambda lines: lines + [lines[2]], "line 7: a record after the end record"),
        (lambda lines: lines[1:], "line 1: not a surgsim trace"),
        (lambda lines: [lines[0].replace('"format_version":1', '"format_version":2')] + lines[1:],
         "line 1: trace format version 2 is newer"),
        (lambda lines: lines[:2] + [lines[4], lines[2]] + lines[5:], "line 4: sample tick 0 does not follow tick 10"),
        (lambda lines: [lines[0], lines[1].replace('"jaw":0.0', '"jaw":"closed"')] + lines[2:],
         "line 2: bad command record"),
        (lambda lines: [lines[0].replace('"dt_s":0.001', '"dt_s":-1')] + lines[1:], "line 1: bad header record"),
        # the command types have defaults, but a trace must say every field
        (lambda lines: [lines[0], lines[1].replace('"roll_rad":0.0,', '')] + lines[2:],
         "line 2: bad command record: command.roll_rad: Field required"),
    ],
    ids=["malformed", "unknown-type", "after-end", "no-header", "newer-format", "ticks-backwards", "bad-field",
         "bad-header", "missing-field"],
)
def test_bad_traces_name_file_and_line(tmp_path, edit, message):
    path = bad_trace(tmp_path, edit)
    with pytest.raises(InputError, match=message) as caught:
        read_trace(path)
    assert caught.value.source == str(path)


def test_empty_and_missing_traces(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(InputError, match="no header"):
        read_trace(tmp_path / "empty.jsonl")
    with pytest.raises(InputError, match="no such trace"):
        read_trace(tmp_path / "missing.jsonl")


def test_procedure_path_is_relative_when_near_and_absolute_when_not(tmp_path):
    near = TraceHeader.for_session(trace_path=tmp_path / "traces" / "t.jsonl",
                                   procedure_path=tmp_path / "procedures" / "p.yaml", procedure_sha256=SHA,
                                   backend="cpu", dt_s=0.001, seed=0)
    assert near.procedure == "../procedures/p.yaml"
    far = TraceHeader.for_session(trace_path=tmp_path / "t.jsonl", procedure_path="/p.yaml", procedure_sha256=SHA,
                                  backend="cpu", dt_s=0.001, seed=0)
    assert far.procedure == str(Path("/p.yaml").resolve())
