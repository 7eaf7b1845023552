"""Grasping: closing jaws bind the tissue between them, and softly the tissue around it, to the jaws until the jaws
open or the tissue slips.

Closing jaws pass through the tissue instead of pushing it aside (a real grasp squeezes what is between the jaws;
thin jaw capsules pushing a mesh would instead crush and tear it), and holding jaws do not push either (what they
hold is bound to them). A grasp begins when the jaw closure rises through ``grasp_close`` with tissue between the
jaws, ends with a ``release`` when it falls below ``grasp_open``, and with a ``slip`` when the grasp must pull harder
than its pinch can hold: the pull along the jaw faces beyond the instrument's ``grip_coefficient`` × the pinch,
which grows with the jaw closure the trainee commands (see assets/instruments/README.md; the holding force is
measured by the contact pass, see below).

What a grasp holds. On an organ mesh with 7-9 mm edges only 2-12 nodes lie between 18 mm jaws, and binding only
those puts the whole load on the springs around them: a liver edge lifted 15-20 mm tore there at under 1 N. Real
forceps spread the load over the jaw faces (both sides, the length of the jaws) and through the capsule of the organ
into the tissue around the bite. So a grasp holds:

- the nodes *between* the jaws (:func:`~surgsim.coupling.jaws.nodes_between_jaws`): anchored (``control.anchor``),
  they move rigidly with the jaws;
- the nodes *around* them, within 1.73 R of the jaws' footprint (the segment from the hinge to the tip of the
  closed jaws) and connected to the held nodes through live springs (not across a cut, not into another organ): each
  is *attached* (``control.attach``: a zero-length spring inside the implicit solve) to where it sits in the jaws'
  frame, with stiffness ``grasp_hold_stiffness`` × w × Σk_i, where Σk_i is the stiffness of the node's own springs and
  w = exp(−(d / R)²) falls with its distance d from the footprint (w ≥ 0.05). R is the mean length of the held
  nodes' springs: a node stands for the tissue about half an edge around it, so this is the part of the grip that
  the mesh does not resolve (on the liver's ~9 mm mesh R ≈ 9 mm and a grasp ties some 30 nodes; on a fine mesh it
  shrinks with the edges, which resolve the rest themselves). The pull thus fades smoothly into the tissue instead
  of ending at one ring of springs. R is not an option: how much tissue a grasp holds decides the force that holds a
  lift (on the liver, 0.7 N to hold a 20 mm lift with the node between the jaws alone, 1.4 N with R one edge,
  3.0 N with R two edges), and the force gauge must not show a numerical choice. With R one edge that force is
  the same within 2 % on two mesh resolutions (3115 and 5678 nodes) and within 11 % for hold stiffnesses 0.3-3
  (tests/coupling/test_grasp_liver.py). (The lift still folds some tets in the tissue it squeezes: a mass-spring
  network without volume stiffness folds.) The edge of the held patch is where the mesh takes up the step between
  held and free tissue, in one ring of tets: single tets there read beyond the failure stretch at routine grip
  forces (the liver edge lifted at 1.85 N). The tear test therefore averages the strain over the tear length
  (``CouplingOptions.tear_length_m``, half the jaws' length; :mod:`surgsim.tissue.tool_contact`), so the grip
  model's own concentration is no tear and a pull that strains the tissue around the bite still is.

Both kinds of node form one rigid group of the control (``control.set_anchor_frame``): every tick before the solve
:meth:`Grasping.move_anchors` sends it the jaws' frame (12 numbers) when the jaws moved, and the targets are placed on
the device. A node that something else anchors later (a clip) leaves the group, and the grasp lets go of it no more.

Letting go. Opening jaws do not drop their load in one tick: that springs the held tissue back at once, and the
jaw capsules, re-enabled with tissue between their faces, would throw it out (a 10 N spike on the liver, a blow-up
on a thin sheet). :meth:`Grasping.end` instead turns the anchored nodes into attachments and fades every attachment
to zero over ``release_s`` (the jaws open and the tissue slides out of them over tens of milliseconds), and the
jaws go on passing through tissue (sensing it, not pushing) until they no longer overlap any. The holding force is
measured by the contact pass: the residual of the solver's equation at the anchored nodes (the spring, damping,
inertial and weight forces they carry) plus the pull of the attachments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from surgsim.coupling.context import TickContext
from surgsim.coupling.jaws import nodes_between_jaws
from surgsim.coupling.options import CouplingOptions

_CLOSING = 1e-9  # jaw closure increase per tick that counts as closing
_STILL_M = 1e-9  # jaw frame motion [m, and rotation-matrix entries] below which the anchors stay where they are
_LEAST_WEIGHT = 0.05  # attachments weaker than this share of a node's spring stiffness are left out
_REACH = math.sqrt(math.log(1.0 / _LEAST_WEIGHT))  # ... i.e. beyond this many R from the footprint


@dataclass
class Grasp:
    """What one instrument holds: ``nodes`` (anchored, between the jaws) and ``attached`` (around them, with
    ``stiffness`` [N/m]), their positions in its distal frame [m] (``local``, ``attached_local``), and the frame
    (origin, rotation) the targets were last placed for. While letting go, ``fade`` is the attachments' remaining
    share (1 → 0)."""

    nodes: np.ndarray
    local: np.ndarray
    attached: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    attached_local: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    stiffness: np.ndarray = field(default_factory=lambda: np.zeros(0))
    frame: tuple[np.ndarray, np.ndarray] | None = None
    fade: float = 1.0

    @property
    def all_nodes(self) -> np.ndarray:
        return np.concatenate([self.nodes, self.attached])

    def targets(self, origin: np.ndarray, rotation: np.ndarray) -> np.ndarray:
        """Where every held node goes for the jaws' frame (origin, rotation) [K, 3] [m] (anchored first)."""
        return origin + np.concatenate([self.local, self.attached_local]) @ rotation.T


