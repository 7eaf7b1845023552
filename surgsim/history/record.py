"""Turning a scored session into an attempt in the history."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
from pathlib import Path

from surgsim.errors import InputError
from surgsim.history.store import History, NewAttempt, open_history
from surgsim.scoring import ScoreReport, load_session, score_session

TRAINEE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")


def check_trainee_id(trainee: str) -> str:
    """A trainee id as typed: letters, digits and . _ @ + - (an e-mail address or a badge number fits), <= 64."""
    if not TRAINEE_ID.match(trainee):
        raise InputError(
            "--trainee",
            f"'{trainee}' is not a usable trainee id: use 1-64 letters, digits or . _ @ + -, starting with a letter "
            "or digit (for example an e-mail address or a badge number).",
        )
    return trainee


def check_can_record(trainee: str) -> None:
    """Before a live session: the id is usable and the history database opens, so the attempt will not be lost."""
    check_trainee_id(trainee)
    open_history().close()


def trace_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def session_time(trace_path: str | os.PathLike) -> str:
    """When the session was recorded: the trace's last modification (traces carry no wall-clock time), UTC."""
    modified = Path(trace_path).stat().st_mtime
    return datetime.datetime.fromtimestamp(modified, datetime.timezone.utc).isoformat(timespec="seconds")


def new_attempt(
    trainee: str, trace_path: str | os.PathLike, procedure_path: str | os.PathLike, report: ScoreReport,
    verification: str,
) -> NewAttempt:
    report_json = json.loads(report.json_bytes())
    if verification == "recorded" and report_json.get("verified") is True:
        verification = "replayed"  # scored from a re-simulation that reproduced the recording
    return NewAttempt(
        trainee=trainee,
        procedure_path=str(Path(procedure_path).resolve()),
        trace_path=str(Path(trace_path).resolve()),
        trace_sha256=trace_sha256(trace_path),
        session_time=session_time(trace_path),
        verification=verification,
        # The report's own deterministic JSON (rounded floats), so the history holds what `surgsim score` prints.
        report=report_json,
    )


def score_trace_for_history(
    trainee: str, trace_path: str | os.PathLike, procedure_path: str | os.PathLike | None = None
) -> NewAttempt:
    """Score a recorded trace (its recorded outcome) as an attempt by ``trainee``."""
    procedure, trace = load_session(trace_path, procedure_path)
    report = score_session(procedure.spec, trace)
    return new_attempt(trainee, trace_path, procedure.path, report, verification="recorded")


def record_session(
    history: History, trainee: str, trace_path: str | os.PathLike, procedure_path: str | os.PathLike,
    report: ScoreReport, verification: str = "live",
) -> int | None:
    """Record a session that has just been scored; the attempt's id, or None if this trace was already recorded."""
    return history.add(new_attempt(trainee, trace_path, procedure_path, report, verification))


def record_live_attempt(
    trainee: str, trace_path: str | os.PathLike, procedure_path: str | os.PathLike, report: ScoreReport
) -> int | None:
    """Record the session `surgsim run --trainee` has just run and scored, in the default history database."""
    with open_history() as history:
        return record_session(history, trainee, trace_path, procedure_path, report, verification="live")


def read_manifest(path: str | os.PathLike) -> list[tuple[str, str]]:
    """(trace, trainee) pairs from a CSV manifest with the columns ``trace`` and ``trainee`` (others are ignored);
    trace paths are relative to the manifest's folder unless absolute."""
    import csv

    manifest = Path(path)
    try:
        with open(manifest, newline="", encoding="utf-8") as file:
            rows = list(csv.DictReader(file))
            columns = set(rows[0]) if rows else set()
    except OSError as error:
        raise InputError(path, f"cannot read the manifest: {error.strerror}.") from error
    except (csv.Error, UnicodeDecodeError) as error:
        raise InputError(path, f"is not a readable CSV file: {error}.") from error
    if not rows:
        raise InputError(path, "the manifest lists no sessions; it needs a header line `trace,trainee` and a row per "
                               "trace.")
    if not {"trace", "trainee"} <= columns:
        raise InputError(path, f"the manifest needs the columns trace and trainee; it has {', '.join(sorted(columns))}.")
    pairs = []
    for line, row in enumerate(rows, start=2):
        trace, trainee = (row.get("trace") or "").strip(), (row.get("trainee") or "").strip()
        if not trace or not trainee:
            raise InputError(f"{path}:{line}", "every row needs a trace and a trainee.")
        try:
            check_trainee_id(trainee)
        except InputError as error:
            raise InputError(f"{path}:{line}", error.problem) from None
        pairs.append((str(manifest.parent / trace) if not Path(trace).is_absolute() else trace, trainee))
    return pairs
