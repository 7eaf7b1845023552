"""`surgsim score`: exit codes 0 pass / 1 fail / 2 bad input, the JSON report, and nothing written on bad input.

These traces are written by hand (scripted_sessions.py), not by the simulator, so they are scored as recorded
(--no-verify); tests/test_verified_scoring.py covers verified scoring on a real session."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from scripted_sessions import expert_session, write_scripted_trace

from surgsim.cli import main


def test_expert_passes_and_writes_the_report(expert_trace, tmp_path, capsys):
    out = tmp_path / "reports" / "expert.json"
    assert main(["score", "--no-verify", str(expert_trace), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["passed"] is True and report["score"] == 100.0
    printed = capsys.readouterr().out
    assert "PASS" in printed and "left_grasper" in printed and "grasp_gauze" in printed


def test_novice_fails_with_exit_1(novice_trace, capsys):
    assert main(["score", "--no-verify", str(novice_trace)]) == 1
    printed = capsys.readouterr().out
    assert "FAIL" in printed and "forbidden-zone contacts: 1, more than the 0 allowed" in printed


def test_same_trace_gives_byte_identical_json(expert_trace, tmp_path):
    main(["score", "--no-verify", str(expert_trace), "--json", str(tmp_path / "a.json")])
    main(["score", "--no-verify", str(expert_trace), "--json", str(tmp_path / "b.json")])
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_truncated_trace_warns_and_scores_what_is_there(tmp_path, box_trainer, capsys):
    tips, events = expert_session()
    path = write_scripted_trace(tmp_path / "crash.jsonl", box_trainer, tips, events, end_s=20.0, end_reason=None)
    path.write_bytes(path.read_bytes() + b'{"type":"sample","tick":20100,"instr')  # killed mid-line
    out = tmp_path / "crash.json"
    assert main(["score", "--no-verify", str(path), "--json", str(out)]) == 0  # every goal was reached before the crash
    assert json.loads(out.read_text())["truncated"] is True
    captured = capsys.readouterr()
    assert "was cut short" in captured.err and "cut short" in captured.out


def bad_input_cases(tmp_path, expert_trace, box_trainer):
    """(name, argv) pairs that must each exit 2 and write nothing."""
    other = tmp_path / "other" / "box_trainer.yaml"
    other.parent.mkdir()
    other.write_text(box_trainer.read_text().replace("Box trainer (test)", "Another procedure"))
    edited = tmp_path / "edited"
    edited.mkdir()
    shutil.copy(expert_trace, edited / "expert.jsonl")
    (edited / "box_trainer.yaml").write_text(box_trainer.read_text() + "\n# edited after the session\n")
    newer = tmp_path / "newer.jsonl"
    newer.write_text(expert_trace.read_text().replace('"format_version":1', '"format_version":2', 1))
    corrupt = tmp_path / "corrupt.jsonl"
    lines = expert_trace.read_text().splitlines(keepends=True)
    corrupt.write_text("".join(lines[:5]) + "{oops\n" + "".join(lines[5:]))
    moved = tmp_path / "moved" / "expert.jsonl"
    moved.parent.mkdir()
    shutil.copy(expert_trace, moved)
    return [
        ("another procedure (hash mismatch)", [str(expert_trace), "--procedure", str(other)]),
        ("procedure edited since (hash mismatch)", [str(edited / "expert.jsonl")]),
        ("newer trace format", [str(newer)]),
        ("corrupt line in the middle", [str(corrupt)]),
        ("procedure not found", [str(moved)]),
        ("no such trace", [str(tmp_path / "missing.jsonl")]),
    ]


def test_bad_input_exits_2_with_one_clear_message_and_writes_nothing(tmp_path, expert_trace, box_trainer, capsys):
    expected = {
        "another procedure (hash mismatch)": "recorded with another procedure",
        "procedure edited since (hash mismatch)": "procedure was edited since",
        "newer trace format": "line 1: trace format version 2 is newer",
        "corrupt line in the middle": "line 6: not a JSON object",
        "procedure not found": "pass --procedure FILE",
        "no such trace": "no such trace file",
    }
    for name, argv in bad_input_cases(tmp_path, expert_trace, box_trainer):
        out = tmp_path / f"{name}.json"
        assert main(["score", "--no-verify", *argv, "--json", str(out)]) == 2, name
        err = " ".join(capsys.readouterr().err.split())  # the message is wrapped to the terminal width
        assert err.startswith("surgsim: error: ") and expected[name] in err, (name, err)
        assert not out.exists(), name
        assert not list(out.parent.glob(f".{out.name}*")), name  # no temporary file left either


def test_real_process_exit_codes(expert_trace, novice_trace, tmp_path):
    def run(*argv):
        return subprocess.run([sys.executable, "-m", "surgsim", "score", "--no-verify", *argv], capture_output=True, text=True,
                              timeout=60)

    assert run(str(expert_trace)).returncode == 0
    assert run(str(novice_trace)).returncode == 1
    newer = tmp_path / "newer.jsonl"
    newer.write_text(expert_trace.read_text().replace('"format_version":1', '"format_version":9', 1))
    result = run(str(newer))
    assert result.returncode == 2 and "newer than this surgsim reads" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("argv", [["score"], ["score", "a", "--bogus"]])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
