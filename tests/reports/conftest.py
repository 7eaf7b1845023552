"""The report tests use the scripted-trace generator of the scoring tests and the synthetic attempts of the history
tests."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parents[1]
sys.path.insert(0, str(TESTS / "scoring"))
sys.path.insert(0, str(TESTS / "history"))


@pytest.fixture
def cohort_traces(tmp_path):
    """The test procedure with 4 expert traces (time 20, 22, 24, 26 s) and 2 novice traces (30 and 40 s)."""
    from scripted_sessions import expert_session, novice_session, write_scripted_trace

    procedure = Path(shutil.copy(TESTS / "scoring" / "box_trainer.yaml", tmp_path / "box_trainer.yaml"))
    experts, novices = [], []
    for k, end_s in enumerate((20.0, 22.0, 24.0, 26.0)):
        tips, events = expert_session()
        experts.append(write_scripted_trace(tmp_path / f"expert{k}.jsonl", procedure, tips, events, end_s=end_s))
    for k, end_s in enumerate((30.0, 40.0)):
        tips, events = novice_session()
        novices.append(write_scripted_trace(tmp_path / f"novice{k}.jsonl", procedure, tips, events, end_s=end_s,
                                            end_reason="quit"))
    return procedure, experts, novices
