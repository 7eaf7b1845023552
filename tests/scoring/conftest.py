"""Fixtures for the scoring tests: the test procedure and the expert and novice traces."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from scripted_sessions import expert_session, novice_session, write_scripted_trace

HERE = Path(__file__).parent


@pytest.fixture
def box_trainer(tmp_path) -> Path:
    """A copy of the test procedure in a fresh folder, so that traces can sit beside it."""
    return Path(shutil.copy(HERE / "box_trainer.yaml", tmp_path / "box_trainer.yaml"))


@pytest.fixture
def expert_trace(tmp_path, box_trainer) -> Path:
    tips, events = expert_session()
    return write_scripted_trace(tmp_path / "expert.jsonl", box_trainer, tips, events, end_s=20.0)


@pytest.fixture
def novice_trace(tmp_path, box_trainer) -> Path:
    tips, events = novice_session()
    return write_scripted_trace(tmp_path / "novice.jsonl", box_trainer, tips, events, end_s=20.0, end_reason="quit")
