"""The trainee history database: one SQLite file, schema-versioned, safe for several writers at once.

Where: ``$SURGSIM_HOME/history.sqlite3`` when ``SURGSIM_HOME`` is set, else ``history.sqlite3`` in the user's data
directory (``$XDG_DATA_HOME/surgsim`` or ``~/.local/share/surgsim`` on Linux, ``~/Library/Application Support/surgsim``
on macOS, ``%APPDATA%\\surgsim`` on Windows).

Versioning. ``PRAGMA user_version`` holds the schema version and :data:`MIGRATIONS` takes a database from each
version to the next; opening a database runs the missing ones in one ``BEGIN IMMEDIATE`` transaction, so two
processes opening a new database at once cannot both migrate it. ``PRAGMA application_id`` marks the file as ours, so
that another program's SQLite file (or any other file) is refused instead of being written into.

Concurrency. The journal is in WAL mode (readers never block the writer), every write is one ``BEGIN IMMEDIATE``
transaction, and a busy database is waited for (:data:`BUSY_TIMEOUT_S`) rather than failing.

Damage. A file that is not a SQLite database, is another program's, comes from a newer surgsim, or fails SQLite's
quick check raises :class:`~surgsim.errors.InputError` naming the file; it is never overwritten or "repaired".
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from surgsim.errors import InputError

DATABASE_NAME = "history.sqlite3"
APPLICATION_ID = 0x53534D48  # "SSMH": surgsim history
BUSY_TIMEOUT_S = 60.0

# MIGRATIONS[k] takes the schema from version k to version k + 1.
MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1: trainees and their attempts.
    """
    CREATE TABLE trainees (
        id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL
    );
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        trainee_id TEXT NOT NULL REFERENCES trainees(id),
        procedure_name TEXT NOT NULL,
        procedure_title TEXT NOT NULL,
        procedure_sha256 TEXT NOT NULL,
        procedure_path TEXT NOT NULL,
        trace_path TEXT NOT NULL,
        trace_sha256 TEXT NOT NULL,
        session_time TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        recorded_with TEXT NOT NULL,
        score REAL NOT NULL,
        passed INTEGER NOT NULL,
        report_json TEXT NOT NULL,
        UNIQUE (trainee_id, trace_sha256)
    );
    CREATE INDEX attempts_by_trainee ON attempts (trainee_id, procedure_name, session_time);
    """,
    # 1 -> 2: how the score was obtained ('live': scored as the session ended; 'recorded': from an imported trace's
    # recorded outcome; 'replayed': after re-simulating it), and an optional group per trainee for cohort reports.
    """
    ALTER TABLE attempts ADD COLUMN verification TEXT NOT NULL DEFAULT 'recorded';
    ALTER TABLE trainees ADD COLUMN cohort TEXT;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
VERIFICATIONS = ("live", "recorded", "replayed")


def default_history_path() -> Path:
    """The history database's path: under ``$SURGSIM_HOME``, else the user's data directory."""
    home = os.environ.get("SURGSIM_HOME")
    if home:
        return Path(home).expanduser() / DATABASE_NAME
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "surgsim" / DATABASE_NAME


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Attempt:
    """One recorded attempt at a procedure. ``report`` is the score report's JSON (:mod:`surgsim.scoring.report`)."""

    id: int
    trainee: str
    procedure_name: str
    procedure_title: str
    procedure_sha256: str
    procedure_path: str
    trace_path: str
    trace_sha256: str
    session_time: str  # ISO 8601, UTC: when the session was recorded
    recorded_at: str  # ISO 8601, UTC: when it entered the history
    recorded_with: str  # surgsim version that recorded the trace
    verification: str
    score: float
    passed: bool
    report: dict

    @property
    def metrics(self) -> dict:
        return self.report["metrics"]

    def to_json(self) -> dict:
        summary = {key: value for key, value in self.__dict__.items() if key != "report"}
        summary["metrics"] = {key: value for key, value in self.metrics.items() if key != "instruments"}
        summary["failures"] = self.report.get("failures", [])
        return summary


