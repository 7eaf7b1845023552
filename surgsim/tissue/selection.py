"""Choosing nodes: by region name, by box, or by id (anchors, grasps, probes)."""

from __future__ import annotations

import numpy as np

from surgsim.errors import InputError
from surgsim.mesh.model import TissueModel


def nodes_in_box(positions: np.ndarray, lower, upper) -> np.ndarray:
    """Ids of the nodes with ``lower <= p <= upper`` componentwise ([m], inclusive), int32 sorted."""
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    if lower.shape != (3,) or upper.shape != (3,) or np.any(lower > upper):
        raise InputError("box", "a box is two corners (lower, upper) of three coordinates each, lower <= upper.")
    inside = np.all((positions >= lower) & (positions <= upper), axis=1)
    return np.flatnonzero(inside).astype(np.int32)


def select_nodes(model: TissueModel, nodes=None, *, region: str | None = None, box=None) -> np.ndarray:
    """The union of explicit ``nodes`` ids, the nodes of ``region`` and the nodes (at rest) inside ``box``."""
    chosen = []
    if nodes is not None:
        ids = np.asarray(nodes, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= model.node_count):
            raise InputError("nodes", f"node ids must lie in 0..{model.node_count - 1}.")
        chosen.append(ids)
    if region is not None:
        chosen.append(model.nodes_in_region(region))
    if box is not None:
        chosen.append(nodes_in_box(model.positions, *box))
    if not chosen:
        raise InputError("nodes", "choose nodes by ids, region=... or box=(lower, upper).")
    return np.unique(np.concatenate(chosen)).astype(np.int32)
