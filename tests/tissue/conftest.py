"""Fixtures for the tissue package tests (Taichi on the CPU)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def solver_cls(taichi_cpu):
    from surgsim.tissue.solver import TissueSolver

    return TissueSolver
