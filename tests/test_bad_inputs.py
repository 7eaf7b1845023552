"""Hostile and careless inputs to every command end in exit 2 and one paragraph naming the file: never a traceback,
a hang, or a half-written or overwritten output."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from surgsim.cli import main
from surgsim.fileio import OutputError, atomic_output
from surgsim.procedure import check_procedure

REPO = Path(__file__).resolve().parents[1]
PROCEDURES = sorted((REPO / "procedures").glob("*.yaml"))
SHIPPED_TRACE = REPO / "procedures" / "traces" / "liver_retraction.expert.jsonl"


def first_line(path: Path) -> str:
    with path.open(encoding="utf-8") as stream:
        return stream.readline()


# -- nesting 100,000 levels deep ---------------------------------------------------------------------------------------
DEEP = {"flow lists": "[" * 100_000, "flow mappings": "{a: " * 100_000, "inside a key": "scene: " + "[" * 100_000}


@pytest.mark.parametrize("text", DEEP.values(), ids=DEEP.keys())
def test_validate_refuses_deep_nesting_with_its_position(text, tmp_path, capsys):
    path = tmp_path / "deep.yaml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:1:" in err and "nested more than" in err and "Traceback" not in err


def test_run_refuses_deep_nesting_before_it_opens_anything(tmp_path, capsys):
    path = tmp_path / "deep.yaml"
    path.write_text("[" * 100_000)
    assert main(["run", str(path), "--viewer", "null", "--trace", str(tmp_path / "t.jsonl")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "nested more than" in err
    assert not (tmp_path / "t.jsonl").exists()


def test_a_trace_line_nested_100000_deep_is_named_by_its_line(tmp_path, capsys):
    trace = tmp_path / "deep.jsonl"
    trace.write_text(first_line(SHIPPED_TRACE) + "[" * 100_000 + "\n")
    assert main(["score", str(trace)]) == 2
    err = capsys.readouterr().err
    assert f"{trace}: line 2: nested too deeply" in err and "Traceback" not in err


# -- non-finite numbers ------------------------------------------------------------------------------------------------
def numeric_scalars(text: str) -> list[yaml.ScalarNode]:
    """Every int or float value node of a YAML document, in file order."""
    found, pending = [], [yaml.compose(text, Loader=yaml.SafeLoader)]
    while pending:
        node = pending.pop()
        if isinstance(node, yaml.MappingNode):
            pending += [value for _, value in node.value]
        elif isinstance(node, yaml.SequenceNode):
            pending += node.value
        elif node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
            found.append(node)
    return sorted(found, key=lambda node: node.start_mark.index)


@pytest.mark.parametrize("procedure", PROCEDURES, ids=lambda p: p.stem)
def test_a_non_finite_number_anywhere_is_reported_at_its_line_and_column(procedure, tmp_path):
    text = procedure.read_text(encoding="utf-8")
    nodes = numeric_scalars(text)
    assert len(nodes) > 20  # the shipped procedures are full of numbers
    mutated = tmp_path / procedure.name
    for count, node in enumerate(nodes):
        start, end = node.start_mark.index, node.end_mark.index
        mutated.write_text(text[:start] + (".nan", ".inf", "-.inf")[count % 3] + text[end:], encoding="utf-8")
        spec, issues = check_procedure(mutated)
        where = (node.start_mark.line + 1, node.start_mark.column + 1)
        assert spec is None, f"{procedure.name}:{where[0]}:{where[1]} accepted a non-finite number"
        assert where in [(issue.line, issue.column) for issue in issues], (where, [str(i) for i in issues])


def test_run_reports_a_nan_port_with_file_line_and_column(tmp_path, capsys):
    text = (REPO / "procedures" / "liver_retraction.yaml").read_text(encoding="utf-8")
    port = next(node for node in numeric_scalars(text)
                if text[node.start_mark.index - 20:node.start_mark.index].rstrip().endswith("port_mm: ["))
    path = tmp_path / "nan_port.yaml"
    path.write_text(text[:port.start_mark.index] + ".nan" + text[port.end_mark.index:], encoding="utf-8")
    assert main(["run", str(path), "--viewer", "null", "--trace", str(tmp_path / "t.jsonl")]) == 2
    err = capsys.readouterr().err
    line, column = port.start_mark.line + 1, port.start_mark.column + 1
    assert f"{path}: line {line}, column {column}:" in err and "finite number" in err
    assert main(["validate", str(path)]) == 2
    assert f"{path}:{line}:{column}:" in capsys.readouterr().err


def test_an_infinite_time_limit_is_refused(tmp_path, capsys):
    path = tmp_path / "forever.yaml"
    text = (REPO / "procedures" / "liver_retraction.yaml").read_text(encoding="utf-8")
    assert "\ntime_limit_s:" in text
    path.write_text(text.replace("\ntime_limit_s:", "\ntime_limit_s: .inf #", 1), encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    assert "time_limit_s: expected a finite number (in seconds); got inf." in capsys.readouterr().err


# -- FIFOs, folders and devices as inputs: never a hang ----------------------------------------------------------------
def surgsim(*argv, timeout: float = 60) -> subprocess.CompletedProcess:
    """The CLI in its own process, so that a read blocking on a FIFO fails the test by timing out instead of hanging."""
    return subprocess.run([sys.executable, "-m", "surgsim", *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, stdin=subprocess.DEVNULL)


SPECIAL_INPUT_COMMANDS = {
    "validate": lambda p: ["validate", p],
    "run": lambda p: ["run", p, "--viewer", "null"],
    "score": lambda p: ["score", p],
    "replay": lambda p: ["replay", p, "--check"],
    "mesh import": lambda p: ["mesh", "import", p, "-o", p.parent / "out.npz"],
    "mesh info": lambda p: ["mesh", "info", p],
}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
@pytest.mark.parametrize("command", SPECIAL_INPUT_COMMANDS, ids=str)
def test_a_fifo_as_input_is_refused_without_waiting_for_a_writer(command, tmp_path):
    suffix = {"mesh import": ".stl", "mesh info": ".npz", "score": ".jsonl", "replay": ".jsonl"}.get(command, ".yaml")
    fifo = tmp_path / f"pipe{suffix}"
    os.mkfifo(fifo)
    result = surgsim(*SPECIAL_INPUT_COMMANDS[command](fifo))
    assert result.returncode == 2, result.stderr
    assert f"{fifo}: is a named pipe (FIFO)" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["validate", "score", "replay", "mesh info", "run"])
def test_a_folder_as_input_is_named_as_a_folder(command, tmp_path, capsys):
    folder = tmp_path / "folder.npz"
    folder.mkdir()
    assert main([str(a) for a in SPECIAL_INPUT_COMMANDS[command](folder)]) == 2
    err = capsys.readouterr().err
    assert f"{folder}: is a folder" in err and "Traceback" not in err


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="no /dev/null")
@pytest.mark.parametrize("command", ["validate", "score", "mesh info"])
def test_a_device_as_input_is_refused(command, capsys):
    assert main([str(a) for a in SPECIAL_INPUT_COMMANDS[command](Path("/dev/null"))]) == 2
    assert "/dev/null: is a device" in capsys.readouterr().err


# -- outputs that cannot be written ------------------------------------------------------------------------------------
def test_an_output_under_a_file_says_which_part_is_a_file(tmp_path, capsys):
    blocker = tmp_path / "report.json"
    blocker.write_text("{}")
    trace = tmp_path / "replay.jsonl"
    for argv in (["replay", str(SHIPPED_TRACE), "--json", str(blocker / "x.json")],
                 ["replay", str(SHIPPED_TRACE), "--out", str(blocker / "x.jsonl")],
                 ["replay", str(SHIPPED_TRACE), "--snapshot", str(blocker / "x.png")],
                 ["run", "liver_retraction", "--viewer", "null", "--trace", str(blocker / "t.jsonl")]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert f"cannot be written: {blocker} is a file, not a folder." in err, (argv, err)
    assert blocker.read_text() == "{}" and not trace.exists()


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC, errno.EACCES])
def test_atomic_output_turns_disk_refusals_into_one_message_and_leaves_nothing(code, tmp_path):
    target = tmp_path / "out" / "report.json"
    with pytest.raises(OutputError) as raised:
        with atomic_output(target) as tmp:
            raise OSError(code, os.strerror(code), str(tmp))
    assert raised.value.source == str(target) and os.strerror(code) in raised.value.problem
    assert list(target.parent.iterdir()) == []


def test_atomic_output_on_a_read_only_file_system(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), kwargs.get("dir"))

    monkeypatch.setattr("surgsim.fileio.tempfile.mkstemp", read_only)
    with pytest.raises(OutputError, match="read-only; write the file somewhere else"):
        with atomic_output(tmp_path / "model.npz"):
            pytest.fail("the block must not run when nothing can be created")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_atomic_output_never_replaces_a_fifo_or_a_folder(tmp_path):
    fifo, folder = tmp_path / "pipe.json", tmp_path / "folder.json"
    os.mkfifo(fifo)
    folder.mkdir()
    for target, kind in ((fifo, "a named pipe (FIFO)"), (folder, "a folder")):
        with pytest.raises(OutputError) as raised:
            with atomic_output(target) as tmp:
                tmp.write_text("{}")
        assert raised.value.problem.startswith(f"is {kind};")
    assert fifo.exists() and not fifo.is_file() and folder.is_dir()


def test_a_trace_on_a_read_only_or_full_disk_is_an_output_error(tmp_path, monkeypatch):
    from surgsim.trace import TraceHeader, TraceWriter

    header = TraceHeader(surgsim_version="0", procedure="p.yaml", procedure_sha256="0" * 64, backend="cpu",
                         dt_s=0.001, seed=0)

    def read_only_open(path, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr("surgsim.trace.open", read_only_open, raising=False)
    with pytest.raises(OutputError, match="read-only"):
        TraceWriter(tmp_path / "session.jsonl", header)
    monkeypatch.undo()

    writer = TraceWriter(tmp_path / "full.jsonl", header)

    class FullDisk:
        closed = False

        def write(self, text):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    real_file, writer._file = writer._file, FullDisk()
    with pytest.raises(OutputError, match="disk is full") as raised:
        writer.write_end(5, "completed")
    assert raised.value.source == str(tmp_path / "full.jsonl")
    real_file.close()


def test_a_control_character_in_a_procedure_is_reported_at_its_position(tmp_path, capsys):
    path = tmp_path / "nul.yaml"
    path.write_bytes(b"title: x\nformat_version: 1\x00\n")
    assert main(["validate", str(path)]) == 2
    assert f"{path}:2:18: not valid YAML: the character U+0000 is not allowed" in capsys.readouterr().err


@pytest.mark.parametrize("seconds", ["inf", "nan", "0", "-1"])
def test_run_refuses_a_max_seconds_that_is_not_a_positive_finite_number(seconds, tmp_path, capsys):
    argv = ["run", "liver_retraction", "--viewer", "null", "--max-seconds", seconds, "--trace", str(tmp_path / "t.jsonl")]
    assert main(argv) == 2
    assert "surgsim: error: --max-seconds: must be a positive, finite number of seconds" in capsys.readouterr().err
    assert not (tmp_path / "t.jsonl").exists()


def test_a_trace_whose_header_does_not_fit_on_the_disk_leaves_no_file(tmp_path, monkeypatch):
    import builtins

    from surgsim.trace import TraceHeader, TraceWriter

    header = TraceHeader(surgsim_version="0", procedure="p.yaml", procedure_sha256="0" * 64, backend="cpu",
                         dt_s=0.001, seed=0)
    real_open = builtins.open

    class FullDisk:
        def __init__(self, stream):
            self.stream = stream
            self.closed = False

        def write(self, text):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def close(self):
            self.closed = True
            self.stream.close()

    monkeypatch.setattr("surgsim.trace.open", lambda *a, **k: FullDisk(real_open(*a, **k)), raising=False)
    path = tmp_path / "session.jsonl"
    with pytest.raises(OutputError, match="disk is full"):
        TraceWriter(path, header)
    assert not path.exists()  # the next session may use the same path