@dataclass(frozen=True)
class NewAttempt:
    """An attempt about to be recorded (the database assigns ``id`` and ``recorded_at``)."""

    trainee: str
    procedure_path: str
    trace_path: str
    trace_sha256: str
    session_time: str
    verification: str
    report: dict


class History:
    """An open history database. Use :func:`open_history`; close it (or use it as a context manager) when done."""

    def __init__(self, connection: sqlite3.Connection, path: Path):
        self._db = connection
        self.path = path

    def __enter__(self) -> "History":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; IMMEDIATE takes the write lock up front so that it cannot deadlock half way."""
        with _damage_reported(self.path):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def add(self, attempt: NewAttempt) -> int | None:
        """Record ``attempt``; its id, or None when this trainee already has this trace (same sha256)."""
        return self.add_all([attempt])[0]

    def add_all(self, attempts: list[NewAttempt]) -> list[int | None]:
        """Record every attempt in one transaction (all or none); each one's id, None where already recorded."""
        for attempt in attempts:
            if attempt.verification not in VERIFICATIONS:
                raise ValueError(f"verification must be one of {VERIFICATIONS}, not {attempt.verification!r}")
        with self._write() as db:
            return [self._insert(db, attempt) for attempt in attempts]

    @staticmethod
    def _insert(db: sqlite3.Connection, attempt: NewAttempt) -> int | None:
        report = attempt.report
        db.execute("INSERT OR IGNORE INTO trainees (id, created_at) VALUES (?, ?)", (attempt.trainee, utc_now()))
        cursor = db.execute(
            "INSERT OR IGNORE INTO attempts (trainee_id, procedure_name, procedure_title, procedure_sha256, "
            "procedure_path, trace_path, trace_sha256, session_time, recorded_at, recorded_with, score, passed, "
            "report_json, verification) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                attempt.trainee, report["procedure"]["name"], report["procedure"]["title"],
                report["procedure"]["sha256"], attempt.procedure_path, attempt.trace_path, attempt.trace_sha256,
                attempt.session_time, utc_now(), report["trace"]["recorded_with"], float(report["score"]),
                int(bool(report["passed"])), json.dumps(report, sort_keys=True), attempt.verification,
            ),
        )
        return cursor.lastrowid if cursor.rowcount == 1 else None

    def set_cohort(self, trainee: str, cohort: str | None) -> None:
        """Put ``trainee`` in a group (e.g. "expert", "PGY-2") for cohort reports; None takes them out."""
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO trainees (id, created_at) VALUES (?, ?)", (trainee, utc_now()))
            db.execute("UPDATE trainees SET cohort = ? WHERE id = ?", (cohort, trainee))

    def trainees(self) -> dict[str, str | None]:
        """Every trainee and their cohort (None when in none)."""
        with _damage_reported(self.path):
            rows = self._db.execute("SELECT id, cohort FROM trainees ORDER BY id").fetchall()
        return {trainee: cohort for trainee, cohort in rows}

    def attempts(self, trainee: str | None = None, procedure: str | None = None) -> list[Attempt]:
        """Attempts in the order they were made (session time, then the order they were recorded)."""
        query = (
            "SELECT id, trainee_id, procedure_name, procedure_title, procedure_sha256, procedure_path, trace_path, "
            "trace_sha256, session_time, recorded_at, recorded_with, verification, score, passed, report_json "
            "FROM attempts"
        )
        conditions, values = [], []
        if trainee is not None:
            conditions.append("trainee_id = ?")
            values.append(trainee)
        if procedure is not None:
            conditions.append("procedure_name = ?")
            values.append(procedure)
        if conditions:
            query += " WHERE " + " AND ".join(conditions)
        query += " ORDER BY session_time, id"
        with _damage_reported(self.path):
            rows = self._db.execute(query, values).fetchall()
        return [
            Attempt(*row[:13], passed=bool(row[13]), report=json.loads(row[14]))
            for row in rows
        ]


