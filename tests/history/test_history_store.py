"""The history database: round trip, migrations, damaged files refused and left untouched, concurrent writers."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from reports import fake_attempt

from surgsim.errors import InputError
from surgsim.history import default_history_path, open_history
from surgsim.history.store import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION, _statements

REPO = Path(__file__).parents[2]


def test_default_path_follows_surgsim_home(surgsim_home):
    assert default_history_path() == surgsim_home / "history.sqlite3"


def test_default_path_without_surgsim_home_is_in_the_user_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("SURGSIM_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    if sys.platform.startswith("linux"):
        assert default_history_path() == tmp_path / "data" / "surgsim" / "history.sqlite3"


def test_attempts_round_trip_filter_and_skip_duplicates(surgsim_home):
    with open_history() as history:
        assert history.add(fake_attempt("alice", 1, score=40.0, passed=False)) == 1
        assert history.add(fake_attempt("alice", 2, score=80.0, passed=True)) == 2
        assert history.add(fake_attempt("bob", 1, score=70.0, passed=True, procedure="suturing")) == 3
        assert history.add(fake_attempt("alice", 1, score=40.0, passed=False)) is None  # same trace again
    with open_history() as history:  # a new connection sees what the first committed
        alice = history.attempts(trainee="alice")
        assert [a.score for a in alice] == [40.0, 80.0] and [a.passed for a in alice] == [False, True]
        assert alice[0].metrics["time_s"] == 30.0 and alice[0].procedure_name == "box_trainer"
        assert [a.trainee for a in history.attempts(procedure="suturing")] == ["bob"]
        assert len(history.attempts()) == 3
        assert history.trainees() == {"alice": None, "bob": None}
        history.set_cohort("bob", "expert")
        assert history.trainees()["bob"] == "expert"
    with sqlite3.connect(default_history_path()) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_add_all_is_all_or_nothing(surgsim_home):
    broken = fake_attempt("alice", 2, score=50.0, passed=False)
    broken.report["score"] = "not a number"
    with open_history() as history:
        with pytest.raises(ValueError):
            history.add_all([fake_attempt("alice", 1, score=50.0, passed=False), broken])
        assert history.attempts() == []


def test_a_version_1_database_is_migrated_keeping_its_attempts(tmp_path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:
        old.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        for statement in _statements(MIGRATIONS[0]):
            old.execute(statement)
        old.execute("PRAGMA user_version = 1")
        old.execute("INSERT INTO trainees VALUES ('carol', '2025-01-01T00:00:00+00:00')")
        report = json.dumps(fake_attempt("carol", 1, score=61.5, passed=True).report)
        old.execute(
            "INSERT INTO attempts (trainee_id, procedure_name, procedure_title, procedure_sha256, procedure_path, "
            "trace_path, trace_sha256, session_time, recorded_at, recorded_with, score, passed, report_json) VALUES "
            "('carol', 'box_trainer', 'box trainer', ?, '/p.yaml', '/t.jsonl', ?, '2025-01-01T00:00:00+00:00', "
            "'2025-01-01T00:00:00+00:00', '0.0.9', 61.5, 1, ?)", ("ab" * 32, "cd" * 32, report))
    with open_history(path) as history:
        [attempt] = history.attempts()
        assert attempt.trainee == "carol" and attempt.score == 61.5 and attempt.verification == "recorded"
        assert history.trainees() == {"carol": None}
        history.add(fake_attempt("carol", 2, score=70.0, passed=True))
        assert len(history.attempts("carol")) == 2
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def _damaged_files(tmp_path: Path) -> dict[str, Path]:
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"these are not the bytes of a database\n" * 200)
    foreign = tmp_path / "foreign.sqlite3"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    newer = tmp_path / "newer.sqlite3"
    with open_history(newer):
        pass
    with sqlite3.connect(newer) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    mangled = tmp_path / "mangled.sqlite3"
    with open_history(mangled) as history:
        history.add_all([fake_attempt("dave", n, score=50.0, passed=False) for n in range(200)])
    with sqlite3.connect(mangled) as db:  # fold the WAL back in, so the damage below is in the main file
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("PRAGMA journal_mode = DELETE")
    data = bytearray(mangled.read_bytes())
    data[8192:16384] = b"\xff" * 8192  # pages 3-4 (page size 4096) overwritten
    mangled.write_bytes(bytes(data))
    return {"garbage": garbage, "foreign": foreign, "newer": newer, "mangled": mangled}


def test_damaged_or_foreign_databases_are_refused_and_left_untouched(tmp_path):
    for name, path in _damaged_files(tmp_path).items():
        before = path.read_bytes()
        siblings = sorted(p.name for p in tmp_path.iterdir())
        with pytest.raises(InputError) as error:
            with open_history(path) as history:
                history.attempts()
        assert str(path) == error.value.source, name
        assert "left" in error.value.problem, name
        assert path.read_bytes() == before, name
        assert sorted(p.name for p in tmp_path.iterdir()) == siblings, name  # no journal or new file beside it


def test_cli_on_a_damaged_database_exits_2_with_one_paragraph(surgsim_home):
    surgsim_home.mkdir()
    database = surgsim_home / "history.sqlite3"
    database.write_bytes(b"\x00garbage" * 100)
    env = {**os.environ, "PYTHONPATH": str(REPO), "SURGSIM_HOME": str(surgsim_home)}
    result = subprocess.run([sys.executable, "-m", "surgsim", "history"], capture_output=True, text=True, env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and str(database) in result.stderr.replace("\n  ", " ")
    assert "not a readable surgsim history database" in result.stderr.replace("\n  ", " ")
    assert database.read_bytes() == b"\x00garbage" * 100


WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[3])
    from reports import fake_attempt
    from surgsim.history import open_history

    trainee, count = sys.argv[1], int(sys.argv[2])
    for n in range(count):
        with open_history() as history:  # a fresh connection each time: opening races with the other writer too
            history.add(fake_attempt(trainee, n, score=float(n), passed=n % 2 == 0))
""")


def test_two_concurrent_writers_lose_nothing(surgsim_home):
    count = 60
    env = {**os.environ, "PYTHONPATH": str(REPO), "SURGSIM_HOME": str(surgsim_home)}
    here = str(Path(__file__).parent)
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, trainee, str(count), here], env=env, stderr=subprocess.PIPE,
                         text=True)
        for trainee in ("alice", "bob")
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err
    with open_history() as history:
        attempts = history.attempts()
        assert len(attempts) == 2 * count
        assert len({attempt.id for attempt in attempts}) == 2 * count
        for trainee in ("alice", "bob"):
            assert sorted(a.score for a in history.attempts(trainee)) == [float(n) for n in range(count)]
    with sqlite3.connect(default_history_path()) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write into read-only folders")
def test_a_read_only_folder_is_a_clear_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(InputError) as error:
            open_history(folder / "history.sqlite3")
        assert "read-only" in error.value.problem
    finally:
        folder.chmod(0o700)


def test_a_folder_that_cannot_be_made_is_a_clear_error(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where SURGSIM_HOME should be a folder\n")
    with pytest.raises(InputError) as error:
        open_history(blocker / "history.sqlite3")
    assert "cannot create" in error.value.problem
    assert blocker.read_text() == "a file where SURGSIM_HOME should be a folder\n"
