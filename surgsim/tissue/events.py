"""Events the solver reports to its caller (the value of ``solver.step``: the solver keeps no queue)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SolverEvent:
    """Something the caller (session, scoring) should know about a step.

    ``kind`` is "blowup" for a step rejected by the guard: ``time`` [s] is the simulated time at the start of the
    step, ``max_speed`` [m/s] the largest node speed of the rejected attempt (inf when a value was not finite),
    ``retries`` how many retries were made, ``substeps`` the sub-step count of the last attempt, and ``recovered``
    whether a retry succeeded (False: the input state was kept with velocities zeroed).
    """

    time: float
    kind: str
    max_speed: float
    retries: int
    substeps: int
    recovered: bool
    detail: str = ""