@contextlib.contextmanager
def _damage_reported(path: Path) -> Iterator[None]:
    """SQLite's "file is not a database" / "database disk image is malformed" as an InputError naming the file."""
    try:
        yield
    except sqlite3.OperationalError as error:  # the file may be fine: locked, read-only, unreachable
        if "locked" in str(error) or "busy" in str(error):
            raise InputError(
                path, f"the history database stayed busy for more than {BUSY_TIMEOUT_S:g} s ({error}); try again."
            ) from error
        raise InputError(path, f"cannot use the history database: {error} (is the file or its folder read-only? "
                               "SQLite also needs to create files beside it).") from error
    except sqlite3.DatabaseError as error:  # "file is not a database", "database disk image is malformed"
        raise InputError(path, _damaged(error)) from error


def _damaged(detail: object) -> str:
    return (
        f"this is not a readable surgsim history database ({detail}). It was left exactly as it is: move it aside "
        "(or restore it from a backup) and surgsim will start a new one; set SURGSIM_HOME to use another folder."
    )


def open_history(path: str | os.PathLike | None = None, *, create: bool = True) -> History:
    """Open (creating and migrating as needed) the history database at ``path`` (default: :func:`default_history_path`).

    Raises :class:`InputError` for a file that is not an intact surgsim history database, or one written by a newer
    surgsim; the file is left untouched.
    """
    path = Path(path) if path is not None else default_history_path()
    if path.is_dir():
        raise InputError(path, "is a folder; the history database must be a file.")
    if not path.exists():
        if not create:
            raise InputError(path, "there is no history database here yet; record an attempt first.")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise InputError(path, f"cannot create the folder for the history database: {error.strerror or error} "
                                   "(set SURGSIM_HOME to a folder you can write).") from error
    existed = path.exists() and path.stat().st_size > 0
    if existed:
        _check_header(path)
    with _damage_reported(path):
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        with _damage_reported(path):
            db.execute("PRAGMA foreign_keys = ON")
            if existed:
                problems = [row[0] for row in db.execute("PRAGMA quick_check").fetchall()]
                if problems != ["ok"]:
                    raise InputError(path, _damaged("; ".join(problems[:3])))
            _migrate(db, path)
            db.execute("PRAGMA journal_mode = WAL")
    except BaseException:
        db.close()
        raise
    return History(db, path)


def _check_header(path: Path) -> None:
    """Refuse anything but a SQLite file before sqlite3 touches it (it would otherwise try to use a journal on it)."""
    with open(path, "rb") as file:
        magic = file.read(16)
    if magic != b"SQLite format 3\x00":
        raise InputError(path, _damaged("the file does not start like a SQLite database"))


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    if _marks(db) == (APPLICATION_ID, SCHEMA_VERSION):
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        # Read again under the write lock: another process may have created or migrated it meanwhile.
        application_id, version = _marks(db)
        if application_id != APPLICATION_ID:
            has_tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
            if has_tables or version != 0:
                raise InputError(path, _damaged("a SQLite database of another program"))
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        if version > SCHEMA_VERSION:
            raise InputError(
                path,
                f"this history database has schema version {version}, newer than this surgsim knows "
                f"({SCHEMA_VERSION}); upgrade surgsim to read it. It was left as it is.",
            )
        for script in MIGRATIONS[version:]:
            # executescript() would commit our transaction first; run the statements one by one inside it.
            for statement in _statements(script):
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _marks(db: sqlite3.Connection) -> tuple[int, int]:
    """(application id, schema version) as the file says."""
    return db.execute("PRAGMA application_id").fetchone()[0], db.execute("PRAGMA user_version").fetchone()[0]


def _statements(script: str) -> list[str]:
    return [statement.strip() for statement in script.split(";") if statement.strip()]
