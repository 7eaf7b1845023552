"""The Taichi soft-tissue solver: implicit Euler on a mass-spring network, Chebyshev-accelerated Jacobi, 1 kHz.

Method
------
Each step of ``dt`` (1 ms, the haptic servo period) is ``substeps`` implicit-Euler sub-steps of h = dt/substeps. A
sub-step solves for the end positions x of

    M (x − x_n − h v_n)/h² = f_spring(x) + f_dashpot(x) + f_drag(x) + M g + f_ext

with the local/global splitting of Liu et al. 2013 ("Fast Simulation of Mass-Spring Systems") whose global system
(M/h² + Σ k + Σ c/h) is diagonally dominant, iterated a *fixed* number of times with Jacobi sweeps accelerated by
Chebyshev semi-iteration (Wang 2015, "A Chebyshev Semi-Iterative Approach for Accelerating Projective and
Position-based Dynamics"). A sweep is two passes: one over the springs (the local step: each spring's force as one
scalar times its edge vector, computed once) and one over the nodes, in which a node gathers its springs through a
CSR adjacency in a fixed order (deterministic, no atomics) and takes its Jacobi step. One step therefore costs
``substeps × iterations`` sweeps whatever the stiffness. The spectral radius used by Chebyshev is the Gershgorin bound
of the iteration, computed from the model and the sub-step (no tuning constant; a bound, so the acceleration never
diverges on the linear part). The initial guess is the VBD "adaptive" prediction (Chen et al. 2024): x_n + h v_n + h²
ã with ã the part of the external acceleration the node showed last step; with it a body at static equilibrium is an
exact fixed point of the solver (the static sag is that of the spring network, whatever the iteration count) and a
body in free fall is predicted exactly.

Why this and not XPBD: implicit Euler is unconditionally stable for any stiffness, so stiff springs never force tiny
steps; Jacobi sweeps map to two parallel loops each (GPU-friendly, deterministic, the same code on CPU); the fixed
iteration count gives a fixed cost per step, which a haptic loop needs; and the spring stiffness is the physical one
(XPBD's effective stiffness depends on iteration and sub-step counts).

Physics included: gravity; optionally (``SolverOptions.poisson = "from_material"``, off by default) a per-tet volume
term that gives each region its material's Poisson's ratio as well as its Young's modulus
(:mod:`surgsim.tissue.volume`: a pass over the tets computes each tet's pressure from its volume and writes it as six
edge coefficients, the spring pass adds them to each spring's scalar through a fixed-order CSR over the spring's
tets; evaluated every sweep; ×2.4-2.9 the cost of the springs alone on one CPU core); Rayleigh damping
(Kelvin–Voigt dashpots on every spring + ambient drag, see :mod:`surgsim.tissue.stiffness`), from each region's
``damping_ratio``; optionally (``SolverOptions.viscoelastic = "from_material"``, off by default) stress relaxation:
one Maxwell branch per spring from its region's ``relaxation_share`` and ``relaxation_time_s``, its rest length carried
in the state (see :mod:`surgsim.tissue.kernels_step`); per-region materials (E → k mapping calibrated to within 5 % on tetrahedral blocks); anchored
nodes (by region, box or ids) that can be moved kinematically; external point forces; collision with static planes
and boxes (projection with Coulomb friction, :mod:`surgsim.tissue.contact`);
attachments: nodes tied to moving targets by zero-length springs of stiffness k (``attach``), added to the implicit
system (k (target − x) in the residual, k on the diagonal), so they are stable at any k; the Chebyshev bound ignores
them (a larger diagonal only lowers the true spectral radius, so the bound stays a bound).

Limits (what to expect)
-----------------------
- Implicit Euler dissipates: with zero damping the energy does not grow but decays slowly (high frequencies first).
- A fixed iteration count means stiff materials are *dynamically* under-resolved: with a large ``(k + c/h) h²/m`` the
  sweeps do not converge within the step, which appears as extra softness and damping while the body moves (statics
  stays exact). Measured on the shipped liver hanging from its top with an oscillating 0.3 N tool force, against a
  32-iteration run: 8 iterations (the default) stay within 0.6 % of the largest displacement, 6 within 7 %, 4 within
  13 % (Chebyshev off: 8 iterations, 9 %). Raise ``iterations`` or ``substeps`` for stiff tissue (vessels, skin) or
  fine meshes; both cost proportionally.
- Speed: one sweep costs about 4 ns per spring on one CPU core (the liver: ~145 µs), 8 sweeps + ~90 µs fixed cost per
  step. Taichi's CPU code for parallel loops runs ~1.4× slower per thread than its serialised loops, so on a 2-core
  CPU the serial mode is used below ``serial_below_nodes``; the solver is meant for a GPU.
- Springs alone cannot represent ν → 0.5 (their ν is the mesh's: 0.035 Kuhn, 0.245 gmsh); the volume term does (see
  :mod:`surgsim.tissue.stiffness`), at the price of a stiffer system: with it the Chebyshev ρ is capped
  (:data:`surgsim.tissue.base.CHEBYSHEV_MAX_UNDERSHOOT`) and motion is less converged per step than springs alone.
- Contact is node-versus-static-obstacle only (no self-collision; tool contact comes from the instruments as forces or
  anchors).

Blow-up guard
-------------
Every step computes, inside its last sweep, the largest node speed (or a sentinel when a value is not finite). If that
exceeds ``max_speed`` the step is rejected: the output is recomputed from the untouched input state with
``retry_factor``× more sub-steps, up to ``max_retries`` times; if every retry fails the input state is kept with zero
velocity. A rejected step returns a :class:`~surgsim.tissue.events.SolverEvent` (``step``'s value). Nothing
non-finite ever leaves :meth:`TissueSolver.step`.

API
---
``solver = TissueSolver(model, options)``; ``s0, s1 = solver.state(), solver.state()``; ``control = solver.control()``
(:class:`~surgsim.tissue.control.TissueControl`: what changes between steps), then per step:
``event = solver.step(s0, s1, control, dt)`` and swap (``event``: a :class:`~surgsim.tissue.events.SolverEvent` when the
guard rejected the step, else None; the solver keeps no event queue). On the control: anchors
``control.anchor(region=..., box=..., nodes=...)``, ``control.set_anchor_targets(ids, positions)``; attachments
``control.attach(ids, targets, stiffness)``; rigid groups of held nodes ``control.set_anchor_frame(key, ids, local)``,
``control.move_anchor_frame(key, origin, rotation)``; obstacles ``control.set_obstacles([Plane(...), Box(...)])``;
cuts ``control.set_spring_active(mask)``; other damping (settling) ``solver.control(damping_ratio=...)``. Forces are
the state's: ``solver.set_point_forces(state, ids, forces)``. The solver itself never changes after construction
except for its device copy of each control it stepped (re-uploaded part by part when the control's version counters
move; a moving grasp sends its frame, a few changed rows their rows) and its compiled graphs.
"""

