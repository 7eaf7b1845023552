"""Trainee history: every attempt of every trainee in one SQLite database (:mod:`surgsim.history.store`), and
what follows from it: learning curves, CUSUM charts and proficiency (:mod:`surgsim.history.learning`)."""

from surgsim.history.record import record_live_attempt, record_session, score_trace_for_history
from surgsim.history.store import Attempt, History, NewAttempt, default_history_path, open_history

__all__ = [
    "Attempt", "History", "NewAttempt", "default_history_path", "open_history", "record_live_attempt", "record_session",
    "score_trace_for_history",
]
