"""What the Taichi solver and its numpy reference share: options, layout, anchors, obstacles, spring mask, events."""

from __future__ import annotations

import math

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


# The most the Chebyshev polynomial of the fixed iteration count may undershoot: each step leaves the error
# P(λ)·(initial guess − implicit solution) in the mode of Jacobi eigenvalue λ, and for a stiff mode (k h²/m ≫ 1) the
# step then maps (x, h v) by [[c, c], [c − 1, c]] with c ≈ P(λ): stable for c > −1/3, unstable below. Chebyshev on
# [−ρ, ρ] undershoots by up to 1/T_K(1/ρ), so ρ is capped where that is this value (8 iterations: ρ ≤ 0.968).
# Measured: a Kuhn column with the volume term (Gershgorin ρ 0.991) blows up within 150 steps uncapped, and is
# stable at ρ ≤ 0.98.
CHEBYSHEV_MAX_UNDERSHOOT = 0.25


def chebyshev_rho_cap(iterations: int) -> float:
    """The largest ρ whose Chebyshev polynomial of degree ``iterations`` undershoots by at most
    :data:`CHEBYSHEV_MAX_UNDERSHOOT`: T_K(1/ρ) = 1 / undershoot."""
    return 1.0 / math.cosh(math.acosh(1.0 / CHEBYSHEV_MAX_UNDERSHOOT) / max(1, iterations))


