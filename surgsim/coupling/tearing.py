"""Tearing: springs stretched beyond their region's tear strain break (tissue damage).

The contact pass flags every live spring longer than (1 + tear_strain) × its rest length; they are removed with
their tets (:mod:`surgsim.coupling.topology`) and one ``tear`` event per tick names the region, where, how many
springs broke (``detail["springs"]``, what scoring counts as damage) and the instrument pulling hardest at the time
(with its force), if any touches the tissue. ``torn_springs`` is the running damage count.
"""

from __future__ import annotations

import numpy as np

from surgsim.coupling.context import TickContext
from surgsim.tissue.contact_layout import FLAG_TORN


class Tearing:
    def __init__(self):
        self.torn_springs = 0

    def after_step(self, ctx: TickContext) -> None:
        if not ctx.report.torn:
            return
        removed = ctx.topology.request_removal(np.flatnonzero(ctx.spring_flags() == FLAG_TORN))
        if len(removed):
            self.tear(ctx, removed)

    def tear(self, ctx: TickContext, springs: np.ndarray) -> None:
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
                 detail={"springs": int(len(springs)), "regions": regions})
