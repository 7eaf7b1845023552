"""Contact monitoring: when each instrument starts and stops touching the tissue, and how hard it pushes.

An instrument touches while any of its capsules has tissue in contact, overlaps tissue without pushing it (jaws
closing through it), or its jaws hold tissue. :meth:`begin` emits
``contact_start`` (where, which region, the force then); :meth:`end` emits ``contact_end`` once it has not touched for
``contact_end_delay_s`` (a touch flickering at the surface stays one contact), with the peak force of the contact as
``force_n``. With ``force_limit_n`` set, ``force_limit`` / ``force_limit_end`` mark when an instrument's force crosses
it. Forces are the magnitude of the tissue's total force on the instrument [N].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from surgsim.coupling.context import TickContext
from surgsim.coupling.options import CouplingOptions
from surgsim.tissue.contact_layout import OUT_COUNT, OUT_SENSED


@dataclass
class _Contact:
    last_tick: int
    peak_force_n: float


class ContactMonitor:
    def __init__(self, instruments: dict, options: CouplingOptions, dt: float):
        self._names = list(instruments)
        self._options = options
        self._end_delay_ticks = int(round(options.contact_end_delay_s / dt))
        self._touching: dict[str, _Contact] = {}
        self._over_limit: set[str] = set()

    def after_step(self, ctx: TickContext, holding: set[str]) -> None:
        for name in self._names:
            rows = ctx.capsule_rows(name)
            counts = ctx.report.outputs[rows]
            force_n = np.asarray(ctx.instrument_forces[name], dtype=np.float64)
            force = math.sqrt(force_n.dot(force_n))  # np.linalg.norm's own sum, without its 3 µs of checks
            touching = name in holding or counts[:, OUT_COUNT].any() or counts[:, OUT_SENSED].any()
            contact = self._touching.get(name)
            if touching and contact is None:
                self.begin(ctx, name, force)
            elif touching:
                contact.last_tick = ctx.tick
                contact.peak_force_n = max(contact.peak_force_n, force)
            elif contact is not None and ctx.tick - contact.last_tick > self._end_delay_ticks:
                self.end(ctx, name)
            self._check_limit(ctx, name, force)

    def begin(self, ctx: TickContext, name: str, force: float) -> None:
        self._touching[name] = _Contact(ctx.tick, force)
        _, _, point, strongest = ctx.contact_of(ctx.capsule_rows(name))
        region = ctx.regions_of_nodes([strongest])[0] if strongest >= 0 else None
        ctx.emit("contact_start", instrument=name, region=region, force_n=force, position_m=point)

    def end(self, ctx: TickContext, name: str) -> None:
        contact = self._touching.pop(name)
        ctx.emit("contact_end", instrument=name, force_n=contact.peak_force_n)

    def _check_limit(self, ctx: TickContext, name: str, force: float) -> None:
        limit = self._options.force_limit_n
        if limit is None:
            return
        if force > limit and name not in self._over_limit:
            self._over_limit.add(name)
            ctx.emit("force_limit", instrument=name, force_n=force, detail={"limit_n": limit})
        elif force <= limit and name in self._over_limit:
            self._over_limit.discard(name)
            ctx.emit("force_limit_end", instrument=name, force_n=force, detail={"limit_n": limit})