class SolverBase:
    """Bookkeeping common to :class:`~surgsim.tissue.solver.TissueSolver` and the reference solver."""

    def __init__(self, model: TissueModel, options: SolverOptions | dict | None = None, **overrides):
        self.model = model
        self.options = SolverOptions.parse(options, **overrides)
        self.layout = SolverModel.build(model, self.options)
        n = model.node_count
        self.anchored = np.zeros(n, dtype=bool)
        self.anchor_targets = np.array(model.positions, dtype=np.float64, copy=True)
        self.attach_stiffness = np.zeros(n, dtype=np.float64)
        self._frames: dict = {}
        self.spring_active = np.ones(model.spring_count, dtype=bool)
        self.node_params = self.layout.node_params(self.spring_active)
        self.spring_params = self.layout.spring_params(self.spring_active)
        self.obstacles: list = []
        self.events: list[SolverEvent] = []
        self._rho_cache: dict[float, float] = {}

    # -- anchors and attachments ----------------------------------------------------------------------------------
    # A node is free, *anchored* (held kinematically: it goes where its target goes) or *attached* (tied to its
    # target by a zero-length spring of stiffness ``attach_stiffness``: held softly, the tissue around a grasp). The
    # two share the target table; the device keeps one row per node: target and +1 (anchored), -k (attached) or 0.
    def anchor(self, nodes=None, *, region: str | None = None, box=None, targets=None) -> np.ndarray:
        """Hold nodes kinematically (ligaments, grasped tissue). Returns the ids anchored by this call.

        Nodes are chosen by ids, ``region`` name and/or ``box=(lower, upper)`` [m] (at rest). ``targets`` [K, 3] [m]
        are where they go (default: their rest positions); an anchored node moves linearly to its target during the
        next step and stays there. Move them later with :meth:`set_anchor_targets`. An attached node that is
        anchored stops being attached.
        """
        ids = select_nodes(self.model, nodes, region=region, box=box)
        if targets is not None:
            self.anchor_targets[ids] = self._targets(ids, targets)
        else:
            self.anchor_targets[ids] = self.model.positions[ids]
        self._leave_frames(ids)
        self.anchored[ids] = True
        self.attach_stiffness[ids] = 0.0
        self._anchors_changed()
        return ids

    def attach(self, nodes, targets, stiffness) -> np.ndarray:
        """Tie ``nodes`` (ids) to ``targets`` [K, 3] [m] by zero-length springs of ``stiffness`` [N/m] (one value or
        one per node; > 0): the spring pulls each node toward its target with k (target − x) inside the implicit
        solve (unconditionally stable, whatever k). Attaching an attached node changes its target and stiffness;
        attaching an anchored node lets it go into the spring. Move the targets with :meth:`set_anchor_targets`,
        let go with :meth:`release`. Returns the ids."""
        ids = np.asarray(nodes, dtype=np.int64).reshape(-1)
        k = np.broadcast_to(np.asarray(stiffness, dtype=np.float64), ids.shape)
        if not np.all(np.isfinite(k)) or np.any(k <= 0.0):
            raise InputError("stiffness", "attachment stiffness must be finite and positive [N/m].")
        self.anchor_targets[ids] = self._targets(ids, targets)
        self._leave_frames(ids)
        self.attach_stiffness[ids] = k
        membership = bool(np.any(self.anchored[ids]))
        self.anchored[ids] = False
        self._anchors_changed(membership=membership, rows=None if membership else ids)
        return ids

    def set_anchor_targets(self, nodes, targets) -> None:
        """New target positions [m] for already anchored or attached nodes (e.g. grasped nodes following a jaw).

        Only the rows of ``nodes`` are sent to the device (a grasp moves its anchors every tick)."""
        ids = np.asarray(nodes, dtype=np.int64).reshape(-1)
        t = self._targets(ids, targets)
        if not np.all(self.anchored[ids] | (self.attach_stiffness[ids] > 0.0)):
            raise InputError("nodes", "set_anchor_targets only moves anchored or attached nodes; anchor or attach "
                                      "them first.")
        self.anchor_targets[ids] = t
        self._anchors_changed(membership=False, rows=ids)

    # -- frames: groups of held nodes that move rigidly (a grasp in its jaws) -------------------------------------
    def set_anchor_frame(self, key, nodes, local) -> None:
        """Register ``nodes`` (anchored or attached) as a rigid group ``key``: their targets will be
        origin + R · ``local`` [K, 3] [m] for the frames given to :meth:`move_anchor_frame`. Replaces an earlier group
        of that key."""
        ids = np.asarray(nodes, dtype=np.int64).reshape(-1)
        local = np.asarray(local, dtype=np.float64).reshape(-1, 3)
        if len(local) != len(ids) or not np.all(np.isfinite(local)):
            raise InputError("local", "need one finite local position per node.")
        if not np.all(self.anchored[ids] | (self.attach_stiffness[ids] > 0.0)):
            raise InputError("nodes", "a frame moves only anchored or attached nodes; anchor or attach them first.")
        self._frames.pop(key, None)
        self._leave_frames(ids)  # a node follows one frame
        self._frames[key] = (ids, np.ascontiguousarray(local))
        self._frame_set(key)

    def move_anchor_frame(self, key, origin, rotation) -> None:
        """Move group ``key``'s targets to ``origin`` [3] [m] + ``rotation`` [3, 3] · local. Cheaper than
        :meth:`set_anchor_targets` on the device: the frame (12 numbers) is sent, not the rows."""
        ids, local = self._frames[key]
        origin = np.asarray(origin, dtype=np.float64).reshape(3)
        rotation = np.asarray(rotation, dtype=np.float64).reshape(3, 3)
        if not (np.all(np.isfinite(origin)) and np.all(np.isfinite(rotation))):
            raise InputError("frame", "the frame must be finite.")
        self.anchor_targets[ids] = origin + local @ rotation.T
        self._frame_moved(key, origin, rotation)

    def anchor_frame_nodes(self, key) -> np.ndarray:
        """The nodes group ``key`` still moves (anchoring, attaching or releasing a node by other means takes it out
        of its group: a clip placed on a grasped node holds it from then on)."""
        return self._frames[key][0].copy() if key in self._frames else np.zeros(0, dtype=np.int64)

    def _leave_frames(self, ids: np.ndarray) -> None:
        for key, (members, local) in list(self._frames.items()):
            keep = ~np.isin(members, ids)
            if not keep.all():
                self._frames[key] = (members[keep], local[keep])
                self._frame_set(key)

    def drop_anchor_frame(self, key) -> None:
        """Forget group ``key`` (its nodes keep their last targets)."""
        self._frames.pop(key, None)
        self._frame_dropped(key)

    def release(self, nodes) -> None:
        """Stop holding these nodes, anchored or attached (they keep the velocity of their last step)."""
        ids = np.asarray(nodes, dtype=np.int64).reshape(-1)
        self._leave_frames(ids)
        membership = bool(np.any(self.anchored[ids]))
        self.anchored[ids] = False
        self.attach_stiffness[ids] = 0.0
        self._anchors_changed(membership=membership, rows=None if membership else ids)

    @property
    def anchored_nodes(self) -> np.ndarray:
        return np.flatnonzero(self.anchored).astype(np.int32)

    @property
    def attached(self) -> np.ndarray:
        """Mask [N] of the attached nodes."""
        return self.attach_stiffness > 0.0

    def anchor_rows(self, ids: np.ndarray) -> np.ndarray:
        """[K, 5] (id, target x, y, z, flag) of nodes ``ids`` as the device stores them: flag +1 anchored, -k
        attached, 0 free."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        rows = np.empty((len(ids), 5))
        rows[:, 0] = ids
        rows[:, 1:4] = self.anchor_targets[ids]
        rows[:, 4] = np.where(self.anchored[ids], 1.0, -self.attach_stiffness[ids])
        return rows

    @staticmethod
    def _targets(ids: np.ndarray, targets) -> np.ndarray:
        t = np.asarray(targets, dtype=np.float64).reshape(-1, 3)
        if len(t) != len(ids) or not np.all(np.isfinite(t)):
            raise InputError("targets", f"need {len(ids)} finite target positions, one per selected node.")
        return t

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
            rho = self.layout.chebyshev_rho(h, self.node_params, self.anchored)
            if self.layout.volume is not None:
                # The volume term raises ρ toward 1, where the uncapped acceleration is unstable in time (see
                # CHEBYSHEV_MAX_UNDERSHOOT). Springs alone keep the uncapped bound, so that recorded sessions replay.
                rho = min(rho, chebyshev_rho_cap(self.options.iterations))
            self._rho_cache[key] = rho
        return self._rho_cache[key]

    def _anchors_changed(self, membership: bool = True, rows: np.ndarray | None = None) -> None:
        """Hook: the anchors changed (``membership``: which nodes are anchored, else only targets or attachments;
        ``rows``: when given, only these nodes changed)."""
        if membership:
            self._rho_cache.clear()

    def _frame_set(self, key) -> None:
        pass

    def _frame_dropped(self, key) -> None:
        pass

    def _frame_moved(self, key, origin: np.ndarray, rotation: np.ndarray) -> None:
        pass

    def _obstacles_changed(self) -> None:
        pass

    def _springs_changed(self) -> None:
        pass
