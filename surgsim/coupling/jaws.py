"""Which tissue nodes are between an instrument's jaws (what a grasp holds, what a clip closes on)."""

from __future__ import annotations

import numpy as np

from surgsim.coupling.context import TickContext


def nodes_between_jaws(ctx: TickContext, name: str, *, margin_m: float, free_only: bool = True) -> np.ndarray:
    """Nodes of the tissue between the jaws of instrument ``name``, sorted ids: only the free (not anchored) ones
    unless ``free_only`` is False.

    In the distal frame (origin at the hinge, z along the shaft, y the opening direction) a node is between the jaws
    when 0 <= z <= jaw length + margin, |x| <= jaw radius + margin and |y| <= z tan(opening / 2) + jaw radius + margin.
    Nodes the contact pass reports touching either jaw count too: on a coarse mesh the jaws squeeze triangles
    whose nodes lie just outside that wedge.
    """
    instrument = ctx.instruments[name]
    spec = instrument.spec
    origin, rotation = instrument.distal_frame()
    local = (ctx.positions() - origin) @ rotation
    half = np.tan(instrument.jaw_opening_rad / 2.0)
    reach = spec.jaw_radius_m + margin_m
    inside = ((local[:, 2] >= 0.0) & (local[:, 2] <= spec.jaw_length_m + margin_m) & (np.abs(local[:, 0]) <= reach)
              & (np.abs(local[:, 1]) <= np.clip(local[:, 2], 0.0, None) * half + reach))
    touching_rows = ctx.capsule_rows(name, ("jaw", "blade"))
    if touching_rows and ctx.report.node_count[touching_rows].sum() > 0:
        capsule, _ = ctx.contact.contact_records()
        inside |= np.isin(capsule, touching_rows)
    if free_only:
        inside &= ~ctx.control.anchored
    return np.flatnonzero(inside)
