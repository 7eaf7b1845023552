"""What is left of the tissue after cuts, tears and burns: live springs, live tets and the surface they bound.

Interactions *request* spring removals during a tick; :meth:`TissueTopology.commit` applies them once at the end of
the tick (one solver update, one surface rebuild), so several cuts in one tick cost one update. A tet dies with any of
its six edges, and the surface is rebuilt from the live tets (their boundary faces, outward), which gives the new
faces where the tissue opened. Springs of dead tets whose edge was not removed stay active: they belong to live tets
too, or hold the nodes a cut left behind. *Protected* springs (those inside a clip) are never removed.
"""

from __future__ import annotations

import numpy as np

from surgsim.mesh.build import TetBoundary, tet_spring_ids
from surgsim.mesh.model import TissueModel


class TissueTopology:
    """Live springs and tets of one tissue; pushes changes to the tissue's control and to the tool-contact surface."""

    def __init__(self, model: TissueModel, control, contact):
        self.model = model
        self._control = control
        self._contact = contact
        self.spring_active = np.array(control.spring_active, dtype=bool, copy=True)
        self.tet_alive = np.ones(model.tet_count, dtype=bool)
        self._tet_springs = tet_spring_ids(model)
        self._boundary = TetBoundary(model.positions, model.tets)
        self.surface_triangles = np.array(model.surface_triangles, copy=True)
        self.surface_version = 0
        self._pending: list[np.ndarray] = []
        self._protected = np.zeros(model.spring_count, dtype=bool)

    def protect(self, springs: np.ndarray) -> None:
        """From now on refuse to remove ``springs`` (tissue held inside a metal clip cannot be cut or torn)."""
        self._protected[np.asarray(springs, dtype=np.int64).reshape(-1)] = True

    @property
    def removed_springs(self) -> int:
        return int(np.count_nonzero(~self.spring_active))

    def request_removal(self, springs: np.ndarray) -> np.ndarray:
        """Mark ``springs`` for removal at :meth:`commit`; returns those that were still active and not protected
        (the ones removed)."""
        ids = np.unique(np.asarray(springs, dtype=np.int64).reshape(-1))
        ids = ids[self.spring_active[ids] & ~self._protected[ids]]
        for earlier in self._pending:
            ids = np.setdiff1d(ids, earlier, assume_unique=True)
        if len(ids):
            self._pending.append(ids)
        return ids

    def commit(self) -> bool:
        """Apply the requested removals; True when the topology changed."""
        if not self._pending:
            return False
        removed = np.concatenate(self._pending)
        self._pending = []
        self.spring_active[removed] = False
        self._control.set_spring_active(self.spring_active)
        dying = self.tet_alive & np.any(~self.spring_active[self._tet_springs], axis=1)
        if np.any(dying):
            self.tet_alive &= ~dying
            self.surface_triangles = self._boundary.faces(self.tet_alive)
            self._contact.set_surface(self.surface_triangles)
            self.surface_version += 1
        return True

    def spring_components(self) -> int:
        """Connected components of the node graph through the live springs (isolated nodes count as their own)."""
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        live = self.model.springs[self.spring_active]
        n = self.model.node_count
        graph = coo_matrix((np.ones(len(live)), (live[:, 0], live[:, 1])), shape=(n, n))
        return int(connected_components(graph, directed=False)[0])
