"""Shared test set-up: Taichi always runs on the CPU in tests (no GPU here or in CI)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("PYVISTA_OFF_SCREEN", "true")


@pytest.fixture(scope="session")
def taichi_cpu():
    """Initialise Taichi on the CPU once per test process; returns the backend name."""
    from surgsim import backend

    return backend.init("cpu")


@pytest.fixture
def surgsim_home(tmp_path, monkeypatch):
    """$SURGSIM_HOME pointed at a fresh folder, so the history database is this test's own."""
    home = tmp_path / "home"
    monkeypatch.setenv("SURGSIM_HOME", str(home))
    return home
