"""The coupler: one tissue solver and one rigid world advanced together in a fixed order, tick by tick.

Two rates. The rigid world's tick ``dt`` (1 ms: the haptic servo and the instruments) and the tissue's step, a whole
number ``tissue_every`` of ticks (the solver's ``options.dt``; 2 ms by default in a session, see
:mod:`surgsim.session`). Every tick:

1. device commands → instruments (validated, clamped, slew-limited);
2. instruments: the tissue's last reactions pushed on the tool links, one PyBullet step, link states read back;

and on every ``tissue_every``-th tick (the tissue tick) also:

3. tool capsules packed (closing or holding jaws and cutting blades do not push), cutter triangles of closing
   scissors;
4. grasp anchors moved with the jaws;
5. tissue solver step;
6. tool-contact pass (:mod:`surgsim.tissue.tool_contact`): contact, friction, forces, burn, spring flags, grasp
   holding forces;
7. interactions, in this order: contact monitor, grasping, cutting, tearing, cautery, clipping; then the topology
   changes they requested are applied at once;
8. the step's blow-up event (``TissueSolver.step`` returns it) joins the event stream; the states swap.

Between tissue ticks the tissue state, the contact set and the instruments' reactions are held (zero-order hold): the
tools keep feeling the last contact forces while they move, and the next tissue tick's contact pass sees the whole
motion since the last one (capsules "before" = at the last tissue tick). Events carry the time of the tick they
happened in.

Nothing depends on wall-clock time, thread scheduling or dictionary order beyond insertion order, so two couplers fed
the same commands produce bit-identical tissue states and event lists on one backend.

The coupler owns ``TissueState.forces`` of its states (the contact forces are carried there from one tick to the
next). Forces on instruments are the tissue's force on them [N]: contact reactions plus the pull of grasped tissue.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from surgsim.coupling.anatomy import anatomy_capsules, anatomy_obstacles
from surgsim.coupling.capsules import CapsuleLayout
from surgsim.coupling.cautery import Cautery
from surgsim.coupling.clipping import Clipping
from surgsim.coupling.contact_monitor import ContactMonitor
from surgsim.coupling.context import TickContext
from surgsim.coupling.cutting import Cutting
from surgsim.coupling.grasping import Grasping
from surgsim.coupling.options import CouplingOptions
from surgsim.coupling.sleeping import Sleeping
from surgsim.coupling.tearing import Tearing
from surgsim.coupling.topology import TissueTopology
from surgsim.errors import InputError
from surgsim.events import Event
from surgsim.tissue.contact_layout import OUT_COUNT, OUT_FORCE, OUT_POINT, OUT_WEIGHT
from surgsim.tissue.tool_contact import ToolContact
from surgsim.trace import InstrumentCommand, InstrumentSample


class Coupler:
    """Couples ``solver`` (a :class:`~surgsim.tissue.solver.TissueSolver`) with ``world`` (a
    :class:`~surgsim.instruments.world.RigidWorld` holding the instruments and static anatomy).

    The coupler owns ``control`` (:class:`~surgsim.tissue.control.TissueControl`: the tissue's anchors, obstacles and
    live springs; default: a new one from ``solver.control()``) from then on, and steps the solver with it: it never
    changes the solver. Hold the scene's anchors in the control before (they are exempt from tearing). Add every
    instrument and static body to the world before creating the coupler (it adds the world's static planes and boxes
    to the control's obstacles, and its spheres and capsules to the contact pass). ``step(commands)`` advances
    one tick; ``drain_events()`` returns what happened; ``sample()`` and ``reaction_force(name)`` what the instruments
    feel; ``positions()`` and ``current_surface_triangles()`` what to draw. The world stays the caller's to close.
    """

    def __init__(self, solver, world, control=None, *, options: CouplingOptions | dict | None = None):
        self.options = CouplingOptions.parse(options)
        ratio = solver.options.dt / world.dt
        self.tissue_every = max(1, round(ratio))
        if abs(ratio - self.tissue_every) > 1e-9:
            raise InputError("coupling", f"the solver's dt ({solver.options.dt} s) must be a whole multiple of the "
                                         f"rigid world's ({world.dt} s).")
        self.solver = solver
        self.control = control = control if control is not None else solver.control()
        self.world = world
        self.model = solver.model
        self.dt = world.dt
        self.tissue_dt = solver.options.dt
        self.tick = 0
        self.state, self._next = solver.state(), solver.state()
        opt = self.options
        control.set_obstacles(list(control.obstacles) + anatomy_obstacles(world, friction=opt.anatomy_friction))
        instruments = world.instruments
        friction = {name: opt.friction if opt.friction is not None else i.spec.friction
                    for name, i in instruments.items()}
        self.layout = CapsuleLayout(instruments, anatomy_capsules(world), friction=friction,
                                    anatomy_friction=opt.anatomy_friction)
        tear_checks = max(1, math.ceil(opt.tear_persist_s / (opt.check_springs_every * self.tissue_dt) - 1e-9))
        self.contact = ToolContact(solver, control, len(self.layout), skin_m=opt.skin_m, burn_dwell_s=opt.burn_dwell_s,
                                   check_springs_every=opt.check_springs_every, tear_checks=tear_checks,
                                   tear_length_m=opt.tear_length_m)
        self.topology = TissueTopology(self.model, control, self.contact)
        self.monitor = ContactMonitor(instruments, opt, self.dt)
        self.grasping = Grasping(instruments, self.layout, control, self.contact, opt)
        self.cutting = Cutting(instruments, self.layout)
        self.tearing = Tearing(self.model)
        self.cautery = Cautery(instruments, self.layout)
        self.clipping = Clipping(instruments, opt)
        self._events: list[Event] = []
        self._forces = {name: np.zeros(3) for name in instruments}
        self._slot_instrument = [instruments.get(slot.instrument) for slot in self.layout.slots]
        self._slot_link = [slot.link for slot in self.layout.slots]
        # The layout packs each instrument's capsules in consecutive rows: its force is one sum over a slice.
        self._instrument_rows = {name: slice(rows[0], rows[-1] + 1) if rows else slice(0, 0)
                                 for name, rows in self.layout.rows_of.items()}
        self._pushes: list[tuple] = []
        self.sleeping = None
        if opt.sleep:
            self.sleeping = Sleeping(control, _organs(self.model), [s.row for s in self.layout.slots if s.instrument],
                                     tissue_dt=self.tissue_dt, sleep_speed_m_s=opt.sleep_speed_m_s,
                                     sleep_after_s=opt.sleep_after_s, wake_distance_m=opt.wake_distance_m)

    # -- the tick --------------------------------------------------------------------------------------------------
    def step(self, commands: Mapping[str, InstrumentCommand] | None = None) -> None:
        """Advance one tick of ``dt``; ``commands`` maps instrument names to this tick's commands (others keep
        their last one). The tissue advances on every ``tissue_every``-th tick (see :attr:`tissue_tick_next`)."""
        instruments = self.world.instruments
        for name, command in (commands or {}).items():
            if name not in instruments:
                raise InputError("commands", f"no instrument '{name}'; the scene has: {', '.join(instruments)}.")
            instruments[name].command(command)
        for instrument, link, force, point in self._pushes:
            instrument.push(link, force, point)
        self.world.step()
        if not self.tissue_tick_next:
            self.tick += 1
            return
        self._tissue_step(instruments)
        self.tick += 1

    @property
    def tissue_tick_next(self) -> bool:
        """Whether the next :meth:`step` advances the tissue too."""
        return (self.tick + 1) % self.tissue_every == 0

    def _tissue_step(self, instruments) -> None:
        self.cutting.prepare()
        self.grasping.prepare()
        capsules = self.layout.pack(disabled=self.cutting.disabled_rows | self.grasping.disabled_rows)
        self.grasping.move_anchors()
        if self.sleeping is not None:
            self.sleeping.before_step(self.state, capsules)
        blowup = self.solver.step(self.state, self._next, self.control, self.tissue_dt)
        if blowup is not None and not blowup.recovered:
            self.contact.reset(self._next)
        report = self.contact.run(self.state, self._next, capsules, self.tissue_dt, cutters=self.cutting.cutters)
        ctx = TickContext(self.tick + 1, self.dt, self.model, self.control, self._next, self.contact, self.topology,
                          self.layout, instruments, report, self._events)
        self.grasping.read_forces(ctx)
        self._collect_forces(ctx)
        holding = self.grasping.holding
        self.monitor.after_step(ctx, holding)
        self.grasping.after_step(ctx)
        self.cutting.after_step(ctx)
        self.tearing.after_step(ctx)
        self.cautery.after_step(ctx)
        self.clipping.after_step(ctx)
        self.topology.commit()
        if blowup is not None:
            ctx.emit("blowup", detail={"max_speed_m_s": blowup.max_speed, "retries": blowup.retries,
                                       "substeps": blowup.substeps, "recovered": blowup.recovered})
        self.state, self._next = self._next, self.state

    def _collect_forces(self, ctx: TickContext) -> None:
        """Each instrument's force from the tissue, and the pushes to apply to its links next tick."""
        outputs = ctx.report.outputs
        reaction = outputs[:, OUT_FORCE:OUT_FORCE + 3]
        pushes = []
        for row in np.flatnonzero(outputs[: len(self.layout), OUT_COUNT]).tolist():
            instrument = self._slot_instrument[row]
            if instrument is not None:
                point = outputs[row, OUT_POINT:OUT_POINT + 3] / outputs[row, OUT_WEIGHT]
                pushes.append((instrument, self._slot_link[row], reaction[row].copy(), point))
        holding = self.grasping.holding
        for name, rows in self._instrument_rows.items():
            held = self.grasping.holding_force(name)
            self._forces[name] = reaction[rows].sum(axis=0) - held
            if name in holding:
                instrument = self.world.instruments[name]
                pushes.append((instrument, instrument.distal_link, -held, instrument.distal_frame()[0]))
        ctx.instrument_forces = self._forces
        self._pushes = pushes

    def warm_up(self) -> None:
        """Compile the tissue step and the contact pass now (Taichi compiles a kernel on its first launch, ~1.4 s on a
        CT scene) instead of in the first tissue tick, where a live session would freeze and then run behind the
        wall clock. The tissue step runs once into a scratch state; nothing the ticks read changes."""
        scratch = self.solver.state()
        self.solver.step(self.state, scratch, self.control, self.tissue_dt)
        self.contact.warm_up(self.state, scratch)

    def start_settled(self, positions: np.ndarray) -> None:
        """Start from the tissue settled at ``positions`` [N, 3] [m] (on its anchors and beds, under gravity): the
        state's positions, and the reference the tear test measures strain from (see
        :meth:`ToolContact.set_strain_reference`)."""
        self.state.set_positions(positions)
        self.contact.set_strain_reference(positions)

    # -- what the outside reads ------------------------------------------------------------------------------------
    @property
    def time_s(self) -> float:
        return self.tick * self.dt

    def drain_events(self) -> list[Event]:
        """Events since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    def reaction_force(self, name: str) -> np.ndarray:
        """The tissue's force on instrument ``name`` in the last tick [N] (for haptics and scoring)."""
        return self._forces[name].copy()

    def sample(self) -> dict[str, InstrumentSample]:
        """The observed state of every instrument (what a session trace records)."""
        samples = {}
        for name, instrument in self.world.instruments.items():
            samples[name] = InstrumentSample(tip_m=[float(v) for v in instrument.tip_position()],
                                             force_n=[float(v) for v in self._forces[name]],
                                             jaw=float(instrument.jaw), energy=bool(instrument.energy))
        return samples

    def positions(self) -> np.ndarray:
        """Tissue node positions now [N, 3] [m] (a copy)."""
        return self.state.positions_numpy()

    def current_surface_triangles(self) -> np.ndarray:
        """The tissue's surface after cuts and tears [F, 3] (node ids, outward); see ``surface_version``."""
        return self.topology.surface_triangles

    @property
    def surface_version(self) -> int:
        """Increases whenever the surface changes, so a renderer re-uploads triangles only then."""
        return self.topology.surface_version

    def burn_levels(self) -> np.ndarray:
        """Burn per node, 0..1 [N]."""
        return self.contact.burn_levels()

    @property
    def torn_springs(self) -> int:
        """Tissue damage so far: springs broken by over-stretching."""
        return self.tearing.torn_springs


def _organs(model) -> list[tuple[str, range]]:
    """(name, node range) of each organ of ``model``: a combined model's parts (:mod:`surgsim.mesh.combine`), else
    the whole model as one."""
    parts = (model.metadata or {}).get("parts") if isinstance(model.metadata, dict) else None
    if parts:
        return [(part["name"], range(part["node_start"], part["node_stop"])) for part in parts]
    return [("tissue", range(model.node_count))]
