"""Grasping: closing jaws bind the tissue between them to the jaws until the jaws open or the tissue slips.

Closing jaws pass through the tissue instead of pushing it aside (a real grasp squeezes what is between the jaws;
thin jaw capsules pushing a mesh would instead crush and tear it), and holding jaws do not push either (what they
hold is bound to them). Verbs: :meth:`Grasping.begin` anchors the nodes between the jaws (``solver.anchor``) where
they are and records them in the jaws' frame; every tick before the solve :meth:`Grasping.move_anchors` moves the
anchors with the jaws; :meth:`Grasping.end` releases them. A grasp begins when the jaw closure rises through ``grasp_close`` with tissue
between the jaws, ends with a ``release`` when it falls below ``grasp_open``, and with a ``slip`` when the anchors must
pull harder than the instrument's grasp-force limit (the holding force is measured by the contact pass: the residual
of the solver's equation at the anchored nodes, i.e. the spring, damping, inertial and weight forces they carry).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from surgsim.coupling.context import TickContext
from surgsim.coupling.jaws import nodes_between_jaws
from surgsim.coupling.options import CouplingOptions

_CLOSING = 1e-9  # jaw closure increase per tick that counts as closing
_STILL_M = 1e-9  # jaw frame motion [m, and rotation-matrix entries] below which the anchors stay where they are


@dataclass
class Grasp:
    """The nodes one instrument holds, their positions in its distal frame [m], and the frame (origin, rotation) the
    anchors were last placed for."""

    nodes: np.ndarray
    local: np.ndarray
    frame: tuple[np.ndarray, np.ndarray] | None = None


class Grasping:
    """Grasps of every instrument whose jaws grasp (``jaw_action == "grasp"``)."""

    def __init__(self, instruments: dict, layout, solver, contact, options: CouplingOptions):
        self._instruments = {n: i for n, i in instruments.items() if i.spec.jaw_action == "grasp"}
        self._solver = solver
        self._contact = contact
        self._options = options
        self._previous_jaw = {name: instrument.jaw for name, instrument in self._instruments.items()}
        self._closure_seen = dict(self._previous_jaw)
        self._jaw_rows = {name: [s.row for s in layout.slots if s.instrument == name and s.part == "jaw"]
                          for name in self._instruments}
        self.disabled_rows: set[int] = set()
        self.grasps: dict[str, Grasp] = {}
        self._held = {name: np.zeros(3) for name in self._instruments}

    def prepare(self) -> None:
        """After the instruments moved: jaws that close or hold do not push tissue this tick."""
        closing = {name for name, i in self._instruments.items() if i.jaw > self._closure_seen[name] + _CLOSING}
        self._closure_seen = {name: i.jaw for name, i in self._instruments.items()}
        self.disabled_rows = {row for name in closing | set(self.grasps) for row in self._jaw_rows[name]}

    def slip_force_n(self, name: str) -> float:
        return self._options.slip_force_n or self._instruments[name].spec.grasp_force_limit_n

    def holding_force(self, name: str) -> np.ndarray:
        """The force [N] instrument ``name``'s jaws exerted on the tissue in the last tick (zero when not grasping)."""
        return self._held.get(name, np.zeros(3))

    # -- every tick ------------------------------------------------------------------------------------------------
    def move_anchors(self) -> None:
        """Before the solve: put each grasp's anchors where the jaws now hold them (when the jaws moved: each
        update re-uploads the solver's whole anchor table)."""
        for name, grasp in self.grasps.items():
            origin, rotation = self._instruments[name].distal_frame()
            if grasp.frame is not None and np.abs(origin - grasp.frame[0]).max() < _STILL_M \
                    and np.abs(rotation - grasp.frame[1]).max() < _STILL_M:
                continue
            grasp.frame = (origin, rotation)
            self._solver.set_anchor_targets(grasp.nodes, origin + grasp.local @ rotation.T)

    def read_forces(self, ctx: TickContext) -> None:
        """After the contact pass: the holding force of each grasp (report rows are in grasp order)."""
        forces = ctx.report.grasp_force
        for group, name in enumerate(self.grasps):
            self._held[name] = forces[group].copy()

    def after_step(self, ctx: TickContext) -> None:
        for name, instrument in self._instruments.items():
            jaw = instrument.jaw
            if name in self.grasps:
                force = float(np.linalg.norm(self._held[name]))
                if force > self.slip_force_n(name):
                    self.end(ctx, name, kind="slip")
                elif jaw < self._options.grasp_open:
                    self.end(ctx, name, kind="release")
            elif jaw >= self._options.grasp_close > self._previous_jaw[name]:
                nodes = nodes_between_jaws(ctx, name, margin_m=self._options.grasp_margin_m)
                if len(nodes):
                    self.begin(ctx, name, nodes)
            self._previous_jaw[name] = jaw

    # -- verbs -----------------------------------------------------------------------------------------------------
    def begin(self, ctx: TickContext, name: str, nodes: np.ndarray) -> None:
        """Hold ``nodes`` in instrument ``name``'s jaws, where they are now."""
        positions = ctx.positions()[nodes]
        origin, rotation = self._instruments[name].distal_frame()
        self._solver.anchor(nodes, targets=positions)
        self.grasps[name] = Grasp(nodes, (positions - origin) @ rotation)
        self._held[name] = np.zeros(3)
        self._contact.set_grasps([g.nodes for g in self.grasps.values()])
        ctx.emit("grasp", instrument=name, region=ctx.regions_of_nodes(nodes)[0], position_m=positions.mean(axis=0),
                 detail={"nodes": int(len(nodes))})

    def end(self, ctx: TickContext, name: str, *, kind: str = "release") -> None:
        """Let go of what instrument ``name`` holds; ``kind`` is the event: ``release`` or ``slip``."""
        grasp = self.grasps.pop(name)
        force = float(np.linalg.norm(self._held[name]))
        self._solver.release(grasp.nodes)
        self._held[name] = np.zeros(3)
        self._contact.set_grasps([g.nodes for g in self.grasps.values()])
        detail = {"nodes": int(len(grasp.nodes))}
        if kind == "slip":
            detail["limit_n"] = float(self.slip_force_n(name))
        ctx.emit(kind, instrument=name, region=ctx.regions_of_nodes(grasp.nodes)[0], force_n=force,
                 position_m=ctx.positions()[grasp.nodes].mean(axis=0), detail=detail)
