"""Synthetic score reports (the JSON form of :class:`surgsim.scoring.ScoreReport`) for tests that need attempts but
not the scoring itself."""

from __future__ import annotations

from surgsim.history import NewAttempt

RUBRIC = {"time_s": (20.0, 120.0), "economy_of_motion": (0.7, 0.2)}  # metric: (expert, zero_at)


def fake_report(*, score: float, passed: bool, time_s: float = 30.0, economy: float | None = 0.5,
                procedure: str = "box_trainer") -> dict:
    metrics = {"time_s": time_s, "economy_of_motion": economy, "goals_completed_fraction": 1.0, "instruments": {}}
    return {
        "format": "surgsim-score",
        "procedure": {"name": procedure, "title": procedure.replace("_", " "), "sha256": "ab" * 32},
        "trace": {"recorded_with": "0.1.0"},
        "metrics": metrics,
        "rubric": [
            {"metric": name, "value": metrics[name], "weight": 1.0, "expert": expert, "zero_at": zero_at,
             "points": 0.5}
            for name, (expert, zero_at) in RUBRIC.items()
        ],
        "score": score,
        "passed": passed,
        "failures": [] if passed else ["score: below the pass mark"],
    }


def fake_attempt(trainee: str, n: int, **report) -> NewAttempt:
    return NewAttempt(
        trainee=trainee, procedure_path="/procedures/box_trainer.yaml", trace_path=f"/sessions/{trainee}-{n}.jsonl",
        trace_sha256=f"{trainee}-{n}".encode().hex().ljust(64, "0")[:64],
        session_time=f"2026-01-01T10:{n // 60:02d}:{n % 60:02d}+00:00", verification="recorded",
        report=fake_report(**report),
    )
