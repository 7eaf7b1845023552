"""Clipping: a clip applier whose jaws close (through ``clip_close``) on tissue places a clip there.

:meth:`Clipping.place` records the clip (the nodes it closes on, where) and emits a ``clip`` event. A clip is a
marker for scoring and rendering; it does not change the tissue's mechanics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from surgsim.coupling.context import TickContext
from surgsim.coupling.jaws import nodes_between_jaws
from surgsim.coupling.options import CouplingOptions


@dataclass(frozen=True)
class Clip:
    instrument: str
    nodes: np.ndarray
    position_m: tuple[float, float, float]
    time_s: float


class Clipping:
    def __init__(self, instruments: dict, options: CouplingOptions):
        self._instruments = {n: i for n, i in instruments.items() if i.spec.jaw_action == "clip"}
        self._options = options
        self._previous_jaw = {name: instrument.jaw for name, instrument in self._instruments.items()}
        self.clips: list[Clip] = []

    def after_step(self, ctx: TickContext) -> None:
        for name, instrument in self._instruments.items():
            jaw = instrument.jaw
            if jaw >= self._options.clip_close > self._previous_jaw[name]:
                nodes = nodes_between_jaws(ctx, name, margin_m=self._options.grasp_margin_m)
                if len(nodes):
                    self.place(ctx, name, nodes)
            self._previous_jaw[name] = jaw

    def place(self, ctx: TickContext, name: str, nodes: np.ndarray) -> None:
        """A clip from instrument ``name`` on ``nodes``."""
        position = tuple(float(v) for v in ctx.positions()[nodes].mean(axis=0))
        self.clips.append(Clip(name, nodes, position, ctx.time_s))
        ctx.emit("clip", instrument=name, region=ctx.regions_of_nodes(nodes)[0], position_m=position,
                 detail={"nodes": int(len(nodes))})
