"""Tissue state: what changes every step (positions, velocities, accelerations, external forces).

:class:`StateArrays` is the plain numpy form (used by the reference solver, by tests and for I/O);
:class:`TissueState` keeps the same arrays on the compute device (Taichi ndarrays) so that a step moves no data
through Python. Both come from their solver's ``state()``, so initial conditions have one source of truth (the
model's rest positions). A step reads one state and writes another; the caller swaps them.

Arrays, shape [N, 3], SI units: ``positions`` [m], ``velocities`` [m/s], ``accelerations`` [m/s²] (mean over the last
step; the solver uses it to predict the next step), ``forces`` [N] external point forces (instruments write them; a
step copies them to its output state, so they persist until changed). ``time`` [s] is simulated time.
``branch_lengths`` [S] [m]: the rest length L1 of each spring's Maxwell branch (``SolverOptions.viscoelastic``); the
branch's stress is what a held deformation has not yet relaxed. None when the solver is elastic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FIELDS = ("positions", "velocities", "accelerations", "forces")


@dataclass
class StateArrays:
    positions: np.ndarray
    velocities: np.ndarray
    accelerations: np.ndarray
    forces: np.ndarray
    time: float = 0.0
    branch_lengths: np.ndarray | None = None

    @classmethod
    def at_rest(cls, positions: np.ndarray, branch_lengths: np.ndarray | None = None) -> "StateArrays":
        p = np.array(positions, dtype=np.float64, copy=True)
        branches = None if branch_lengths is None else np.array(branch_lengths, dtype=np.float64, copy=True)
        return cls(p, np.zeros_like(p), np.zeros_like(p), np.zeros_like(p), 0.0, branches)

    def copy(self) -> "StateArrays":
        branches = None if self.branch_lengths is None else self.branch_lengths.copy()
        return StateArrays(*(getattr(self, f).copy() for f in FIELDS), time=self.time, branch_lengths=branches)

    def assign(self, other: "StateArrays") -> None:
        for f in FIELDS:
            getattr(self, f)[...] = getattr(other, f)
        self.time = other.time
        if other.branch_lengths is None:
            self.branch_lengths = None
        elif self.branch_lengths is None or self.branch_lengths.shape != other.branch_lengths.shape:
            self.branch_lengths = other.branch_lengths.copy()
        else:
            self.branch_lengths[...] = other.branch_lengths

    @property
    def node_count(self) -> int:
        return len(self.positions)


def _check(values, n: int, name: str) -> np.ndarray:
    a = np.ascontiguousarray(values, dtype=np.float64)
    if a.shape != (n, 3):
        raise ValueError(f"{name} must have shape [{n}, 3], got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    return a


@dataclass(eq=False)
class TissueState:
    """Device-side state (Taichi ndarrays of 3-vectors, float64). Create with ``TissueSolver.state()``."""

    positions: object
    velocities: object
    accelerations: object
    forces: object
    time: float = 0.0
    node_count: int = field(default=0)
    branch_lengths: object = None  # Taichi f64 ndarray [S] when the solver is viscoelastic
    _views: dict = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def allocate(cls, n: int, branches: int = 0) -> "TissueState":
        """Arrays for ``n`` nodes, and ``branches`` Maxwell branch lengths (0: an elastic solver's state)."""
        import taichi as ti

        arrays = [ti.Vector.ndarray(3, ti.f64, shape=n) for _ in FIELDS]
        lengths = ti.ndarray(ti.f64, shape=branches) if branches > 0 else None
        return cls(*arrays, time=0.0, node_count=n, branch_lengths=lengths)

    # -- numpy access (copies: a memcpy on the CPU backend, see surgsim.tissue.host_view; a device copy elsewhere) ---
    def _copy(self, name: str) -> np.ndarray:
        view = self._views.get(name)
        if view is None or view.ndarray is not getattr(self, name):
            from surgsim.tissue.host_view import HostView

            view = self._views[name] = HostView(getattr(self, name))
        return view.copy()

    def numpy(self) -> StateArrays:
        branches = None if self.branch_lengths is None else self._copy("branch_lengths")
        return StateArrays(*(self._copy(f) for f in FIELDS), time=self.time, branch_lengths=branches)

    def positions_numpy(self) -> np.ndarray:
        return self._copy("positions")

    def velocities_numpy(self) -> np.ndarray:
        return self._copy("velocities")

    def branch_lengths_numpy(self) -> np.ndarray | None:
        return None if self.branch_lengths is None else self._copy("branch_lengths")

    def load(self, arrays: StateArrays) -> None:
        """Set every array from ``arrays``. Branch lengths are loaded when both have them; a state that has them
        keeps its own when ``arrays`` has none (an elastic snapshot: set them with :meth:`set_branch_lengths`)."""
        for f in FIELDS:
            getattr(self, f).from_numpy(_check(getattr(arrays, f), self.node_count, f))
        self.time = float(arrays.time)
        if self.branch_lengths is not None and arrays.branch_lengths is not None:
            self.set_branch_lengths(arrays.branch_lengths)

    def set_branch_lengths(self, lengths: np.ndarray) -> None:
        """The Maxwell branches' rest lengths [m], shape [S] (the model's rest lengths: nothing held; the springs'
        current lengths: fully relaxed)."""
        if self.branch_lengths is None:
            raise ValueError("this state has no branch lengths (the solver is not viscoelastic)")
        a = np.ascontiguousarray(lengths, dtype=np.float64)
        if a.shape != tuple(self.branch_lengths.shape) or not np.all(np.isfinite(a)):
            raise ValueError(f"branch lengths must be finite with shape {tuple(self.branch_lengths.shape)}")
        self.branch_lengths.from_numpy(a)

    def set_positions(self, positions: np.ndarray) -> None:
        self.positions.from_numpy(_check(positions, self.node_count, "positions"))

    def set_velocities(self, velocities: np.ndarray) -> None:
        self.velocities.from_numpy(_check(velocities, self.node_count, "velocities"))

    def set_forces(self, forces: np.ndarray) -> None:
        """External forces on every node [N], shape [N, 3] (zeros where no instrument acts)."""
        self.forces.from_numpy(_check(forces, self.node_count, "forces"))
