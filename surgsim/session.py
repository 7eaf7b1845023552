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

import functools
import hashlib
import os
from pathlib import Path
from typing import Mapping

import numpy as np

from surgsim.events import Event
from surgsim.procedure import load_procedure
from surgsim.procedure.identity import ProcedureIdentity
from surgsim.procedure.runtime import ProcedureRuntime
from surgsim.procedure.scene_builder import TISSUE_MESH_NAME, build_scene
from surgsim.procedure.tick_view import InstrumentView, TickView
from surgsim.scoring.tick_forces import TickForceRecorder
from surgsim.trace import Command, EndReason, TraceHeader, TraceWriter

# Samples every 10 ticks = 100 Hz at the 1 kHz haptic rate: path length and forces at a resolution finer than a
# trainee's motion, at a tenth of the trace size.
SAMPLE_EVERY_TICKS = 10
DEFAULT_DT_S = 1e-3
# Before the first tick the organs settle under gravity on their anchors, heavily damped so that they reach their
# loaded shape without the overshoot that a sudden release into gravity gives (which would tear springs nobody
# touched, counting as the trainee's tissue damage). 0.6 s at ζ = 3 brings the shipped scenes to rest.
SETTLE_S = 0.6
SETTLE_DAMPING_RATIO = 3.0


class Session:
    """One run of a procedure file on the tissue solver and the rigid world.

    ``arch`` picks the compute backend (:func:`surgsim.init`); ``dt_s`` is the tick (instruments, haptics) and
    ``tissue_dt_s`` the tissue's step, a whole multiple of it (None: the procedure's ``physics.tissue_rate_hz``);
    ``solver_options`` override the solver's (``iterations`` defaults to the procedure's ``physics``); ``trace_path``, when given, records
    the session there (the file must not exist); ``resolution`` meshes the imported organs with that share of their
    ``target_nodes`` (see :mod:`surgsim.resolution`). Call :meth:`tick` with each tick's commands, then :meth:`finish`.
    """

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
        options = {"iterations": physics.solver_iterations, **(solver_options or {})}
        self.solver = TissueSolver(self.scene.model, options, dt=self.tissue_dt_s)
        self.scene.apply_anchors(self.solver)
        settled = self._settled_positions(TissueSolver, options)
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
        self.coupler = Coupler(self.solver, self.world)
        self.coupler.start_settled(settled)
        self.runtime = ProcedureRuntime(self.spec, self.scene)
        self.instrument_names = tuple(instrument.name for instrument in self.scene.instruments)
        self.events: list[Event] = []
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

    def _settled_positions(self, solver_class, options: dict) -> np.ndarray:
        settler = solver_class(self.scene.model, {**options, "damping_ratio": SETTLE_DAMPING_RATIO},
                               dt=self.tissue_dt_s)
        self.scene.apply_anchors(settler)
        settler.set_obstacles(self.scene.tissue_obstacles())
        cached = _settle_cache_path(settler, self.backend, self._use_cache)
        if cached is not None:
            try:
                positions = np.load(cached, allow_pickle=False)
                if positions.shape == (self.scene.model.node_count, 3) and np.all(np.isfinite(positions)):
                    return positions
            except (OSError, ValueError):
                pass  # missing or damaged: settle again
        state, scratch = settler.state(), settler.state()
        for _ in range(round(SETTLE_S / self.tissue_dt_s)):
            settler.step(state, scratch)
            state, scratch = scratch, state
        positions = state.positions_numpy()
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

    # -- the tick --------------------------------------------------------------------------------------------------
    @property
    def tick_count(self) -> int:
        return self.coupler.tick

    @property
    def time_s(self) -> float:
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
        self.coupler.step(commands)
        events = self.coupler.drain_events()
        if tissue_tick:
            # Goals and zones at the tissue's rate: between its steps nothing they read of the tissue changes.
            events += self.runtime.update(self._tick_view(events))
        self.events.extend(events)
        if self._trace is not None:
            self._tick_forces.add(self.coupler.reaction_force)
            for event in events:
                self._trace.write_event(event)
            if self.coupler.tick % SAMPLE_EVERY_TICKS == 0:
                self._trace.write_sample(self.coupler.tick, self._tick_forces.attach(self.coupler.sample()))
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
        return self

    def __exit__(self, exc_type, *exc_info) -> None:
        if exc_type is None:
            self.finish()
        elif self.ended is None:
            # A crash leaves the trace without its end record: readers then report it as truncated.
            if self._trace is not None:
                self._trace.close()
            self.world.close()
            self.ended = "quit"

    # -- what the outside reads ------------------------------------------------------------------------------------
    def tissue_digest(self) -> str:
        """SHA-256 of the tissue's positions and velocities: equal digests mean bit-identical states."""
        arrays = self.coupler.state.numpy()
        digest = hashlib.sha256()
        for array in (arrays.positions, arrays.velocities):
            digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
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


def _settle_cache_path(settler, backend: str, use_cache: bool) -> Path | None:
    """Where the settled positions of this set-up are cached: keyed by everything the settling reads (the model's
    arrays, anchors, obstacles, solver options, backend, surgsim's version), so a changed input never reuses them.
    Settling is deterministic on one machine, so a cached result equals a recomputed one there."""
    if not use_cache:
        return None
    from surgsim import __version__
    from surgsim.mesh.cache import cache_dir

    digest = hashlib.sha256()
    model = settler.model
    for array in (model.positions, model.tets, model.springs, model.rest_lengths, model.masses, settler.anchored,
                  settler.anchor_targets, settler.attach_stiffness, settler.obstacles_packed):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(settler.options.model_dump_json().encode())
    digest.update(f"{backend}|{__version__}|{SETTLE_S}|{SETTLE_DAMPING_RATIO}|{settler.serial}".encode())
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
