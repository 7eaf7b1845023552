"""Cautery: energy on with the hook's tip in contact burns the tissue it touches, and divides it after a dwell.

The contact pass adds ``dt / burn_dwell_s`` to the burn level (0..1) of every node an energized tip capsule touches;
a node at 1 is charred, and springs whose two ends are charred are divided (removed, with their tets). A *burn* is an
episode of energized contact: :meth:`Cautery.begin` emits a ``burn`` event at its onset (where, which region, the
contact force); :meth:`Cautery.end` closes it when energy goes off or the tip leaves the tissue, and emits one ``cut``
event (``detail["by"] = "cautery"``) if the burn divided tissue, as a hook that divides tissue is cutting.
"""

from __future__ import annotations

import numpy as np

from surgsim.coupling.context import TickContext


class Cautery:
    """Burns of every instrument that can deliver energy."""

    def __init__(self, instruments: dict, layout):
        self._instruments = {n: i for n, i in instruments.items() if i.spec.energy}
        self._tip_rows = {name: [s.row for s in layout.slots if s.instrument == name and s.part == "tip"]
                          for name in self._instruments}
        self._burning: dict[str, list[np.ndarray]] = {}

    def after_step(self, ctx: TickContext) -> None:
        charred_springs = self._charred_springs(ctx) if ctx.report.charred else None
        for name, instrument in self._instruments.items():
            rows = self._tip_rows[name]
            energized = int(ctx.report.energized_nodes[rows].sum()) if rows else 0
            burning = instrument.energy and energized > 0
            if burning and name not in self._burning:
                self.begin(ctx, name)
            elif not burning and name in self._burning:
                self.end(ctx, name)
            if burning and charred_springs is not None:
                removed = ctx.topology.request_removal(charred_springs)
                if len(removed):
                    self._burning[name].append(removed)

    @staticmethod
    def _charred_springs(ctx: TickContext) -> np.ndarray:
        charred = ctx.contact.burn_levels() >= 1.0
        springs = ctx.model.springs
        return np.flatnonzero(charred[springs[:, 0]] & charred[springs[:, 1]] & ctx.topology.spring_active)

    # -- verbs -----------------------------------------------------------------------------------------------------
    def begin(self, ctx: TickContext, name: str) -> None:
        """Energized contact starts: a ``burn`` event."""
        self._burning[name] = []
        count, force, point, strongest = ctx.contact_of(self._tip_rows[name])
        ctx.emit("burn", instrument=name, region=ctx.regions_of_nodes([strongest])[0], force_n=force,
                 position_m=point, detail={"nodes": count})

    def end(self, ctx: TickContext, name: str) -> None:
        """Energized contact ends: a ``cut`` event if the burn divided tissue."""
        parts = self._burning.pop(name)
        if not parts:
            return
        springs = np.concatenate(parts)
        regions = ctx.regions_of_springs(springs)
        ctx.emit("cut", instrument=name, region=regions[0], position_m=ctx.spring_midpoints(springs).mean(axis=0),
                 detail={"springs": int(len(springs)), "regions": regions, "by": "cautery",
                         "rest_position_m": [float(v) for v in ctx.spring_midpoints(springs, rest=True).mean(axis=0)]})
