"""`surgsim history`: importing scripted traces, listing, progress, and bad input (exit 2, nothing recorded)."""

from __future__ import annotations

import json
import os

from scripted_sessions import expert_session, novice_session, write_scripted_trace

from surgsim.cli import main
from surgsim.history import open_history


def _traces(tmp_path, box_trainer):
    """An expert and a novice trace; the novice's session is the earlier one (attempts are ordered by session time,
    which is the trace's modification time)."""
    tips, events = expert_session()
    expert = write_scripted_trace(tmp_path / "expert.jsonl", box_trainer, tips, events, end_s=20.0)
    tips, events = novice_session()
    novice = write_scripted_trace(tmp_path / "novice.jsonl", box_trainer, tips, events, end_s=20.0, end_reason="quit")
    os.utime(novice, (1_700_000_000, 1_700_000_000))
    os.utime(expert, (1_700_000_600, 1_700_000_600))
    return expert, novice


def test_add_then_list_then_progress(surgsim_home, tmp_path, box_trainer, capsys):
    expert, novice = _traces(tmp_path, box_trainer)
    assert main(["history", "add", str(novice), str(expert), "--trainee", "alice@example.org"]) == 0
    assert main(["history", "add", str(expert), "--trainee", "alice@example.org"]) == 0
    assert "already in alice@example.org's history" in capsys.readouterr().out
    assert main(["history", "--trainee", "alice@example.org", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [attempt["passed"] for attempt in listed] == [False, True]
    assert [attempt["session_time"] for attempt in listed] == ["2023-11-14T22:13:20+00:00", "2023-11-14T22:23:20+00:00"]
    assert listed[1]["score"] == 100.0 and listed[1]["trace_path"] == str(expert.resolve())
    assert listed[0]["metrics"]["forbidden_contacts"] == 1
    assert main(["history", "--trainee", "nobody", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    procedure = listed[0]["procedure_name"]
    assert main(["history", "progress", "--trainee", "alice@example.org", "--procedure", procedure, "--json"]) == 0
    progress = json.loads(capsys.readouterr().out)
    assert [row["passed"] for row in progress["attempts"]] == [False, True]
    assert progress["proficiency"]["proficient"] is False  # one attempt at expert level is not two in a row


def test_a_bad_trace_records_nothing(surgsim_home, tmp_path, box_trainer, capsys):
    expert, _ = _traces(tmp_path, box_trainer)
    broken = tmp_path / "broken.jsonl"
    broken.write_text("this is not a trace\n")
    assert main(["history", "add", str(expert), str(broken), "--trainee", "bob"]) == 2
    assert str(broken) in capsys.readouterr().err
    with open_history() as history:
        assert history.attempts() == []


def test_bad_trainee_ids_and_rates_exit_2(surgsim_home, tmp_path, box_trainer, capsys):
    expert, _ = _traces(tmp_path, box_trainer)
    assert main(["history", "add", str(expert), "--trainee", "two words"]) == 2
    assert "not a usable trainee id" in capsys.readouterr().err
    assert main(["history", "progress", "--trainee", "bob", "--procedure", "x", "--acceptable", "0.5"]) == 2
    assert main(["history", "progress", "--trainee", "bob", "--procedure", "x"]) == 2
    assert "no recorded attempts" in capsys.readouterr().err


def test_cohort_groups(surgsim_home, capsys):
    assert main(["history", "cohort", "carol", "PGY-2"]) == 0
    with open_history() as history:
        assert history.trainees() == {"carol": "PGY-2"}
    assert main(["history", "cohort", "carol", "-"]) == 0
    with open_history() as history:
        assert history.trainees() == {"carol": None}


def test_manifest_says_whose_each_trace_is(surgsim_home, tmp_path, box_trainer, capsys):
    expert, novice = _traces(tmp_path, box_trainer)
    manifest = tmp_path / "course.csv"
    manifest.write_text(f"trace,trainee,note\n{expert.name},erin,first day\n{novice},frank,\n")
    assert main(["history", "add", "--manifest", str(manifest)]) == 0
    with open_history() as history:
        assert [a.trace_path for a in history.attempts("erin")] == [str(expert.resolve())]
        assert [a.trace_path for a in history.attempts("frank")] == [str(novice.resolve())]
    bad = tmp_path / "bad.csv"
    bad.write_text(f"trace,trainee\n{expert.name},two words\n")
    assert main(["history", "add", "--manifest", str(bad)]) == 2
    assert "bad.csv:2" in capsys.readouterr().err
    no_columns = tmp_path / "cols.csv"
    no_columns.write_text("file,person\nx,y\n")
    assert main(["history", "add", "--manifest", str(no_columns)]) == 2
    assert main(["history", "add", str(expert)]) == 2  # whose?
    assert "--trainee" in capsys.readouterr().err
