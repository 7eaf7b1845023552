"""`surgsim script`: a user's demonstration script run headless on a procedure that is not shipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from surgsim.cli import main

ROOT = Path(__file__).parents[2]
PROCEDURE = ROOT / "procedures" / "examples" / "tissue_lift.yaml"
EXPERT = ROOT / "procedures" / "examples" / "tissue_lift_expert.py"


def error_text(capsys) -> str:
    """The one-paragraph error, unwrapped."""
    return capsys.readouterr().err.replace("\n  ", " ")


def test_bad_scripts_exit_2_before_simulating(tmp_path, capsys):
    out = tmp_path / "t.jsonl"
    assert main(["script", str(PROCEDURE), str(tmp_path / "missing.py"), "-o", str(out)]) == 2
    assert "no such script file" in error_text(capsys)
    broken = tmp_path / "broken.py"
    broken.write_text("def script(ctl):\n    yield from\n")
    assert main(["script", str(PROCEDURE), str(broken), "-o", str(out)]) == 2
    assert "SyntaxError" in error_text(capsys)
    assert main(["script", str(PROCEDURE), str(EXPERT), "--function", "nothing_here", "-o", str(out)]) == 2
    assert "defines no function 'nothing_here(ctl)'" in error_text(capsys)
    out.write_text("an earlier trace\n")
    assert main(["script", str(PROCEDURE), str(EXPERT), "-o", str(out)]) == 2
    assert out.read_text() == "an earlier trace\n"


@pytest.mark.slow
@pytest.mark.parametrize("function", ["script", "generic"])
def test_the_example_expert_passes(tmp_path, function):
    out, report = tmp_path / "expert.jsonl", tmp_path / "expert.json"
    assert main(["script", str(PROCEDURE), str(EXPERT), "--function", function, "-o", str(out), "--json",
                 str(report)]) == 0
    scored = json.loads(report.read_text())
    assert scored["metrics"]["goals_completed"] == 2 and scored["passed"]
    assert not list(tmp_path.glob(".*partial"))
    # the recorded trace scores the same through `surgsim score` (which re-simulates it first unless told not to)
    again = tmp_path / "again.json"
    assert main(["score", str(out), "--no-verify", "--json", str(again)]) == 0
    assert again.read_bytes() == report.read_bytes()
    verified = tmp_path / "verified.json"
    assert main(["score", str(out), "--json", str(verified)]) == 0
    assert json.loads(verified.read_text()) == {**scored, "verified": True}


@pytest.mark.slow
def test_an_error_in_the_script_is_reported_with_its_line_and_leaves_no_trace(tmp_path, capsys):
    script = tmp_path / "wrong.py"
    script.write_text("from surgsim.script import grasp\n\n\ndef script(ctl):\n    yield from ctl.wait(0.01)\n"
                      "    yield from grasp(ctl, 'grasper', 'no_such_region')\n")
    out = tmp_path / "wrong.jsonl"
    assert main(["script", str(PROCEDURE), str(script), "-o", str(out)]) == 2
    assert "region 'no_such_region'" in error_text(capsys)
    assert not out.exists() and not list(tmp_path.glob(".*partial"))
