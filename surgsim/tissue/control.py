"""TissueControl: the time-varying inputs of a tissue step, apart from the solver and the state.

``solver.step(state_in, state_out, control, dt)`` reads everything that a caller changes between steps from the
control (the solver itself keeps only the model, the options, compiled kernels and device copies):

- **anchors and attachments**: a node is free, *anchored* (held kinematically: it goes where its target goes) or
  *attached* (tied to its target by a zero-length spring of stiffness ``attach_stiffness``: held softly, the tissue
  around a grasp). The two share the target table;
- **frames**: groups of held nodes that move rigidly (a grasp in its jaws), moved by 12 numbers;
- **obstacles**: static planes and boxes;
- **the active-spring mask** (cuts and tears);
- **the awake window**: the nodes, springs and tets the steps advance (:meth:`TissueControl.set_awake`); the
  nodes outside it rest where they are, as a sleeping body does in a rigid-body engine (the coupler's
  :mod:`~surgsim.coupling.sleeping` puts organs that no tool is near and that have come to rest outside it);
- **damping**: fixed when the control is made (``TissueSolver.control(damping_ratio=...)``; settling uses a heavily
  damped control with the session's solver), through the :class:`~surgsim.tissue.layout.SolverModel` it carries.

Point forces are not here: they live in the state (``TissueState.forces``), because the contact pass carries its
forces from one step into the next through them.

Every part has a version counter (:class:`ControlVersions`) that grows with each change, so a solver keeps a device
copy per control and uploads a part only when its version moved. The anchor table changes every tick while a grasp
moves, so its changes are also journaled (:meth:`TissueControl.anchor_changes_since`): a solver replays the few rows
or frame moves since its copy's version instead of re-uploading the table.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from surgsim.errors import InputError
from surgsim.tissue.contact import pack_obstacles
from surgsim.tissue.layout import AwakeWindow, SolverModel
from surgsim.tissue.selection import select_nodes

_SERIALS = itertools.count()  # tells controls apart in caches (ids are reused after garbage collection)
_JOURNAL_LIMIT = 512  # anchor changes kept for replay; a device copy further behind re-uploads the whole table


@dataclass
class ControlVersions:
    """Change counters of the parts of a :class:`TissueControl` (each only grows)."""

    anchors: int = 0  # anything in the anchor table: targets, flags, frames
    membership: int = 0  # which nodes are anchored (the Chebyshev bound depends on it)
    springs: int = 0  # the active-spring mask
    held: int = 0  # which nodes are anchored or attached (which bodies are free)
    obstacles: int = 0
    awake: int = 0  # which nodes the steps advance (the others rest: see TissueControl.set_awake)


class AnchorChange(NamedTuple):
    """One journaled change of the anchor table. ``kind``: "table" (many rows, or which nodes are anchored: upload the
    whole table), "rows" (``nodes`` changed), "frame_set" (group ``key`` now moves ``nodes`` at ``local``),
    "frame_drop" (group ``key`` forgotten) or "frame_move" (group ``key``'s targets = ``origin`` + ``rotation`` ·
    local)."""

    kind: str
    key: object = None
    nodes: np.ndarray | None = None
    local: np.ndarray | None = None
    origin: np.ndarray | None = None
    rotation: np.ndarray | None = None


class TissueControl:
    """The per-step inputs of one tissue (see the module docstring); made by ``TissueSolver.control()`` or from a
    solver's ``layout``."""

    def __init__(self, layout: SolverModel):
        self.layout = layout
        self.model = model = layout.model
        self.serial = next(_SERIALS)
        n = model.node_count
        self.versions = ControlVersions()
        self.anchored = np.zeros(n, dtype=bool)
        self.anchor_targets = np.array(model.positions, dtype=np.float64, copy=True)
        self.attach_stiffness = np.zeros(n, dtype=np.float64)
        self.spring_active = np.ones(model.spring_count, dtype=bool)
        self.node_params = layout.node_params(self.spring_active)
        self.spring_params = layout.spring_params(self.spring_active)
        self.body_offsets, self.body_nodes = connected_bodies(model.node_count, model.springs, self.spring_active)
        self._free_bodies: tuple = (None, None)  # ((springs, held) versions, the free bodies' CSR)
        self.obstacles: list = []
        self.obstacles_packed = pack_obstacles(self.obstacles)
        self._frames: dict = {}
        self._journal: list[AnchorChange] = []
        self._journal_base = 0  # the anchors version before the journal's first change
        self.awake_window = AwakeWindow(0, n, 0, model.spring_count, 0, model.tet_count)

    # -- anchors and attachments ----------------------------------------------------------------------------------
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
        self._note_held(ids, held=True)
        self.anchored[ids] = True
        self.attach_stiffness[ids] = 0.0
        self._anchors_changed(membership=True)
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
        self._note_held(ids, held=True)
        self.attach_stiffness[ids] = k
        membership = bool(np.any(self.anchored[ids]))
        self.anchored[ids] = False
        self._anchors_changed(membership=membership, rows=ids)
        return ids

    def set_anchor_targets(self, nodes, targets) -> None:
        """New target positions [m] for already anchored or attached nodes (e.g. a clip following the tissue).
        Only these rows are sent to the device."""
        ids = np.asarray(nodes, dtype=np.int64).reshape(-1)
        t = self._targets(ids, targets)
        if not np.all(self.anchored[ids] | (self.attach_stiffness[ids] > 0.0)):
            raise InputError("nodes", "set_anchor_targets only moves anchored or attached nodes; anchor or attach "
                                      "them first.")
        self.anchor_targets[ids] = t
        self._anchors_changed(membership=False, rows=ids)

    def release(self, nodes) -> None:
        """Stop holding these nodes, anchored or attached (they keep the velocity of their last step)."""
        ids = np.asarray(nodes, dtype=np.int64).reshape(-1)
        self._leave_frames(ids)
        self._note_held(ids, held=False)
        membership = bool(np.any(self.anchored[ids]))
        self.anchored[ids] = False
        self.attach_stiffness[ids] = 0.0
        self._anchors_changed(membership=membership, rows=ids)

    def _note_held(self, ids: np.ndarray, *, held: bool) -> None:
        """Count a change of which nodes are held when ``ids`` become held (``held``) or free and some were not."""
        was = self.anchored[ids] | (self.attach_stiffness[ids] > 0.0)
        if (not was.all()) if held else was.any():
            self.versions.held += 1

    def free_bodies(self) -> tuple[np.ndarray, np.ndarray]:
        """The bodies without an anchored or attached node, as a CSR (``offsets`` [B + 1], ``nodes``): the ones whose
        rigid motion the ambient drag leaves alone (a held body has none of its own). Recomputed only when the
        springs or the held nodes changed; none in a scene whose organs are all anchored."""
        key = (self.versions.springs, self.versions.held)
        if self._free_bodies[0] != key:
            offsets, nodes = self.body_offsets, self.body_nodes
            sizes = np.diff(offsets)
            held = (self.anchored | (self.attach_stiffness > 0.0))[nodes]
            free = ~np.logical_or.reduceat(held, offsets[:-1])
            free_offsets = np.concatenate([[0], np.cumsum(sizes[free])]).astype(np.int32)
            self._free_bodies = (key, (free_offsets, nodes[np.repeat(free, sizes)]))
        return self._free_bodies[1]

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

    def anchor_table(self) -> np.ndarray:
        """[N, 4] (target x, y, z, flag) of every node, as the device stores them."""
        return np.ascontiguousarray(np.column_stack(
            [self.anchor_targets, np.where(self.anchored, 1.0, -self.attach_stiffness)]))

    @staticmethod
    def _targets(ids: np.ndarray, targets) -> np.ndarray:
        t = np.asarray(targets, dtype=np.float64).reshape(-1, 3)
        if len(t) != len(ids) or not np.all(np.isfinite(t)):
            raise InputError("targets", f"need {len(ids)} finite target positions, one per selected node.")
        return t

    # -- frames: groups of held nodes that move rigidly (a grasp in its jaws) -------------------------------------
    def set_anchor_frame(self, key, nodes, local) -> None:
        """Register ``nodes`` (anchored or attached) as a rigid group ``key``: their targets will be
        origin + R · ``local`` [K, 3] [m] for the frames given to :meth:`move_anchor_frame`. Replaces an earlier group
        of that key."""
        ids = np.array(nodes, dtype=np.int64).reshape(-1)  # copies: the journal replays them at the next step
        local = np.array(local, dtype=np.float64).reshape(-1, 3)
        if len(local) != len(ids) or not np.all(np.isfinite(local)):
            raise InputError("local", "need one finite local position per node.")
        if not np.all(self.anchored[ids] | (self.attach_stiffness[ids] > 0.0)):
            raise InputError("nodes", "a frame moves only anchored or attached nodes; anchor or attach them first.")
        self._frames.pop(key, None)
        self._leave_frames(ids)  # a node follows one frame
        self._frames[key] = (ids, np.ascontiguousarray(local))
        self._journal_change(AnchorChange("frame_set", key, ids, self._frames[key][1]))

    def move_anchor_frame(self, key, origin, rotation) -> None:
        """Move group ``key``'s targets to ``origin`` [3] [m] + ``rotation`` [3, 3] · local. Cheaper than
        :meth:`set_anchor_targets` on the device: the frame (12 numbers) is sent, not the rows."""
        ids, local = self._frames[key]
        origin = np.array(origin, dtype=np.float64).reshape(3)
        rotation = np.array(rotation, dtype=np.float64).reshape(3, 3)
        if not (np.all(np.isfinite(origin)) and np.all(np.isfinite(rotation))):
            raise InputError("frame", "the frame must be finite.")
        self.anchor_targets[ids] = origin + local @ rotation.T
        self._journal_change(AnchorChange("frame_move", key, origin=origin, rotation=rotation))

    def anchor_frame_nodes(self, key) -> np.ndarray:
        """The nodes group ``key`` still moves (anchoring, attaching or releasing a node by other means takes it out
        of its group: a clip placed on a grasped node holds it from then on)."""
        return self._frames[key][0].copy() if key in self._frames else np.zeros(0, dtype=np.int64)

    def drop_anchor_frame(self, key) -> None:
        """Forget group ``key`` (its nodes keep their last targets)."""
        self._frames.pop(key, None)
        self._journal_change(AnchorChange("frame_drop", key))

    @property
    def frames(self) -> dict:
        """Group key → (node ids, local positions [K, 3]) of every frame (read-only use)."""
        return self._frames

    def _leave_frames(self, ids: np.ndarray) -> None:
        for key, (members, local) in list(self._frames.items()):
            keep = ~np.isin(members, ids)
            if not keep.all():
                self._frames[key] = (members[keep], local[keep])
                self._journal_change(AnchorChange("frame_set", key, *self._frames[key]))

    # -- the journal a device copy replays ------------------------------------------------------------------------
    def anchor_changes_since(self, version: int) -> list[AnchorChange] | None:
        """The anchor-table changes after ``version`` (of ``versions.anchors``), oldest first; None when they are no
        longer all kept (the whole table must be uploaded)."""
        if version < self._journal_base:
            return None
        return self._journal[version - self._journal_base:]

    def _anchors_changed(self, membership: bool, rows: np.ndarray | None = None) -> None:
        if membership:
            self.versions.membership += 1
        # The rows are copied: the journal is replayed at the next step, after the caller may have reused its array.
        self._journal_change(AnchorChange("rows", nodes=np.array(rows)) if rows is not None and not membership
                             else AnchorChange("table"))

    def _journal_change(self, change: AnchorChange) -> None:
        self._journal.append(change)
        self.versions.anchors += 1
        if len(self._journal) > _JOURNAL_LIMIT:
            drop = len(self._journal) - _JOURNAL_LIMIT // 2
            del self._journal[:drop]
            self._journal_base += drop

    # -- obstacles -------------------------------------------------------------------------------------------------
    def set_obstacles(self, obstacles) -> None:
        """Static :class:`~surgsim.tissue.contact.Plane` / :class:`~surgsim.tissue.contact.Box` obstacles."""
        obstacles = list(obstacles)
        self.obstacles_packed = pack_obstacles(obstacles)
        self.obstacles = obstacles
        self.versions.obstacles += 1

    def add_obstacle(self, obstacle) -> None:
        self.set_obstacles(self.obstacles + [obstacle])

    # -- the awake window --------------------------------------------------------------------------------------------
    def set_awake(self, first_node: int, end_node: int) -> AwakeWindow:
        """Advance only nodes ``first_node`` ≤ i < ``end_node`` (and the springs and tets among them) in the next
        steps; every other node rests: it keeps its position, its velocity and acceleration are zero, and no spring
        or tet of it is evaluated. The window must cut no spring or tet (whole organs of a combined model: see
        :mod:`surgsim.mesh.combine`), so the nodes inside move exactly as they would with every node awake."""
        window = self.layout.awake_window(int(first_node), int(end_node))
        if window != self.awake_window:
            self.awake_window = window
            self.versions.awake += 1
        return window

    # -- topology changes (cutting, tearing) -----------------------------------------------------------------------
    def set_spring_active(self, active: np.ndarray) -> None:
        """Enable/disable springs (mask [S]); disabled springs exert no force. The hook for cuts and tears."""
        active = np.asarray(active, dtype=bool).reshape(-1)
        if active.shape != (self.model.spring_count,):
            raise InputError("spring_active", f"mask must have {self.model.spring_count} entries.")
        self.spring_active = active.copy()
        self.node_params = self.layout.node_params(self.spring_active)
        self.spring_params = self.layout.spring_params(self.spring_active)
        self.body_offsets, self.body_nodes = connected_bodies(self.model.node_count, self.model.springs,
                                                              self.spring_active)
        self.versions.springs += 1


def connected_bodies(node_count: int, springs: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pieces the live springs hold together, as a CSR: ``body_nodes[body_offsets[b]:body_offsets[b + 1]]`` are
    body b's nodes (ascending); every node is in one body (a node without live springs is a body of its own).

    Why: the ambient drag acts on each node's velocity relative to the rigid motion of its body (see
    :mod:`surgsim.tissue.stiffness`), and a piece cut free is a body of its own."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    live = springs[np.asarray(active, dtype=bool)]
    graph = coo_matrix((np.ones(len(live)), (live[:, 0], live[:, 1])), shape=(node_count, node_count))
    count, labels = connected_components(graph, directed=False)
    body_nodes = np.argsort(labels, kind="stable").astype(np.int32)
    offsets = np.searchsorted(labels[body_nodes], np.arange(count + 1)).astype(np.int32)
    return offsets, body_nodes
