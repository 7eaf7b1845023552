"""`surgsim run --trainee`: the attempt lands in the history; a bad id or database stops before any simulation."""

from __future__ import annotations

import pytest

from surgsim.cli import main
from surgsim.history import open_history


def test_bad_trainee_or_damaged_history_stops_before_the_session(surgsim_home, tmp_path, capsys):
    trace = tmp_path / "never.jsonl"
    argv = ["run", "liver_retraction", "--viewer", "null", "--max-seconds", "0.01", "--trace", str(trace)]
    assert main([*argv, "--trainee", "no spaces please"]) == 2
    assert "not a usable trainee id" in capsys.readouterr().err
    surgsim_home.mkdir()
    (surgsim_home / "history.sqlite3").write_bytes(b"damaged" * 50)
    assert main([*argv, "--trainee", "carol"]) == 2
    assert "not a readable surgsim history database" in capsys.readouterr().err.replace("\n  ", " ")
    assert not trace.exists()


@pytest.mark.slow
def test_a_live_session_is_recorded_for_the_trainee(surgsim_home, tmp_path):
    trace = tmp_path / "carol-1.jsonl"
    code = main(["run", "liver_retraction", "--viewer", "null", "--max-seconds", "0.05", "--trace", str(trace),
                 "--trainee", "carol"])
    assert code == 1  # 50 ms is not enough to retract a liver
    with open_history() as history:
        [attempt] = history.attempts("carol")
    assert attempt.verification == "live" and attempt.procedure_name == "liver_retraction"
    assert attempt.trace_path == str(trace.resolve()) and not attempt.passed
