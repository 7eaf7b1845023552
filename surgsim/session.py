"""A training session: one procedure run tick by tick, recording its trace.

Each physics tick (``dt``, 1 ms) flows one way::

    commands (device, script or trace) → Coupler (instruments ⇄ tissue) → ProcedureRuntime (goals, zones) → trace

Two rates: the instruments and the forces they feel run at the tick (1 kHz, the haptic rate); the tissue, the
contact pass and the procedure's goals and zones every ``tissue_dt_s`` (the procedure's ``physics.tissue_rate_hz``,
1 kHz unless it says otherwise), between which the tissue's reactions on the tools are held
(:mod:`surgsim.coupling.scene`). Both rates and the solver's iteration count are written in the trace's header, and
a replay uses the recorded ones.

Rendering is not part of the tick: a viewer reads :meth:`Session.frame` whenever it draws, so the frame rate never
changes what the physics computes, and a headless run (the null viewer, CI, ``surgsim replay``) executes exactly the
ticks an interactive one does.

Determinism: the tick depends only on the commands given (the coupler and the runtime have no wall-clock or random
input), so a trace's commands replayed on the same backend reproduce its events and final tissue state bit for bit.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import hashlib
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from surgsim.errors import InputError
from surgsim.events import Event
from surgsim.fileio import OutputError, output_problem
from surgsim.instrument_command import Command
from surgsim.mesh.opened_area import OpenedAreas
from surgsim.procedure import load_procedure
from surgsim.procedure.identity import ProcedureIdentity
from surgsim.procedure.runtime import ProcedureRuntime
from surgsim.procedure.scene_builder import TISSUE_MESH_NAME, build_scene
from surgsim.procedure.tick_view import InstrumentView, TickView
from surgsim.scoring.tick_forces import TickForceRecorder
from surgsim.trace import EndReason, TraceHeader, TraceWriter

# Events that divide tissue; each gets the surface it opened (detail["area_mm2"], surgsim.mesh.opened_area).
DIVIDING_EVENT_KINDS = ("tear", "cut")

# Samples every 10 ticks = 100 Hz at the 1 kHz haptic rate: path length and forces at a resolution finer than a
# trainee's motion, at a tenth of the trace size.
SAMPLE_EVERY_TICKS = 10
DEFAULT_DT_S = 1e-3
# Before the first tick the organs settle under gravity on their anchors, heavily damped so that they reach their
# loaded shape without the overshoot that a sudden release into gravity gives (which would tear springs nobody
# touched, counting as the trainee's tissue damage). 0.6 s at ζ = 3 brings the shipped scenes near rest; the settling
# goes on (to at most SETTLE_MAX_S) until no node moves faster than SETTLE_REST_SPEED_M_S, checked every
# SETTLE_CHECK_S, so that the organs start at rest and those no instrument is near sleep from the first checks (after
# 0.6 s alone the gallbladder scene's liver crept for another 0.6 s of the session, its whole solver time).
# The settling steps at most SETTLE_STEP_S long: with a tissue at 250 Hz, 4 ms steps of a fixed iteration count
# converge the slow sag too little per simulated second (the CT scenes still crept at 0.14-0.28 mm/s after
# SETTLE_MAX_S); in 2 ms steps they come to rest in 1.9-2.0 s. The rest state does not depend on the step.
SETTLE_STEP_S = 0.002
SETTLE_S = 0.6
SETTLE_MAX_S = 3.0
SETTLE_CHECK_S = 0.1
SETTLE_REST_SPEED_M_S = 5e-5
SETTLE_DAMPING_RATIO = 3.0

log = logging.getLogger("surgsim.session")
# Sessions of this process that run with their set-up's objects frozen (see Session.__enter__).
_sessions_frozen = 0


class Session:
    """One run of a procedure file on the tissue solver and the rigid world.

    ``arch`` picks the compute backend (:func:`surgsim.init`); ``dt_s`` is the tick (instruments, haptics) and
    ``tissue_dt_s`` the tissue's step, a whole multiple of it (None: the procedure's ``physics.tissue_rate_hz``);
    ``solver_options`` override the solver's (``iterations`` and ``poisson`` default to the procedure's
    ``physics``); ``trace_path``, when given, records the session there (the file must not exist); ``resolution``
    meshes the imported organs with that share of their ``target_nodes`` (see :mod:`surgsim.resolution`). Call
    :meth:`tick` with each tick's commands, then :meth:`finish`.

    From Python (README "Python API"): :meth:`from_procedure` (a file or YAML text, the fastest backend), :meth:`step`
    (hold commands for a while) and the read-only :attr:`node_positions`, :attr:`instrument_tips`,
    :attr:`instrument_forces`, :attr:`events`, :attr:`current_step`, :attr:`goal_progress` and :attr:`time_s`.
    """

    _opened_areas: OpenedAreas | None = None  # made at the first tick, from the tissue as it starts
    _heap_frozen = False  # inside ``with session:`` (see __enter__)

    def __init__(
        self,
        procedure_path: str | os.PathLike,
        *,
        arch: str = "cpu",
        dt_s: float = DEFAULT_DT_S,
        tissue_dt_s: float | None = None,
        seed: int = 0,
        trace_path: str | os.PathLike | None = None,
        use_cache: bool = True,
        solver_options: Mapping | None = None,
        resolution: float = 1.0,
    ):
        import surgsim
        from surgsim.coupling import Coupler
        from surgsim.instruments.world import RigidWorld
        from surgsim.tissue.solver import TissueSolver

        self.procedure_file = load_procedure(procedure_path)
        self.spec = self.procedure_file.spec
        self._use_cache = bool(use_cache)
        self.resolution = float(resolution)
        self.scene = build_scene(self.procedure_file, use_cache=use_cache, resolution=self.resolution)
        self.backend = surgsim.init(arch)
        self.dt_s = float(dt_s)
        physics = self.spec.physics
        self.tissue_dt_s = float(tissue_dt_s or max(self.dt_s, 1.0 / physics.tissue_rate_hz))
        self.seed = int(seed)
        options = {"iterations": physics.solver_iterations, "poisson": physics.poisson,
                   "viscoelastic": physics.viscoelastic, "chebyshev_cap": physics.chebyshev == "capped",
                   **(solver_options or {})}
        self.solver = TissueSolver(self.scene.model, options, dt=self.tissue_dt_s)
        control = self.solver.control()
        self.scene.apply_anchors(control)
        settled = self._settled_positions()
        self.world = RigidWorld(dt=self.dt_s)
        for body in self.scene.rigid_bodies.values():
            if body.box_is_exact:
                self.world.add_box(body.name, body.box.center_m, body.box.half_extents_m, rotation=body.box.rotation)
        for instrument in self.scene.instruments:
            if instrument.access == "open":
                self.world.add_free_instrument(instrument.name, instrument.type, position_m=instrument.start_m,
                                               aim_m=instrument.aim_m)
            else:
                self.world.add_instrument(instrument.name, instrument.type, port_m=instrument.port_m,
                                          aim_m=instrument.aim_m)
        self.coupler = Coupler(self.solver, self.world, control, options={"sleep": physics.sleep == "at_rest"})
        self.coupler.start_settled(settled)
        # A viscoelastic tissue has rested in its settled shape: its branches carry no stress (a no-op when elastic).
        self.solver.relax_branches(self.coupler.state)
        self.runtime = ProcedureRuntime(self.spec, self.scene)
        self.instrument_names = tuple(instrument.name for instrument in self.scene.instruments)
        self._events: list[Event] = []
        self._tick_forces = TickForceRecorder(self.instrument_names)
        self._trace: TraceWriter | None = None
        if trace_path is not None:
            header = TraceHeader.for_session(
                trace_path=Path(trace_path), procedure_path=self.procedure_file.path,
                procedure_sha256=self.procedure_file.sha256, backend=self.backend, dt_s=self.dt_s, seed=self.seed,
                tissue_dt_s=self.tissue_dt_s, tissue_iterations=self.solver.options.iterations,
                resolution=self.resolution,
                identity=ProcedureIdentity.of(self.spec),
            )
            self._trace = TraceWriter(trace_path, header)
        self.ended: EndReason | None = None

    def _settled_positions(self) -> np.ndarray:
        """The scene at rest under gravity, its anchors and its rigid blocks, settled by the session's solver with a
        heavily damped control of its own."""
        settle = self.solver.control(damping_ratio=SETTLE_DAMPING_RATIO)
        self.scene.apply_anchors(settle)
        settle.set_obstacles(self.scene.tissue_obstacles())
        cached = _settle_cache_path(self.solver, settle, self.backend, self._use_cache)
        if cached is not None:
            try:
                positions = np.load(cached, allow_pickle=False)
                if positions.shape == (self.scene.model.node_count, 3) and np.all(np.isfinite(positions)):
                    return positions
            except (OSError, ValueError):
                pass  # missing or damaged: settle again
        state, scratch = self.solver.state(), self.solver.state()
        viscoelastic = self.solver.layout.viscoelastic
        h = min(self.tissue_dt_s, SETTLE_STEP_S)
        least, most = round(SETTLE_S / h), round(SETTLE_MAX_S / h)
        check_every = max(1, round(SETTLE_CHECK_S / h))
        at_rest = False
        for step in range(1, most + 1):
            self.solver.step(state, scratch, settle, h)
            state, scratch = scratch, state
            if viscoelastic:
                # Relaxed after every step, the branches hold nothing at rest: the scene settles on the long-term
                # stiffness (1 − g1) k, where a tissue that has lain there for minutes is.
                self.solver.relax_branches(state)
            if step >= least and step % check_every == 0 and self.solver.last_max_speed < SETTLE_REST_SPEED_M_S:
                at_rest = True
                break
        positions = state.positions_numpy()
        if not at_rest:
            # A scene that does not come to rest under heavy damping buzzes or creeps in the session too (the volume
            # term held through two sweeps on a thin pad; with it, the liver at 250 Hz and 6 sweeps): say so, every
            # time (an unsettled start is not cached), instead of starting a session that tears itself.
            log.warning("%s: the scene did not come to rest in %.1f s of settling (its fastest node still moves at "
                        "%.3g mm/s, at rest below %.3g): expect it to creep or buzz, tear and trip the blow-up guard. "
                        "A finer tissue step (physics.tissue_rate_hz) or more sweeps (physics.solver_iterations) "
                        "usually settles it.", self.procedure_file.path, most * h,
                        1e3 * self.solver.last_max_speed, 1e3 * SETTLE_REST_SPEED_M_S)
            return positions
        if cached is not None:
            try:
                cached.parent.mkdir(parents=True, exist_ok=True)
                temporary = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
                with open(temporary, "wb") as handle:
                    np.save(handle, positions, allow_pickle=False)
                os.replace(temporary, cached)
            except OSError:
                pass  # a read-only cache only costs the settling next time
        return positions

    def warm_up(self) -> None:
        """Compile the physics kernels before the first tick (a live session calls this before its clock starts:
        otherwise its first tissue tick stalls for the compilation). Changes nothing the session simulates."""
        self.coupler.warm_up()

    # -- the tick --------------------------------------------------------------------------------------------------
    @property
    def tick_count(self) -> int:
        """Ticks simulated so far."""
        return self.coupler.tick

    @property
    def time_s(self) -> float:
        """Simulated time since the start [s]."""
        return self.coupler.time_s

    @property
    def finished(self) -> bool:
        """All steps done, or the procedure's time limit reached."""
        return self.runtime.finished or self.time_s >= self.spec.time_limit_s

    def tick(self, commands: Mapping[str, Command] | None = None) -> list[Event]:
        """Advance one physics tick with ``commands`` (instrument name → command; others keep their last one) and
        return the events of the tick: the coupling's, then the procedure's."""
        commands = dict(commands or {})
        if self._trace is not None:
            for name in sorted(commands):
                self._trace.write_command(self.coupler.tick, name, commands[name])
        tissue_tick = self.coupler.tissue_tick_next
        if self._opened_areas is None:
            self._opened_areas = OpenedAreas(self.coupler.model, self.coupler.topology.spring_active)
        self.coupler.step(commands)
        events = self._with_opened_areas(self.coupler.drain_events())
        if tissue_tick:
            # Goals and zones at the tissue's rate: between its steps nothing they read of the tissue changes.
            events += self.runtime.update(self._tick_view(events))
        self._events.extend(events)
        if self._trace is not None:
            self._tick_forces.add(self.coupler.reaction_force)
            for event in events:
                self._trace.write_event(event)
            if self.coupler.tick % SAMPLE_EVERY_TICKS == 0:
                self._trace.write_sample(self.coupler.tick, self._tick_forces.attach(self.coupler.sample()))
        return events

    def _with_opened_areas(self, events: list[Event]) -> list[Event]:
        """``events`` with each tear and cut given the tissue surface it opened, in mm² of rest geometry
        (``detail["area_mm2"]``), from the springs this tick removed. When several such events share a tick (rare:
        a cut and a tear at once), the tick's area is shared among them in proportion to their springs."""
        dividing = [index for index, event in enumerate(events) if event.kind in DIVIDING_EVENT_KINDS]
        if not dividing:
            return events
        area_m2, broken = self._opened_areas.opened(self.coupler.topology.spring_active)
        springs = [max(int(events[index].detail.get("springs", 1)), 0) for index in dividing]
        total = sum(springs) or len(springs)
        events = list(events)
        for index, count in zip(dividing, springs):
            share = (count if sum(springs) else 1) / total
            detail = {**events[index].detail, "area_mm2": 1e6 * area_m2 * share if broken else 0.0}
            events[index] = dataclasses.replace(events[index], detail=detail)
        return events

    def _tick_view(self, events: list[Event]) -> TickView:
        grasps = self.coupler.grasping.grasps
        instruments = {}
        for name, instrument in self.world.instruments.items():
            grasp = grasps.get(name)
            instruments[name] = InstrumentView(
                tip_m=instrument.tip_position(),
                capsules=tuple((c.p0, c.p1, c.radius) for c in instrument.collision_capsules() if c.enabled),
                force_n=self.coupler.reaction_force(name),
                jaw=instrument.jaw,
                energy=instrument.energy,
                grasped_nodes=grasp.nodes if grasp is not None else (),
            )
        return TickView(self.coupler.tick, self.coupler.time_s, self.tissue_dt_s, self.coupler.positions, instruments,
                        tuple(events))

    def finish(self, reason: EndReason | None = None) -> None:
        """End the session (``completed`` when every step is done, ``time_limit`` past it, else ``quit``), write the
        trace's end record and release the rigid world."""
        if self.ended is not None:
            return
        if reason is None:
            reason = "completed" if self.runtime.finished else (
                "time_limit" if self.time_s >= self.spec.time_limit_s else "quit")
        self.ended = reason
        if self._trace is not None:
            self._trace.write_end(self.coupler.tick, reason)
            self._trace.close()
        self.world.close()

    def __enter__(self) -> "Session":
        """Run the session: every object alive now (the scene, meshes, models, the procedure, the libraries' own:
        ~140,000-240,000 on the shipped CT scenes) is kept out of Python's cyclic garbage collector until the block
        ends (``gc.freeze``). They live as long as the session, and a full collection over them stalled every thread
        of the process for ~0.1 s, once or more a session (117 ms in the gallbladder dissection's replay): a frozen
        window and a hundred 1 kHz ticks late. Objects made during the session are collected as before; reference
        counting frees the frozen ones as usual, and only garbage cycles among them (55 objects after the gallbladder
        scene's set-up) wait for the block's end."""
        global _sessions_frozen
        if not self._heap_frozen:
            self._heap_frozen = True
            _sessions_frozen += 1
            gc.freeze()
        return self

    def __exit__(self, exc_type, *exc_info) -> None:
        try:
            if exc_type is None:
                self.finish()
            elif self.ended is None:
                # A crash leaves the trace without its end record: readers then report it as truncated.
                if self._trace is not None:
                    self._trace.close()
                self.world.close()
                self.ended = "quit"
        finally:
            self._thaw_heap()

    def _thaw_heap(self) -> None:
        """The block of :meth:`__enter__` ended: when no other session of this process runs in one, the frozen
        objects are the collector's again."""
        global _sessions_frozen
        if self._heap_frozen:
            self._heap_frozen = False
            _sessions_frozen -= 1
            if _sessions_frozen == 0:
                gc.unfreeze()

    # -- the public Python API (README "Python API") ---------------------------------------------------------------
    @classmethod
    def from_procedure(
        cls,
        path_or_yaml_text: str | os.PathLike,
        *,
        arch: str = "auto",
        trace: str | os.PathLike | None = None,
        resolution: float = 1.0,
    ) -> "Session":
        """A session of a procedure given as a file or as YAML text.

        ``path_or_yaml_text``: a path (a :class:`~pathlib.Path`, or a string without a line break), or the
        procedure's YAML itself (a string with a line break, or one starting with ``{``). YAML text is written to a
        file first, because a session and its trace name their procedure by file: next to ``trace`` as
        ``<trace name>.procedure.yaml`` when recording (so that the trace can be replayed and scored), else in a
        private temporary folder; relative paths in it (imported meshes) are read from that folder, so YAML text
        should use absolute paths or generated organs. ``arch``: the compute backend ("auto", "cuda", "vulkan",
        "metal" or "cpu"); ``trace``: record the session to this new file; ``resolution``: mesh imported organs with
        that share of their ``target_nodes`` (0 < r ≤ 1). A missing file or a bad procedure raises
        :class:`~surgsim.errors.InputError` naming it.
        """
        text_folder, written = None, None
        if isinstance(path_or_yaml_text, str) and _looks_like_yaml_text(path_or_yaml_text):
            procedure_path, text_folder, written = _write_procedure_text(path_or_yaml_text, trace)
        elif isinstance(path_or_yaml_text, (str, os.PathLike)):
            procedure_path = Path(path_or_yaml_text)
        else:
            raise InputError("procedure", f"expected a path or YAML text, not a {type(path_or_yaml_text).__name__}.")
        try:
            session = cls(procedure_path, arch=arch, trace_path=trace, resolution=resolution)
        except InputError as error:
            if written is not None:  # no trace to go with it
                written.unlink(missing_ok=True)
            if text_folder is not None or written is not None:
                if error.source == str(procedure_path):  # the user gave text: name it, not our file
                    raise InputError("the procedure's YAML text", error.problem) from None
            raise
        except BaseException:
            if written is not None:
                written.unlink(missing_ok=True)
            raise
        session._procedure_text_folder = text_folder  # removed with the session
        return session

    def step(self, commands: Mapping[str, Command] | Sequence[Command] | None = None, *,
             seconds: float | None = None) -> list[Event]:
        """Hold ``commands`` for ``seconds`` of simulated time (rounded to whole ticks; None: one tick) and return
        the events of those ticks.

        ``commands``: instrument name → :class:`~surgsim.instrument_command.InstrumentCommand` (trocar
        instruments) or :class:`~surgsim.instrument_command.FreePoseCommand` (open-surgery ones), or a list with
        one command per instrument in :attr:`instrument_names` order; instruments left out keep their last command.
        Stops early when the session is :attr:`finished`.
        """
        named = self._named_commands(commands)
        if seconds is not None and not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds >= 0):
            raise InputError("seconds", f"{seconds!r} is not a duration; give a finite number of seconds ≥ 0.")
        ticks = 1 if seconds is None else max(1, round(float(seconds) / self.dt_s))
        events: list[Event] = []
        for _ in range(ticks):
            if self.finished:
                break
            events += self.tick(named)
        return events

    def _named_commands(self, commands) -> dict[str, Command]:
        if commands is None:
            return {}
        if isinstance(commands, Mapping):
            unknown = sorted(set(commands) - set(self.instrument_names))
            if unknown:
                raise InputError(f"instrument '{unknown[0]}'", "is not an instrument of this procedure; its "
                                 f"instruments: {', '.join(self.instrument_names)}.")
            return dict(commands)
        commands = list(commands)
        if len(commands) != len(self.instrument_names):
            raise InputError("commands", f"a list of commands needs one per instrument, in the order "
                             f"{', '.join(self.instrument_names)}; got {len(commands)}.")
        return dict(zip(self.instrument_names, commands))

    @property
    def node_positions(self) -> np.ndarray:
        """The tissue's node positions now, [N, 3] metres in the scene's frame (a copy)."""
        return np.array(self.coupler.positions(), dtype=np.float64, copy=True)

    @property
    def instrument_tips(self) -> dict[str, np.ndarray]:
        """Each instrument's tip (the working end: between the jaw ends, a hook's end) now, name → [3] metres."""
        return {name: np.array(instrument.tip_position(), dtype=np.float64)
                for name, instrument in self.world.instruments.items()}

    @property
    def instrument_forces(self) -> dict[str, np.ndarray]:
        """The tissue's force on each instrument in the last tick, name → [3] newtons (zero when not touching)."""
        return {name: np.array(self.coupler.reaction_force(name), dtype=np.float64) for name in self.instrument_names}

    @property
    def events(self) -> tuple[Event, ...]:
        """Every event so far, in order (grasps, cuts, tears, step completions, warnings), in simulated time."""
        return tuple(self._events)

    @property
    def current_step(self) -> str | None:
        """The name of the procedure step being worked on; None once every step is complete."""
        step = self.runtime.current_step
        return None if step is None else step.name

    @property
    def goal_progress(self) -> dict[str, bool]:
        """Each step's name → whether its goal has been reached (steps complete in the procedure's order)."""
        return {step.name: index < self.runtime.step_index for index, step in enumerate(self.spec.steps)}

    # -- what the outside reads ------------------------------------------------------------------------------------
    def tissue_digest(self) -> str:
        """SHA-256 of the tissue's positions and velocities (and the Maxwell branches' lengths of a viscoelastic
        solver, which the next steps' forces depend on): equal digests mean bit-identical states."""
        arrays = self.coupler.state.numpy()
        digest = hashlib.sha256()
        for array in (arrays.positions, arrays.velocities):
            digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
        if arrays.branch_lengths is not None:
            digest.update(np.ascontiguousarray(arrays.branch_lengths, dtype=np.float64).tobytes())
        return digest.hexdigest()

    def frame(self, *, active_instrument: str | None = None, paused: bool = False, camera=None):
        """What a viewer draws now (:class:`surgsim.render.frame.FrameData`)."""
        from surgsim.render.frame import Capsule, FrameData, InstrumentFrame, TissueFrame

        instruments = tuple(
            InstrumentFrame(
                name,
                tuple(Capsule(tuple(c.p0), tuple(c.p1), c.radius, "shaft" if c.part == "shaft" else "jaw")
                      for c in instrument.collision_capsules() if c.enabled),
                instrument.jaw,
                instrument.energy,
            )
            for name, instrument in self.world.instruments.items()
        )
        tissue = TissueFrame(self.coupler.positions(), triangles=self.coupler.current_surface_triangles(),
                             burn=self.coupler.burn_levels())
        hud = self.runtime.hud_state(active_instrument=active_instrument, paused=paused)
        clips = tuple(Capsule(tuple(p0), tuple(p1), radius, "clip")
                      for p0, p1, radius in (clip.capsule() for clip in self.coupler.clipping.clips))
        return FrameData({TISSUE_MESH_NAME: tissue}, camera or self.scene.camera.pose(), instruments, hud, clips)


