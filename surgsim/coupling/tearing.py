"""Tearing: tissue strained beyond its region's failure stretch breaks (tissue damage).

The contact pass flags every live tet whose maximum principal stretch has stayed above its region's failure stretch
(1 + ``tear_strain`` of :mod:`surgsim.mesh.materials`) for the persistence time (``CouplingOptions.tear_persist_s``;
see :mod:`surgsim.tissue.tool_contact`). A torn tet opens across its most stretched direction: its longest edge
(relative to rest) is removed, and with it every tet on that edge, so the tets' springs and their volume go together
(:mod:`surgsim.coupling.topology`: a tet dies with any of its edges). One ``tear`` event per tick names the region,
where, how many springs broke (``detail["springs"]``, what scoring counts as damage) and tets tore
(``detail["tets"]``), and the instrument pulling hardest at the time (with its force), if any touches the tissue.
``torn_springs`` is the running damage count.
"""

from __future__ import annotations

import numpy as np

from surgsim.coupling.context import TickContext
from surgsim.mesh.build import tet_spring_ids


class Tearing:
    def __init__(self, model):
        self.torn_springs = 0
        self._model = model
        self._tet_springs = tet_spring_ids(model)

    def after_step(self, ctx: TickContext) -> None:
        if not ctx.report.torn:
            return
        tets = ctx.contact.torn_tets()
        removed = ctx.topology.request_removal(self.opening_springs(ctx.positions(), tets))
        if len(removed):
            self.tear(ctx, removed, tets=len(tets))

    def opening_springs(self, positions: np.ndarray, tets: np.ndarray) -> np.ndarray:
        """The spring of each tet in ``tets`` stretched most relative to its rest length (where the tet opens)."""
        springs = self._tet_springs[tets]  # [K, 6]
        ends = self._model.springs[springs]  # [K, 6, 2]
        length = np.linalg.norm(positions[ends[..., 1]] - positions[ends[..., 0]], axis=-1)
        stretch = length / self._model.rest_lengths[springs]
        return springs[np.arange(len(tets)), np.argmax(stretch, axis=1)]

    def tear(self, ctx: TickContext, springs: np.ndarray, *, tets: int = 0) -> None:
        """Record ``springs`` as torn (already requested for removal) and emit the event."""
        self.torn_springs += len(springs)
        culprit, force = None, None
        if ctx.instrument_forces:
            culprit, vector = max(ctx.instrument_forces.items(), key=lambda item: float(np.linalg.norm(item[1])))
            force = float(np.linalg.norm(vector))
            if force == 0.0:
                culprit, force = None, None
        regions = ctx.regions_of_springs(springs)
        ctx.emit("tear", instrument=culprit, region=regions[0], force_n=force,
                 position_m=ctx.spring_midpoints(springs).mean(axis=0),
                 detail={"springs": int(len(springs)), "tets": int(tets), "regions": regions})