class Grasping:
    """Grasps of every instrument whose jaws grasp (``jaw_action == "grasp"``)."""

    def __init__(self, instruments: dict, layout, control, contact, options: CouplingOptions):
        self._instruments = {n: i for n, i in instruments.items() if i.spec.jaw_action == "grasp"}
        self._control = control
        self._contact = contact
        self._options = options
        self._previous_jaw = {name: instrument.jaw for name, instrument in self._instruments.items()}
        self._closure_seen = dict(self._previous_jaw)
        self._jaw_rows = {name: [s.row for s in layout.slots if s.instrument == name and s.part == "jaw"]
                          for name in self._instruments}
        self.disabled_rows: set[int] = set()
        self.grasps: dict[str, Grasp] = {}
        self.letting_go: dict[str, Grasp] = {}  # released or slipped, their attachments fading out
        self._clearing: set[str] = set()  # let go; their jaws pass through tissue until they no longer overlap it
        self._held = {name: np.zeros(3) for name in self._instruments}
        tissue_dt = control.layout.options.dt
        self._fade_step = 1.0 / max(1, round(options.release_s / tissue_dt)) if options.release_s else 1.0

    def prepare(self) -> None:
        """After the instruments moved: jaws that close, hold, let go or still overlap what they let go of do not
        push tissue this tick."""
        closing = {name for name, i in self._instruments.items() if i.jaw > self._closure_seen[name] + _CLOSING}
        self._closure_seen = {name: i.jaw for name, i in self._instruments.items()}
        quiet = closing | set(self.grasps) | set(self.letting_go) | self._clearing
        self.disabled_rows = {row for name in quiet for row in self._jaw_rows[name]}

    def pinch_force_n(self, name: str) -> float:
        """The force [N] with which instrument ``name``'s jaws now squeeze: the spec's ``pinch_force_n`` times the
        closure commanded beyond ``grasp_open`` (0 there, all of it fully closed)."""
        instrument = self._instruments[name]
        open_at = self._options.grasp_open
        share = min(max((instrument.jaw - open_at) / (1.0 - open_at), 0.0), 1.0)
        return instrument.spec.pinch_force_n * share

    def slip_force_n(self, name: str) -> float:
        """The pull along the jaw faces [N] beyond which the tissue slips out: grip coefficient × pinch (the
        coupling option ``slip_force_n``, when set, instead)."""
        if self._options.slip_force_n:
            return self._options.slip_force_n
        return self._instruments[name].spec.grip_coefficient * self.pinch_force_n(name)

    def pull_along_jaws_n(self, name: str) -> float:
        """The part of the holding force along the jaw faces [N]: what friction must hold (a pull across the faces,
        along the jaws' opening direction, presses the tissue into a jaw instead)."""
        force = self._held.get(name, np.zeros(3))
        normal = self._instruments[name].distal_frame()[1][:, 1]
        return float(np.linalg.norm(force - force.dot(normal) * normal))

    def holding_force(self, name: str) -> np.ndarray:
        """The force [N] instrument ``name``'s jaws exerted on the tissue in the last tick (zero when not grasping)."""
        return self._held.get(name, np.zeros(3))

    @property
    def holding(self) -> set[str]:
        """Instruments whose jaws hold tissue or are still letting it go."""
        return set(self.grasps) | set(self.letting_go)

    # -- every tick ------------------------------------------------------------------------------------------------
    def move_anchors(self) -> None:
        """Before the solve: put each grasp's anchors and attachments where the jaws now hold them (the solver gets
        the jaws' frame, not the rows), and fade out the attachments of the grasps letting go."""
        for name, grasp in self.grasps.items():
            if len(self._control.anchor_frame_nodes(name)) != len(grasp.nodes) + len(grasp.attached):
                self._keep_own(name, grasp)  # a clip or another grasp took some of its nodes
                self._contact.set_grasps(self._groups())
            origin, rotation = self._instruments[name].distal_frame()
            if grasp.frame is not None and np.abs(origin - grasp.frame[0]).max() < _STILL_M \
                    and np.abs(rotation - grasp.frame[1]).max() < _STILL_M:
                continue
            grasp.frame = (origin, rotation)
            self._control.move_anchor_frame(name, origin, rotation)
        for name, grasp in self.letting_go.items():
            origin, rotation = self._instruments[name].distal_frame()
            grasp.frame = (origin, rotation)
            grasp.fade = max(0.0, grasp.fade - self._fade_step)
            taken = self._control.anchored[grasp.attached]  # anchored since by something else (a clip)
            if taken.any():
                grasp.attached, grasp.attached_local = grasp.attached[~taken], grasp.attached_local[~taken]
                grasp.stiffness = grasp.stiffness[~taken]
                self._contact.set_grasps(self._groups())
            if grasp.fade > 0.0 and len(grasp.attached):
                self._control.attach(grasp.all_nodes, grasp.targets(origin, rotation), grasp.fade * grasp.stiffness)

    def read_forces(self, ctx: TickContext) -> None:
        """After the contact pass: the holding force of each grasp (report rows are in :meth:`_groups` order)."""
        forces = ctx.report.grasp_force
        for group, name in enumerate(self._group_names()):
            self._held[name] = forces[group].copy()

    def after_step(self, ctx: TickContext) -> None:
        for name in list(self.letting_go):
            if self.letting_go[name].fade <= 0.0:
                self._let_go(name)
        for name in list(self._clearing):
            if not ctx.report.sensed[self._jaw_rows[name]].any():
                self._clearing.discard(name)
        for name, instrument in self._instruments.items():
            jaw = instrument.jaw
            if name in self.grasps:
                # Jaws that are opening let go as their pinch falls below the pull: the trainee released it.
                opening = jaw < self._previous_jaw[name] - _CLOSING
                if self.pull_along_jaws_n(name) > self.slip_force_n(name):
                    self.end(ctx, name, kind="release" if opening else "slip")
                elif jaw < self._options.grasp_open:
                    self.end(ctx, name, kind="release")
            elif jaw >= self._options.grasp_close > self._previous_jaw[name]:
                nodes = self._untied(nodes_between_jaws(ctx, name, margin_m=self._options.grasp_margin_m))
                if len(nodes):
                    self.begin(ctx, name, nodes)
            self._previous_jaw[name] = jaw

    # -- verbs -----------------------------------------------------------------------------------------------------
    def begin(self, ctx: TickContext, name: str, nodes: np.ndarray) -> None:
        """Hold ``nodes`` in instrument ``name``'s jaws where they are now, and the tissue around them softly."""
        if name in self.letting_go:
            self._let_go(name)
        self._clearing.discard(name)
        x = ctx.positions()
        origin, rotation = self._instruments[name].distal_frame()
        around, stiffness = self._around(ctx, name, nodes)
        grasp = Grasp(nodes, (x[nodes] - origin) @ rotation, around, (x[around] - origin) @ rotation, stiffness,
                      frame=(origin, rotation))
        self._control.anchor(nodes, targets=x[nodes])
        if len(around):
            self._control.attach(around, x[around], stiffness)
        self._control.set_anchor_frame(name, grasp.all_nodes, np.concatenate([grasp.local, grasp.attached_local]))
        self.grasps[name] = grasp
        self._held[name] = np.zeros(3)
        self._contact.set_grasps(self._groups())
        ctx.emit("grasp", instrument=name, region=ctx.regions_of_nodes(nodes)[0], position_m=x[nodes].mean(axis=0),
                 detail={"nodes": int(len(nodes)), "attached": int(len(around))})

    def end(self, ctx: TickContext, name: str, *, kind: str = "release") -> None:
        """Let go of what instrument ``name`` holds; ``kind`` is the event: ``release`` or ``slip``. The anchored
        nodes become attachments (as stiff as the nearest ones around them) and every attachment fades out over
        ``release_s``."""
        grasp = self.grasps.pop(name)
        force = float(np.linalg.norm(self._held[name]))
        detail = {"nodes": int(len(grasp.nodes))}
        if kind == "slip":
            detail["limit_n"] = float(self.slip_force_n(name))
            detail["pinch_n"] = float(self.pinch_force_n(name))
            detail["pull_along_jaws_n"] = self.pull_along_jaws_n(name)
        ctx.emit(kind, instrument=name, region=ctx.regions_of_nodes(grasp.nodes)[0], force_n=force,
                 position_m=ctx.positions()[grasp.nodes].mean(axis=0), detail=detail)
        self._keep_own(name, grasp)
        self._control.drop_anchor_frame(name)
        if self._fade_step >= 1.0:
            self.letting_go[name] = grasp
            self._let_go(name)
            return
        own = self._options.grasp_hold_stiffness * self._control.node_params[grasp.nodes, 1]
        grasp.stiffness = np.concatenate([np.maximum(own, 1e-9), grasp.stiffness])
        grasp.attached_local = np.concatenate([grasp.local, grasp.attached_local])
        grasp.attached = grasp.all_nodes
        grasp.nodes, grasp.local = np.zeros(0, dtype=np.int64), np.zeros((0, 3))
        origin, rotation = grasp.frame if grasp.frame is not None else self._instruments[name].distal_frame()
        self._control.attach(grasp.attached, grasp.targets(origin, rotation), grasp.stiffness)
        self.letting_go[name] = grasp

    def _let_go(self, name: str) -> None:
        """The end of letting go: the attachments are gone; the jaws stay quiet until clear of tissue."""
        grasp = self.letting_go.pop(name)
        self._control.release(grasp.all_nodes)
        self._held[name] = np.zeros(3)
        self._contact.set_grasps(self._groups())
        self._clearing.add(name)

    # -- helpers ---------------------------------------------------------------------------------------------------
    def _keep_own(self, name: str, grasp: Grasp) -> None:
        """Forget the nodes something else took from the grasp since it began (anchored by a clip, or grasped by
        another instrument): the control's frame still lists only the grasp's own."""
        own = self._control.anchor_frame_nodes(name)
        mine, theirs = np.isin(grasp.nodes, own), np.isin(grasp.attached, own)
        if mine.all() and theirs.all():
            return
        grasp.nodes, grasp.local = grasp.nodes[mine], grasp.local[mine]
        grasp.attached, grasp.attached_local = grasp.attached[theirs], grasp.attached_local[theirs]
        grasp.stiffness = grasp.stiffness[theirs]

    def _untied(self, nodes: np.ndarray) -> np.ndarray:
        """``nodes`` less those attached by something other than a grasp letting go (an organ's bed: a grasp that
        anchored them would, on letting go, untie them from it)."""
        tied = self._control.attached.copy()
        for grasp in self.letting_go.values():
            tied[grasp.all_nodes] = False
        return nodes[~tied[nodes]]

    def _group_names(self) -> list[str]:
        return list(self.grasps) + list(self.letting_go)

    def _groups(self) -> list[np.ndarray]:
        return [self.grasps[n].all_nodes if n in self.grasps else self.letting_go[n].all_nodes
                for n in self._group_names()]

    def _around(self, ctx: TickContext, name: str, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The free nodes around the bite that the grasp holds softly, and their attachment stiffness [N/m]: within
        ``_REACH`` × R of the jaws' footprint, reached from ``nodes`` through live springs."""
        control = self._control
        layout = control.layout
        live = control.spring_active[layout.csr_springs]
        entries = np.concatenate([np.arange(layout.csr_offsets[i], layout.csr_offsets[i + 1]) for i in nodes])
        entries = entries[live[entries]]
        strength = self._options.grasp_hold_stiffness
        spread = float(layout.rest_lengths[layout.csr_springs[entries]].mean()) if len(entries) else 0.0
        if spread <= 0.0 or strength <= 0.0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        instrument = self._instruments[name]
        origin, rotation = instrument.distal_frame()
        axis = rotation[:, 2] * instrument.spec.jaw_length_m
        x = ctx.positions()
        taken = control.anchored | control.attached
        taken[nodes] = True

        def distance(ids: np.ndarray) -> np.ndarray:
            along = np.clip((x[ids] - origin) @ axis / (axis @ axis), 0.0, 1.0)
            return np.linalg.norm(x[ids] - (origin + along[:, None] * axis), axis=1)

        found, frontier = [], np.asarray(nodes, dtype=np.int64)
        while len(frontier):
            entries = np.concatenate([np.arange(layout.csr_offsets[i], layout.csr_offsets[i + 1]) for i in frontier])
            neighbours = np.unique(layout.csr_neighbors[entries[live[entries]]])
            neighbours = neighbours[~taken[neighbours]]
            neighbours = neighbours[distance(neighbours) <= _REACH * spread]
            taken[neighbours] = True
            found.append(neighbours)
            frontier = neighbours
        around = np.sort(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
        weight = np.exp(-(distance(around) / spread) ** 2)
        return around, strength * weight * control.node_params[around, 1]