def _looks_like_yaml_text(text: str) -> bool:
    """A string is a procedure's YAML when it spans lines or is a flow mapping; else it is a path."""
    return "\n" in text or text.lstrip().startswith("{")


def _write_procedure_text(text: str, trace: str | os.PathLike | None):
    """Write procedure YAML text to a file a session (and its trace) can name: ``<trace>.procedure.yaml`` beside the
    trace, or a temporary folder's ``procedure.yaml``. Returns the path, the temporary folder (None beside a
    trace), which must live as long as the session, and the path again when this call created it beside the trace."""
    if trace is not None:
        trace = Path(trace)
        path = trace.with_name(f"{trace.stem}.procedure.yaml")
        try:
            with open(path, "x", encoding="utf-8") as handle:
                handle.write(text)
        except FileExistsError:
            if path.read_text(encoding="utf-8") != text:
                raise InputError(path, "a different procedure is already written here for this trace; choose "
                                       "another trace path or remove it.") from None
            return path, None, None
        except OSError as error:
            raise OutputError(path, output_problem(error)) from None
        return path, None, path
    folder = tempfile.TemporaryDirectory(prefix="surgsim-procedure-")
    path = Path(folder.name) / "procedure.yaml"
    path.write_text(text, encoding="utf-8")
    return path, folder, None