from __future__ import annotations

import logging
import math
import weakref

import numpy as np

from surgsim import backend
from surgsim.mesh.model import TissueModel
from surgsim.tissue.base import SolverBase, chebyshev_omegas
from surgsim.tissue.control import TissueControl
from surgsim.tissue.events import SolverEvent
from surgsim.tissue.host_view import HostView
from surgsim.tissue.options import SolverOptions
from surgsim.tissue.state import FIELDS, TissueState

log = logging.getLogger("surgsim.tissue")

_STATE_KEYS = ("x", "v", "a", "f")


class TissueSolver(SolverBase):
    """Mass-spring tissue solver on the Taichi backend chosen by :func:`surgsim.init` (initialised on demand)."""

    def __init__(self, model: TissueModel, options: SolverOptions | dict | None = None, **overrides):
        super().__init__(model, options, **overrides)
        if backend.active() is None:
            backend.init("auto")
        import taichi as ti

        from surgsim.tissue import kernels_step

        self._ti = ti
        self._k = kernels_step
        self.backend = backend.active()
        opt = self.options
        n = model.node_count
        if opt.execution == "auto":
            self.serial = self.backend == "cpu" and n < opt.serial_below_nodes
        else:
            self.serial = opt.execution == "serial"
        # On one thread a sub-step's own arrays are scratch fields, if the mesh fits (see kernels_step.SCRATCH_NODES).
        self.bundled = self.serial and kernels_step.fits_scratch(n, model.spring_count, model.tet_count)
        lay = self.layout
        s_count = max(1, model.spring_count)
        self._springs = ti.Vector.ndarray(2, ti.i32, shape=s_count)
        self._coef = ti.ndarray(ti.f64, shape=s_count)
        self._edge_n = ti.Vector.ndarray(3, ti.f64, shape=s_count)
        self._offsets = self._upload_scalar(lay.csr_offsets, ti.i32)
        self._adjacency = ti.Vector.ndarray(2, ti.i32, shape=max(1, len(lay.csr_neighbors)))
        if model.spring_count:
            self._springs.from_numpy(np.ascontiguousarray(model.springs, dtype=np.int32))
            self._adjacency.from_numpy(lay.adjacency)
        self._buf_a = ti.Vector.ndarray(3, ti.f64, shape=n)
        self._buf_b = ti.Vector.ndarray(3, ti.f64, shape=n)
        self._yhat = ti.Vector.ndarray(3, ti.f64, shape=n)
        self._guard = ti.ndarray(ti.f64, shape=1)
        self._guard_view = HostView(self._guard)
        self._viscoelastic = self.layout.viscoelastic
        self._branches = model.spring_count if self._viscoelastic else 0
        self._scratch = TissueState.allocate(n, self._branches)
        # Stand-ins for the Maxwell-branch arrays of a kernel compiled without them (never read there).
        self._placeholder_f64 = ti.ndarray(ti.f64, shape=1)
        self._params_eff = ti.Vector.ndarray(3, ti.f64, shape=s_count if self._viscoelastic else 1)
        self._relax: dict[float, object] = {}  # sub-step h → device [S] of (g1, e^{−h/τ1})
        if not self._branches:
            self._relax_placeholder = ti.Vector.ndarray(2, ti.f64, shape=1)
        self._allocate_volume()
        self._frame_graph = None
        self._graphs: dict[int, object] = {}
        self._args: dict[int, dict] = {}
        self._copies: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._last: tuple = (None, None)  # (control, its device copy) of the last step: one lookup per step
        log.info("tissue solver: %d nodes, %d springs on %s (%s)", n, model.spring_count, self.backend,
                 "serial" if self.serial else "parallel")

    # -- states ----------------------------------------------------------------------------------------------------
    def state(self) -> TissueState:
        """A new state at the model's rest positions, at rest, no forces, time 0."""
        s = TissueState.allocate(self.model.node_count, self._branches)
        s.positions.from_numpy(np.ascontiguousarray(self.model.positions))
        zeros = np.zeros((self.model.node_count, 3))
        for name in FIELDS[1:]:
            getattr(s, name).from_numpy(zeros)
        if s.branch_lengths is not None:
            s.branch_lengths.from_numpy(np.ascontiguousarray(self.layout.rest_lengths))  # nothing held yet
        return s

    def relax_branches(self, state: TissueState) -> None:
        """Let ``state``'s Maxwell branches relax completely at its current shape (L1 = each spring's current
        length): the state of a tissue that has rested in this shape for many τ1, e.g. a scene settled under
        gravity. No-op for an elastic solver."""
        if state.branch_lengths is None:
            return
        x = state.positions_numpy()
        springs = self.model.springs
        state.set_branch_lengths(np.linalg.norm(x[springs[:, 0]] - x[springs[:, 1]], axis=1))

    def set_point_forces(self, state: TissueState, nodes, forces) -> None:
        """External forces [N] on ``nodes`` (shape [K, 3]) of ``state``; other nodes keep theirs. Zero them to
        release."""
        ti = self._ti
        ids = np.ascontiguousarray(np.asarray(nodes, dtype=np.int32).reshape(-1))
        values = np.ascontiguousarray(np.asarray(forces, dtype=np.float64).reshape(-1, 3))
        if len(ids) != len(values) or not np.all(np.isfinite(values)):
            raise ValueError("need one finite force per node")
        if len(ids) == 0:
            return
        ids_nd = ti.ndarray(ti.i32, shape=len(ids))
        ids_nd.from_numpy(ids)
        vals_nd = ti.Vector.ndarray(3, ti.f64, shape=len(ids))
        vals_nd.from_numpy(values)
        self._k.set_rows(state.forces, ids_nd, vals_nd)

    # -- stepping --------------------------------------------------------------------------------------------------
    def step(self, state_in: TissueState, state_out: TissueState, control: TissueControl,
             dt: float | None = None) -> SolverEvent | None:
        """Advance ``state_in`` by ``dt`` [s] (default ``options.dt``) into ``state_out`` under ``control``;
        ``state_in`` stays as is. Returns the step's blow-up event when the guard rejected it, else None."""
        if state_in is state_out:
            raise ValueError("step needs two distinct states (read one, write the other)")
        if self._branches and (state_in.branch_lengths is None or state_out.branch_lengths is None):
            raise ValueError("this solver is viscoelastic: step states made by its state()")
        device = self._device(control)
        dt = float(dt or self.options.dt)
        n = self.options.substeps
        speed = self._attempt(state_in, state_out, control, device, dt, n)
        if speed <= self.options.max_speed:
            state_out.time = state_in.time + dt
            return None
        first_speed = speed
        retries = 0
        for retries in range(1, self.options.max_retries + 1):
            total = n * self.options.retry_factor**retries
            speed = self._attempt(state_in, state_out, control, device, dt, total)
            if speed <= self.options.max_speed:
                state_out.time = state_in.time + dt
                log.warning("t=%.4f s: step rejected (max speed %.3g m/s); recovered with %d sub-steps",
                            state_in.time, first_speed, total)
                return SolverEvent(state_in.time, "blowup", first_speed, retries, total, True)
        self._k.keep_state(state_in.positions, state_in.forces, state_out.positions, state_out.velocities,
                           state_out.accelerations, state_out.forces)
        if self._branches:
            self._k.copy_f64(state_in.branch_lengths, state_out.branch_lengths)
        state_out.time = state_in.time + dt
        total = n * self.options.retry_factor**self.options.max_retries
        log.warning("t=%.4f s: step rejected (max speed %.3g m/s); retries failed, state kept",
                    state_in.time, first_speed)
        return SolverEvent(state_in.time, "blowup", first_speed, retries, total, False,
                           "all retries failed; input state kept, velocities zeroed")

    @property
    def last_max_speed(self) -> float:
        """The fastest node's speed [m/s] in the last step attempted (the blow-up guard's value; infinite when a node's
        position or speed was not finite)."""
        guard = self._guard_view.array
        speed = float(self._guard[0] if guard is None else guard[0])
        return speed if speed < self._k.NONFINITE_SPEED else math.inf  # NaN too

    def _attempt(self, state_in: TissueState, state_out: TissueState, control: TissueControl, device: _DeviceControl,
                 dt: float, substeps: int) -> float:
        graph, args = self._graph(substeps)
        h = dt / substeps
        for key, name in zip(_STATE_KEYS, FIELDS):
            args["in_" + key] = getattr(state_in, name)
            args["out_" + key] = getattr(state_out, name)
        if self._branches:
            args["in_l"], args["out_l"] = state_in.branch_lengths, state_out.branch_lengths
            args["relax"] = self._relax_params(h)
        args["h"] = h
        args["node"], args["anchor"], args["spring_params"] = device.node, device.anchor, device.spring_params
        args["tet_params"] = device.tet_params
        args["body_offsets"], args["body_nodes"], args["drift"] = device.body_offsets, device.body_nodes, device.drift
        args["obstacles"] = device.obstacles
        args["window"] = device.window
        args["omegas"] = self._omegas(control, device, substeps, h)
        graph.run(args)
        return self.last_max_speed

    def _omegas(self, control: TissueControl, device: _DeviceControl, substeps: int, h: float):
        """The Chebyshev weights of ``control`` at this sub-step on the device (recomputed when the bound's inputs
        changed)."""
        versions = control.versions
        key = (h, versions.springs, versions.membership)
        entry = device.omegas.get(substeps)
        if entry is None:
            entry = device.omegas[substeps] = [self._ti.ndarray(self._ti.f64, shape=self.options.iterations), None]
        if entry[1] != key:
            omegas = chebyshev_omegas(self.rho(control, h), self.options.iterations, self.options.chebyshev)
            entry[0].from_numpy(np.array(omegas, dtype=np.float64))
            entry[1] = key
        return entry[0]

    def _relax_params(self, h: float):
        """The springs' (g1, e^{−h/τ1}) on the device for sub-step ``h`` (retries use shorter ones)."""
        params = self._relax.get(h)
        if params is None:
            if len(self._relax) > 8:
                self._relax.clear()
            params = self._relax[h] = self._ti.Vector.ndarray(2, self._ti.f64, shape=self.model.spring_count)
            params.from_numpy(self.layout.relaxation_params(h))
        return params

    def _graph(self, substeps: int):
        graph = self._graphs.get(substeps)
        if graph is not None:
            return graph, self._args[substeps]
        ti = self._ti
        g = ti.graph
        kernel = self._k.substep_kernel(self.options.iterations, self.serial, self.layout.volume is not None,
                                        bool(self._branches), self.bundled)

        def nd(name, dtype, ndim=1):
            return g.Arg(g.ArgKind.NDARRAY, name, dtype=dtype, ndim=ndim)

        vec3, vec4 = ti.math.vec3, ti.math.vec4
        states = {p: [nd(f"{p}_{k}", vec3) for k in _STATE_KEYS] + [nd(f"{p}_l", ti.f64)] for p in ("in", "out", "scr")}
        ivec2 = ti.math.ivec2
        model_args = [nd("springs", ivec2), nd("spring_params", vec3), nd("coef", ti.f64), nd("edge_n", vec3),
                      nd("offsets", ti.i32),
                      nd("adjacency", ivec2), nd("node", vec4),
                      nd("anchor", vec4), nd("buf_a", vec3), nd("buf_b", vec3), nd("yhat", vec3),
                      nd("obstacles", ti.f64, 2), nd("guard", ti.f64), nd("omegas", ti.f64),
                      *self._volume_graph_args(nd),
                      nd("body_offsets", ti.i32), nd("body_nodes", ti.i32), nd("drift", vec3),
                      nd("relax", ti.math.vec2), nd("params_eff", vec3), nd("window", ti.i32)]
        scalars = [g.Arg(g.ArgKind.SCALAR, name, ti.f64) for name in ("h", "gamma")]
        scalars.append(g.Arg(g.ArgKind.MATRIX, "gravity", vec3))
        builder = g.GraphBuilder()
        # Sub-steps ping-pong between the output state and a scratch state so that no sub-step reads and writes the
        # same arrays; the last one always writes the output.
        dst = ["out" if (substeps - 1 - s) % 2 == 0 else "scr" for s in range(substeps)]
        src = ["in"] + dst[:-1]
        extra = {}
        for s in range(substeps):
            rem = g.Arg(g.ArgKind.SCALAR, f"rem{s}", ti.f64)
            reset = g.Arg(g.ArgKind.SCALAR, f"reset{s}", ti.i32)
            extra[f"rem{s}"] = float(substeps - s)
            extra[f"reset{s}"] = 1 if s == 0 else 0
            builder.dispatch(kernel, *states[src[s]], *states[dst[s]], *model_args, *scalars, rem, reset)
        graph = builder.compile()
        # The control's arrays (node, anchor, spring_params, obstacles, omegas) are set by each attempt.
        args = {
            "springs": self._springs, "coef": self._coef, "edge_n": self._edge_n,
            "offsets": self._offsets, "adjacency": self._adjacency,
            "buf_a": self._buf_a, "buf_b": self._buf_b, "yhat": self._yhat,
            "guard": self._guard, "gamma": float(self.options.relaxation),
            "gravity": vec3(*self.options.gravity), **extra, **self._volume_arrays,
            "params_eff": self._params_eff,
        }
        for key, name in zip(_STATE_KEYS, FIELDS):
            args["scr_" + key] = getattr(self._scratch, name)
        if self._branches:
            args["scr_l"] = self._scratch.branch_lengths  # in_l, out_l, relax: set by each attempt
        else:
            args.update(in_l=self._placeholder_f64, out_l=self._placeholder_f64, scr_l=self._placeholder_f64,
                        relax=self._relax_placeholder)
        self._graphs[substeps] = graph
        self._args[substeps] = args
        return graph, args

    # -- the device copy of each control ---------------------------------------------------------------------------
    def _device(self, control: TissueControl) -> _DeviceControl:
        """``control``'s device copy, brought up to date: only the parts whose version moved are uploaded."""
        last_control, device = self._last
        if control is not last_control:
            device = self._copies.get(control)
            if device is None:
                self._check(control)
                device = self._copies[control] = _DeviceControl(self._ti, self.model, self.layout.volume is not None)
            self._last = (control, device)
        versions = control.versions
        if device.springs != versions.springs:
            if self.model.spring_count:
                device.spring_params.from_numpy(control.spring_params)
            device.node.from_numpy(control.node_params)
            self._upload_tet_params(control, device)
            device.springs = versions.springs
        if device.bodies != (versions.springs, versions.held):
            self._upload_free_bodies(control, device)
            device.bodies = (versions.springs, versions.held)
        if device.anchors != versions.anchors:
            self._sync_anchors(control, device)
            device.anchors = versions.anchors
        if device.awake != versions.awake:
            device.window.from_numpy(np.array(control.awake_window, dtype=np.int32))
            device.awake = versions.awake
        if device.obstacles_version != versions.obstacles:
            packed = control.obstacles_packed
            if device.obstacles is None or device.obstacles.shape != packed.shape:
                device.obstacles = self._ti.ndarray(self._ti.f64, shape=packed.shape)
            device.obstacles.from_numpy(packed)
            device.obstacles_version = versions.obstacles
        return device

    def _upload_free_bodies(self, control: TissueControl, device: "_DeviceControl") -> None:
        """The free bodies' CSR for the rigid-motion fit of the ambient drag; every node's drift starts at zero (a
        body that became held keeps none)."""
        offsets, nodes = control.free_bodies()
        device.body_offsets = self._upload_scalar(offsets, self._ti.i32)
        device.body_nodes = self._upload_scalar(nodes, self._ti.i32)
        device.drift.fill(0.0)

    # -- the per-tet volume term (SolverOptions.poisson; see tissue/volume.py) ----------------------------------------
    def _allocate_volume(self) -> None:
        """Device arrays of the volume term: real ones when it is on, one-element placeholders otherwise. The tets'
        parameters depend on a control's live springs: each device copy of a control has its own (``tet_params``)."""
        ti = self._ti
        term = self.layout.volume
        tets = max(1, self.model.tet_count) if term is not None else 1
        entries = len(term.spring_slots) if term is not None else 1
        self._volume_arrays = {
            "tets": ti.Vector.ndarray(4, ti.i32, shape=tets),
            "tet_affine": ti.Vector.ndarray(4, ti.f64, shape=tets),
            "edge_coef": ti.ndarray(ti.f64, shape=6 * tets),
            "spring_tet_offsets": ti.ndarray(ti.i32, shape=max(1, self.model.spring_count + 1) if term else 1),
            # The springs' gather of their tets' coefficients reads the entries' slots (parallel); on one thread the
            # tets scatter them, through each tet edge's spring (the same sums in the same order, less to read).
            "volume_map": ti.ndarray(ti.i32, shape=max(1, entries)),
            "volume_coef": ti.ndarray(ti.f64, shape=max(1, self.model.spring_count) if term else 1),
        }
        if term is not None and self.model.tet_count:
            arrays = self._volume_arrays
            arrays["tets"].from_numpy(term.tets)
            arrays["spring_tet_offsets"].from_numpy(term.spring_offsets)
            arrays["volume_map"].from_numpy(term.tet_springs.reshape(-1) if self.serial else term.spring_slots)

    def _volume_graph_args(self, nd) -> list:
        ti = self._ti
        return [nd("tets", ti.math.ivec4), nd("tet_params", ti.math.vec3), nd("tet_affine", ti.math.vec4),
                nd("edge_coef", ti.f64),
                nd("spring_tet_offsets", ti.i32), nd("volume_map", ti.i32),
                nd("volume_coef", ti.f64)]

    def _upload_tet_params(self, control: TissueControl, device: "_DeviceControl") -> None:
        """Upload the tets' (λ_v / V0, V0, β λ_v / V0) for ``control``'s live springs (a cut spring switches its
        tets off)."""
        params = control.layout.tet_params(control.spring_active)
        if params is not None and len(params):
            device.tet_params.from_numpy(params)

    def _sync_anchors(self, control: TissueControl, device: _DeviceControl) -> None:
        """Replay the anchor-table changes since the device copy's version, in order. Rows and frame moves before
        the last whole-table change are overwritten by it and skipped; frame registrations are kept."""
        changes = control.anchor_changes_since(device.anchors)
        if changes is None:
            device.frame_rows = {key: self._frame_rows(ids, local) for key, (ids, local) in control.frames.items()}
            device.write_anchor_table(control.anchor_table())
            return
        last_table = max((k for k, c in enumerate(changes) if c.kind == "table"), default=-1)
        for k, change in enumerate(changes):
            kind = change.kind
            if kind == "frame_set":
                device.frame_rows[change.key] = self._frame_rows(change.nodes, change.local)
            elif kind == "frame_drop":
                device.frame_rows.pop(change.key, None)
            elif k < last_table:
                continue
            elif kind == "table":
                device.write_anchor_table(control.anchor_table())
            elif kind == "rows":
                # A few rows (a clip following the tissue, an attachment fading out): written in place, instead of
                # re-uploading the whole n × 4 table (0.2-0.3 ms on the liver on a CPU).
                if len(change.nodes):
                    rows = control.anchor_rows(change.nodes)
                    if device.anchor_host is not None:
                        device.anchor_host[change.nodes] = rows[:, 1:5]
                    else:
                        self._k.set_anchor_rows(device.anchor, rows)
            elif kind == "frame_move":
                self._place_frame(device, change.key, change.origin, change.rotation)

    def _frame_rows(self, ids: np.ndarray, local: np.ndarray):
        if not len(ids):
            return None
        rows = self._ti.ndarray(self._ti.f64, shape=(len(ids), 4))
        rows.from_numpy(np.ascontiguousarray(np.column_stack([ids.astype(np.float64), local])))
        return rows

    def _place_frame(self, device: _DeviceControl, key, origin: np.ndarray, rotation: np.ndarray) -> None:
        """A grasp moving with the jaws: its frame (12 numbers) is sent, and the device places the rows."""
        rows = device.frame_rows.get(key)
        if rows is None:
            return
        if self._frame_graph is None:
            g = self._ti.graph
            builder = g.GraphBuilder()
            builder.dispatch(self._k.place_frame, g.Arg(g.ArgKind.NDARRAY, "anchor", dtype=self._ti.math.vec4, ndim=1),
                             g.Arg(g.ArgKind.NDARRAY, "rows", dtype=self._ti.f64, ndim=2),
                             *[g.Arg(g.ArgKind.SCALAR, name, self._ti.f64) for name in self._k.FRAME_SCALARS])
            self._frame_graph = builder.compile()
        args = {"anchor": device.anchor, "rows": rows}
        args.update(zip(self._k.FRAME_SCALARS, (float(v) for v in (*origin, *rotation.reshape(-1)))))
        self._frame_graph.run(args)

    def anchor_table(self, control: TissueControl):
        """The device's anchor table of ``control`` [N] of (target x, y, z, flag): flag +1 anchored, -k attached, 0
        free (what the contact pass reads), up to date."""
        return self._device(control).anchor

    # -- device uploads --------------------------------------------------------------------------------------------
    def _upload_scalar(self, array: np.ndarray, dtype):
        nd = self._ti.ndarray(dtype, shape=max(1, len(array)))
        if len(array):
            nd.from_numpy(np.ascontiguousarray(array))
        return nd

    def info(self, control: TissueControl | None = None) -> dict:
        """What a trace or benchmark should record about this solver (the Chebyshev bound of ``control``, default a
        control that holds nothing)."""
        h = self.options.dt / self.options.substeps
        return {
            "backend": self.backend,
            "execution": "serial" if self.serial else "parallel",
            "nodes": self.model.node_count,
            "springs": self.model.spring_count,
            "substeps": self.options.substeps,
            "iterations": self.options.iterations,
            "chebyshev_rho": self.rho(control if control is not None else self.control(), h),
            "damping_frequency_hz": self.layout.damping_frequency_hz,
        }


