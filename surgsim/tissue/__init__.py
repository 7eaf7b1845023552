"""Soft-tissue simulation: the only package that imports Taichi.

Public API: :class:`TissueSolver` (Taichi, :mod:`surgsim.tissue.solver` documents the method),
:class:`TissueControl` (a step's anchors, obstacles and live springs), :class:`TissueState`,
:class:`SolverOptions`, :class:`SolverEvent`, :class:`ToolContact` (instrument contact pass), obstacles :class:`Plane` and :class:`Box`, :func:`spring_stiffness`.
The numpy twin :class:`surgsim.tissue.reference.ReferenceSolver` exists for tests. Importing this package does not
start Taichi; constructing a solver does (through :func:`surgsim.init` when it was not called).
"""

from surgsim.tissue.contact import Box, Plane
from surgsim.tissue.control import TissueControl
from surgsim.tissue.events import SolverEvent
from surgsim.tissue.options import SolverOptions
from surgsim.tissue.state import StateArrays, TissueState
from surgsim.tissue.stiffness import CALIBRATION_FACTOR, spring_stiffness


def __getattr__(name):
    if name == "TissueSolver":
        from surgsim.tissue.solver import TissueSolver

        return TissueSolver
    if name == "ToolContact":
        from surgsim.tissue.tool_contact import ToolContact

        return ToolContact
    raise AttributeError(name)


__all__ = ["TissueSolver", "TissueControl", "ToolContact", "TissueState", "StateArrays", "SolverOptions",
           "SolverEvent", "Plane", "Box", "spring_stiffness", "CALIBRATION_FACTOR"]
