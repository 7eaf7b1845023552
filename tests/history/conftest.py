"""Fixtures for the history tests: a private history database, synthetic score reports, scripted traces."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

SCORING_TESTS = Path(__file__).parents[1] / "scoring"
sys.path.insert(0, str(SCORING_TESTS))  # the scripted-trace generator lives with the scoring tests


@pytest.fixture
def box_trainer(tmp_path) -> Path:
    return Path(shutil.copy(SCORING_TESTS / "box_trainer.yaml", tmp_path / "box_trainer.yaml"))
