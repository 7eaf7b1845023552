"""Fixtures for the analytic physics tests: the Taichi solver class, on the CPU backend."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def solver_cls(taichi_cpu):
    from surgsim.tissue.solver import TissueSolver

    return TissueSolver