class _DeviceControl:
    """The device arrays of one control, and the versions of its parts they hold (-1: never uploaded)."""

    def __init__(self, ti, model: TissueModel, volume_term: bool):
        n = model.node_count
        self.node = ti.Vector.ndarray(4, ti.f64, shape=n)
        self.anchor = ti.Vector.ndarray(4, ti.f64, shape=n)
        # On the CPU backend the anchor table is written in place (a clip moves rows every tissue step; a kernel
        # launch costs 20-150 µs of Python, a NumPy row write a few); elsewhere kernels upload it.
        self.anchor_host = HostView(self.anchor).array
        self.spring_params = ti.Vector.ndarray(3, ti.f64, shape=max(1, model.spring_count))
        self.tet_params = ti.Vector.ndarray(3, ti.f64, shape=max(1, model.tet_count) if volume_term else 1)
        self.drift = ti.Vector.ndarray(3, ti.f64, shape=n)  # zero but on the free bodies' nodes
        self.body_offsets = self.body_nodes = None
        self.bodies = None  # the (springs, held) versions the free bodies are for
        self.obstacles = None
        self.frame_rows: dict = {}
        self.omegas: dict[int, list] = {}  # sub-steps → [device weights, (h, springs, membership) they are for]
        self.window = ti.ndarray(ti.i32, shape=6)  # the control's awake window (AwakeWindow's six numbers)
        self.springs = self.anchors = self.obstacles_version = self.awake = -1

    def write_anchor_table(self, table: np.ndarray) -> None:
        if self.anchor_host is not None:
            self.anchor_host[...] = table
        else:
            self.anchor.from_numpy(np.ascontiguousarray(table))
