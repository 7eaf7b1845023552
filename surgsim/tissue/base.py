"""What the Taichi solver and its numpy reference share: options, layout, anchors, obstacles, spring mask, events."""

from __future__ import annotations

import numpy as np

from surgsim.errors import InputError
from surgsim.mesh.model import TissueModel
from surgsim.tissue.contact import pack_obstacles
from surgsim.tissue.events import SolverEvent
from surgsim.tissue.layout import SolverModel
from surgsim.tissue.options import SolverOptions
from surgsim.tissue.selection import select_nodes


def chebyshev_omegas(rho: float, iterations: int, enabled: bool) -> list[float]:
    """ω_k of the Chebyshev semi-iterative method (Wang 2015, eq. 11); all 1 when disabled."""
    omegas = []
    omega = 1.0
    for k in range(iterations):
        if not enabled or k == 0:
            omega = 1.0
        elif k == 1:
            omega = 2.0 / (2.0 - rho * rho)
        else:
            omega = 4.0 / (4.0 - rho * rho * omega)
        omegas.append(omega)
    return omegas


class SolverBase:
    """Bookkeeping common to :class:`~surgsim.tissue.solver.TissueSolver` and the reference solver."""

    def __init__(self, model: TissueModel, options: SolverOptions | dict | None = None, **overrides):
        self.model = model
        self.options = SolverOptions.parse(options, **overrides)
        self.layout = SolverModel.build(model, self.options)
        n = model.node_count
        self.anchored = np.zeros(n, dtype=bool)
        self.anchor_targets = np.array(model.positions, dtype=np.float64, copy=True)
        self.spring_active = np.ones(model.spring_count, dtype=bool)
        self.node_params = self.layout.node_params(self.spring_active)
        self.spring_params = self.layout.spring_params(self.spring_active)
        self.obstacles: list = []
        self.events: list[SolverEvent] = []
        self._rho_cache: dict[float, float] = {}

    # -- anchors ---------------------------------------------------------------------------------------------------
    def anchor(self, nodes=None, *, region: str | None = None, box=None, targets=None) -> np.ndarray:
        """Hold nodes kinematically (ligaments, grasped tissue). Returns the ids anchored by this call.

        Nodes are chosen by ids, ``region`` name and/or ``box=(lower, upper)`` [m] (at rest). ``targets`` [K, 3] [m]
        are where they go (default: their rest positions); an anchored node moves linearly to its target during the
        next step and stays there. Move them later with :meth:`set_anchor_targets`.
        """
        ids = select_nodes(self.model, nodes, region=region, box=box)
        if targets is not None:
            t = np.asarray(targets, dtype=np.float64).reshape(-1, 3)
            if len(t) != len(ids) or not np.all(np.isfinite(t)):
                raise InputError("targets", f"need {len(ids)} finite target positions, one per selected node.")
            self.anchor_targets[ids] = t
        else:
            self.anchor_targets[ids] = self.model.positions[ids]
        self.anchored[ids] = True
        self._anchors_changed()
        return ids

    def set_anchor_targets(self, nodes, targets) -> None:
        """New target positions [m] for already anchored nodes (e.g. grasped nodes following a jaw)."""
        ids = np.asarray(nodes, dtype=np.int64).reshape(-1)
        t = np.asarray(targets, dtype=np.float64).reshape(-1, 3)
        if len(t) != len(ids) or not np.all(np.isfinite(t)):
            raise InputError("targets", "need one finite target position per node.")
        if not np.all(self.anchored[ids]):
            raise InputError("nodes", "set_anchor_targets only moves anchored nodes; anchor them first.")
        self.anchor_targets[ids] = t
        self._anchors_changed(membership=False)

    def release(self, nodes) -> None:
        """Stop holding these nodes (they keep the velocity of their last step)."""
        self.anchored[np.asarray(nodes, dtype=np.int64).reshape(-1)] = False
        self._anchors_changed()

    def clear_anchors(self) -> None:
        self.anchored[:] = False
        self._anchors_changed()

    @property
    def anchored_nodes(self) -> np.ndarray:
        return np.flatnonzero(self.anchored).astype(np.int32)

    # -- obstacles -------------------------------------------------------------------------------------------------
    def set_obstacles(self, obstacles) -> None:
        """Static :class:`~surgsim.tissue.contact.Plane` / :class:`~surgsim.tissue.contact.Box` obstacles."""
        obstacles = list(obstacles)
        self._obstacles_packed = pack_obstacles(obstacles)
        self.obstacles = obstacles
        self._obstacles_changed()

    def add_obstacle(self, obstacle) -> None:
        self.set_obstacles(self.obstacles + [obstacle])

    @property
    def obstacles_packed(self) -> np.ndarray:
        return pack_obstacles(self.obstacles)

    # -- topology changes (cutting, tearing) -----------------------------------------------------------------------
    def set_spring_active(self, active: np.ndarray) -> None:
        """Enable/disable springs (mask [S]); disabled springs exert no force. The hook for cuts and tears."""
        active = np.asarray(active, dtype=bool).reshape(-1)
        if active.shape != (self.model.spring_count,):
            raise InputError("spring_active", f"mask must have {self.model.spring_count} entries.")
        self.spring_active = active.copy()
        self.node_params = self.layout.node_params(self.spring_active)
        self.spring_params = self.layout.spring_params(self.spring_active)
        self._rho_cache.clear()
        self._springs_changed()

    # -- events ----------------------------------------------------------------------------------------------------
    def drain_events(self) -> list[SolverEvent]:
        """Events since the last call (oldest first); the list is emptied."""
        events, self.events = self.events, []
        return events

    # -- shared numerics -------------------------------------------------------------------------------------------
    def rho(self, h: float) -> float:
        if self.options.chebyshev_rho is not None:
            return float(self.options.chebyshev_rho)
        key = float(h)
        if key not in self._rho_cache:
            self._rho_cache[key] = self.layout.chebyshev_rho(h, self.node_params, self.anchored)
        return self._rho_cache[key]

    def _anchors_changed(self, membership: bool = True) -> None:
        if membership:
            self._rho_cache.clear()

    def _obstacles_changed(self) -> None:
        pass

    def _springs_changed(self) -> None:
        pass