def _settle_cache_path(solver, settle, backend: str, use_cache: bool) -> Path | None:
    """Where the settled positions of this set-up are cached: keyed by everything the settling reads (the model's
    arrays, anchors, obstacles, solver options, backend, surgsim's version), so a changed input never reuses them.
    Settling is deterministic on one machine, so a cached result equals a recomputed one there."""
    if not use_cache:
        return None
    from surgsim import __version__
    from surgsim.mesh.cache import cache_dir

    digest = hashlib.sha256()
    model = solver.model
    for array in (model.positions, model.tets, model.springs, model.rest_lengths, model.masses, settle.anchored,
                  settle.anchor_targets, settle.attach_stiffness, settle.obstacles_packed):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(settle.layout.options.model_dump_json().encode())  # the solver's options, the settling damping
    digest.update(f"{backend}|{__version__}|{SETTLE_STEP_S}|{SETTLE_S}|{SETTLE_MAX_S}|{SETTLE_CHECK_S}|"
                  f"{SETTLE_REST_SPEED_M_S}|{SETTLE_DAMPING_RATIO}|{solver.serial}".encode())
    digest.update(_solver_code_digest())
    for values in model.region_materials.values():
        digest.update(np.ascontiguousarray(values).tobytes())
    return cache_dir() / "settled" / f"{digest.hexdigest()[:40]}.npy"


@functools.lru_cache(maxsize=1)
def _solver_code_digest() -> bytes:
    """The solver's source: a change to how the tissue is integrated invalidates cached settled states."""
    from surgsim import tissue

    digest = hashlib.sha256()
    for path in sorted(Path(tissue.__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.digest()
