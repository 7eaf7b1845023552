"""Cutting: closing scissors divide the springs their blades sweep through.

Each tick in which a pair of blades closes, each blade sweeps (approximately) the triangle between its hinge, its
tip two ticks ago and its tip now, all in the plane in which the blades move; the contact pass flags the live springs
that cross one of these *cutter* triangles, and they are removed (with the tets they belong to, which reopens the
surface there, see :mod:`surgsim.coupling.topology`). While they close, the blades do not push tissue (they cut it);
open or still, they do. A closing motion is a *stroke*: :meth:`Cutting.begin` when it starts, :meth:`Cutting.end`
when the blades stop closing, which emits one ``cut`` event for the stroke naming the regions cut, where the cut
tissue is now (``position_m``) and where it was at rest (``detail["rest_position_m"]``, what scoring compares with
a drawn cut line).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from surgsim.coupling.context import TickContext
from surgsim.tissue.contact_layout import FLAG_CUT0

_CLOSING = 1e-5  # jaw closure increase per tick that counts as closing (a motor settling moves less)


@dataclass
class _Blades:
    """A pair of blades as last seen: jaw closure, (hinge, tip) per blade, and the tips one tick before that."""

    jaw: float
    edges: list[tuple[np.ndarray, np.ndarray]]
    tips_before: list[np.ndarray]


class Cutting:
    """Strokes of every instrument whose jaws cut (``jaw_action == "cut"``)."""

    def __init__(self, instruments: dict, layout):
        self._instruments = {n: i for n, i in instruments.items() if i.spec.jaw_action == "cut"}
        self._blade_rows = {name: [s.row for s in layout.slots if s.instrument == name and s.part == "blade"]
                            for name in self._instruments}
        self._previous = {name: self._blades(name) for name in self._instruments}
        self._strokes: dict[str, list[np.ndarray]] = {}
        self.cutters = np.zeros((0, 9))
        self.disabled_rows: set[int] = set()
        self._cutter_owner: list[str] = []

    def _blades(self, name: str, before: _Blades | None = None) -> _Blades:
        """The blades now, both hinged on the shaft axis: the capsules sit a blade radius off the axis, but the
        cutting edges meet at it, so the swept wedges must too."""
        instrument = self._instruments[name]
        hinge, _ = instrument.distal_frame()
        edges = [(hinge, hinge + (c.p1 - c.p0)) for c in instrument.collision_capsules() if c.part == "blade"]
        tips_before = [tip for _, tip in (before.edges if before else edges)]
        return _Blades(instrument.jaw, edges, tips_before)

    def prepare(self) -> None:
        """After the instruments moved: the cutter triangles of this tick and the blades that must not push."""
        cutters, owners, disabled = [], [], set()
        for name in self._instruments:
            before = self._previous[name]
            now = self._previous[name] = self._blades(name, before)
            if now.jaw - before.jaw <= _CLOSING:
                continue
            disabled.update(self._blade_rows[name])
            # Each triangle spans two ticks of the sweep, so consecutive triangles overlap and a spring that drifts
            # against the blade cannot slip between them.
            for (hinge, tip), tip_earlier in zip(now.edges, before.tips_before):
                cutters.append(np.concatenate([hinge, tip_earlier, tip]))
                owners.append(name)
        self.cutters = np.array(cutters).reshape(-1, 9)
        self._cutter_owner = owners
        self.disabled_rows = disabled

    def after_step(self, ctx: TickContext) -> None:
        closing = set(self._cutter_owner)
        if ctx.report.cut:
            flags = ctx.spring_flags()
            for k, name in enumerate(self._cutter_owner):
                removed = ctx.topology.request_removal(np.flatnonzero(flags == FLAG_CUT0 + k))
                if len(removed):
                    self._strokes.setdefault(name, []).append(removed)
        for name in self._instruments:
            if name in closing and name not in self._strokes:
                self.begin(name)
            elif name not in closing and name in self._strokes:
                self.end(ctx, name)

    # -- verbs -----------------------------------------------------------------------------------------------------
    def begin(self, name: str) -> None:
        """A closing stroke of instrument ``name`` starts."""
        self._strokes[name] = []

    def end(self, ctx: TickContext, name: str) -> None:
        """The stroke ends: one ``cut`` event if it divided anything."""
        parts = self._strokes.pop(name)
        if not parts:
            return
        springs = np.concatenate(parts)
        regions = ctx.regions_of_springs(springs)
        ctx.emit("cut", instrument=name, region=regions[0],
                 position_m=ctx.spring_midpoints(springs).mean(axis=0),
                 detail={"springs": int(len(springs)), "regions": regions,
                         "rest_position_m": [float(v) for v in ctx.spring_midpoints(springs, rest=True).mean(axis=0)]})
