"""Stepping helper shared by the tissue tests."""

from __future__ import annotations


def run_guarded(solver, control, steps, state=None):
    """``steps`` steps of ``solver`` under ``control`` from ``state`` (default: rest); every one must pass the blow-up
    guard. Returns the final state."""
    a = state if state is not None else solver.state()
    b = solver.state()
    for _ in range(steps):
        assert solver.step(a, b, control) is None
        a, b = b, a
    return a
