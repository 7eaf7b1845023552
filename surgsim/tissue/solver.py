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
tets; evaluated every second sweep; ×1.7 the cost of the springs alone on one CPU core); Rayleigh damping
(Kelvin–Voigt dashpots on every spring + ambient drag, see :mod:`surgsim.tissue.stiffness`), from each region's
``damping_ratio``; per-region materials (E → k mapping calibrated to within 5 % on tetrahedral blocks); anchored
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
velocity. Each rejected step appends a :class:`~surgsim.tissue.events.SolverEvent` (``drain_events()``). Nothing
non-finite ever leaves :meth:`TissueSolver.step`.

API
---
``solver = TissueSolver(model, options)``, ``s0, s1 = solver.state(), solver.state()``, then per step:
``solver.step(s0, s1, dt)`` and swap. Anchors: ``solver.anchor(region=..., box=..., nodes=...)``,
``solver.set_anchor_targets(ids, positions)``; attachments: ``solver.attach(ids, targets, stiffness)``; rigid groups of held
nodes: ``solver.set_anchor_frame(key, ids, local)``, ``solver.move_anchor_frame(key, origin, rotation)``; obstacles:
``solver.set_obstacles([Plane(...), Box(...)])``; forces:
``solver.set_point_forces(state, ids, forces)``; cuts: ``solver.set_spring_active(mask)``.
"""

from __future__ import annotations

import logging

import numpy as np

from surgsim import backend
from surgsim.mesh.model import TissueModel
from surgsim.tissue.base import SolverBase, chebyshev_omegas
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
        lay = self.layout
        s_count = max(1, model.spring_count)
        self._springs = ti.Vector.ndarray(2, ti.i32, shape=s_count)
        self._spring_params = ti.Vector.ndarray(3, ti.f64, shape=s_count)
        self._coef = ti.ndarray(ti.f64, shape=s_count)
        self._edge_n = ti.Vector.ndarray(3, ti.f64, shape=s_count)
        self._offsets = self._upload_scalar(lay.csr_offsets, ti.i32)
        self._adjacency = ti.Vector.ndarray(2, ti.i32, shape=max(1, len(lay.csr_neighbors)))
        if model.spring_count:
            self._springs.from_numpy(np.ascontiguousarray(model.springs, dtype=np.int32))
            self._adjacency.from_numpy(lay.adjacency)
        self._node = ti.Vector.ndarray(4, ti.f64, shape=n)
        self._anchor = ti.Vector.ndarray(4, ti.f64, shape=n)
        # On the CPU backend the anchor table is written in place (a grasp or clip moves rows every tissue step; a
        # kernel launch costs 20-150 µs of Python, a NumPy row write a few); elsewhere kernels upload it.
        self._anchor_host = HostView(self._anchor).array
        self._buf_a = ti.Vector.ndarray(3, ti.f64, shape=n)
        self._buf_b = ti.Vector.ndarray(3, ti.f64, shape=n)
        self._yhat = ti.Vector.ndarray(3, ti.f64, shape=n)
        self._guard = ti.ndarray(ti.f64, shape=1)
        self._guard_view = HostView(self._guard)
        self._scratch = TissueState.allocate(n)
        self._allocate_volume()
        self._obstacles = None
        self._frame_rows: dict = {}
        self._frame_graph = None
        self._graphs: dict[int, object] = {}
        self._omegas_h: dict[int, float] = {}
        self._args: dict[int, dict] = {}
        self._springs_changed()
        self._anchors_changed()
        self._obstacles_changed()
        log.info("tissue solver: %d nodes, %d springs on %s (%s)", n, model.spring_count, self.backend,
                 "serial" if self.serial else "parallel")

    # -- states ----------------------------------------------------------------------------------------------------
    def state(self) -> TissueState:
        """A new state at the model's rest positions, at rest, no forces, time 0."""
        s = TissueState.allocate(self.model.node_count)
        s.positions.from_numpy(np.ascontiguousarray(self.model.positions))
        zeros = np.zeros((self.model.node_count, 3))
        for name in FIELDS[1:]:
            getattr(s, name).from_numpy(zeros)
        return s

    def set_point_forces(self, state: TissueState, nodes, forces) -> None:
        """External forces [N] on ``nodes`` (shape [K, 3]); other nodes keep theirs. Zero them to release."""
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
    def step(self, state_in: TissueState, state_out: TissueState, dt: float | None = None) -> None:
        """Advance ``state_in`` by ``dt`` [s] (default ``options.dt``) into ``state_out``; ``state_in`` stays as is."""
        if state_in is state_out:
            raise ValueError("step needs two distinct states (read one, write the other)")
        dt = float(dt or self.options.dt)
        n = self.options.substeps
        speed = self._attempt(state_in, state_out, dt, n)
        if speed <= self.options.max_speed:
            state_out.time = state_in.time + dt
            return
        first_speed = speed
        retries = 0
        for retries in range(1, self.options.max_retries + 1):
            total = n * self.options.retry_factor**retries
            speed = self._attempt(state_in, state_out, dt, total)
            if speed <= self.options.max_speed:
                state_out.time = state_in.time + dt
                self.events.append(SolverEvent(state_in.time, "blowup", _report(first_speed), retries, total, True))
                log.warning("t=%.4f s: step rejected (max speed %.3g m/s); recovered with %d sub-steps",
                            state_in.time, _report(first_speed), total)
                return
        self._k.keep_state(state_in.positions, state_in.forces, state_out.positions, state_out.velocities,
                           state_out.accelerations, state_out.forces)
        state_out.time = state_in.time + dt
        total = n * self.options.retry_factor**self.options.max_retries
        self.events.append(SolverEvent(state_in.time, "blowup", _report(first_speed), retries, total, False,
                                       "all retries failed; input state kept, velocities zeroed"))
        log.warning("t=%.4f s: step rejected (max speed %.3g m/s); retries failed, state kept",
                    state_in.time, _report(first_speed))

    def _attempt(self, state_in: TissueState, state_out: TissueState, dt: float, substeps: int) -> float:
        graph, args = self._graph(substeps)
        h = dt / substeps
        for key, name in zip(_STATE_KEYS, FIELDS):
            args["in_" + key] = getattr(state_in, name)
            args["out_" + key] = getattr(state_out, name)
        args["h"] = h
        if self._omegas_h.get(substeps) != h:
            omegas = chebyshev_omegas(self.rho(h), self.options.iterations, self.options.chebyshev)
            args["omegas"].from_numpy(np.array(omegas, dtype=np.float64))
            self._omegas_h[substeps] = h
        graph.run(args)
        guard = self._guard_view.array
        return float(self._guard[0] if guard is None else guard[0])

    def _graph(self, substeps: int):
        graph = self._graphs.get(substeps)
        if graph is not None:
            return graph, self._args[substeps]
        ti = self._ti
        g = ti.graph
        kernel = self._k.substep_kernel(self.options.iterations, self.serial, self.layout.volume is not None)

        def nd(name, dtype, ndim=1):
            return g.Arg(g.ArgKind.NDARRAY, name, dtype=dtype, ndim=ndim)

        vec3, vec4 = ti.math.vec3, ti.math.vec4
        states = {p: [nd(f"{p}_{k}", vec3) for k in _STATE_KEYS] for p in ("in", "out", "scr")}
        ivec2 = ti.math.ivec2
        model_args = [nd("springs", ivec2), nd("spring_params", vec3), nd("coef", ti.f64), nd("edge_n", vec3),
                      nd("offsets", ti.i32),
                      nd("adjacency", ivec2), nd("node", vec4),
                      nd("anchor", vec4), nd("buf_a", vec3), nd("buf_b", vec3), nd("yhat", vec3),
                      nd("obstacles", ti.f64, 2), nd("guard", ti.f64), nd("omegas", ti.f64),
                      *self._volume_graph_args(nd)]
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
        args = {
            "springs": self._springs, "spring_params": self._spring_params, "coef": self._coef,
            "edge_n": self._edge_n,
            "offsets": self._offsets, "adjacency": self._adjacency, "node": self._node,
            "anchor": self._anchor, "buf_a": self._buf_a, "buf_b": self._buf_b, "yhat": self._yhat,
            "obstacles": self._obstacles, "guard": self._guard, "gamma": float(self.options.relaxation),
            "omegas": ti.ndarray(ti.f64, shape=self.options.iterations),
            "gravity": vec3(*self.options.gravity), **extra, **self._volume_arrays,
        }
        for key, name in zip(_STATE_KEYS, FIELDS):
            args["scr_" + key] = getattr(self._scratch, name)
        self._graphs[substeps] = graph
        self._args[substeps] = args
        return graph, args

    # -- device uploads when the setup changes -----------------------------------------------------------------------
    def _upload_scalar(self, array: np.ndarray, dtype):
        nd = self._ti.ndarray(dtype, shape=max(1, len(array)))
        if len(array):
            nd.from_numpy(np.ascontiguousarray(array))
        return nd

    def _springs_changed(self) -> None:
        self._omegas_h = {}
        if self.model.spring_count:
            self._spring_params.from_numpy(self.spring_params)
        self._node.from_numpy(self.node_params)
        self._volume_changed()

    # -- the per-tet volume term (SolverOptions.poisson; see tissue/volume.py) ----------------------------------------
    def _allocate_volume(self) -> None:
        """Device arrays of the volume term: real ones when it is on, one-element placeholders otherwise."""
        ti = self._ti
        term = self.layout.volume
        tets = max(1, self.model.tet_count) if term is not None else 1
        entries = len(term.spring_slots) if term is not None else 1
        self._volume_arrays = {
            "tets": ti.Vector.ndarray(4, ti.i32, shape=tets),
            "tet_params": ti.Vector.ndarray(3, ti.f64, shape=tets),
            "tet_affine": ti.Vector.ndarray(4, ti.f64, shape=tets),
            "edge_coef": ti.ndarray(ti.f64, shape=6 * tets),
            "spring_tet_offsets": ti.ndarray(ti.i32, shape=max(1, self.model.spring_count + 1) if term else 1),
            "spring_slots": ti.ndarray(ti.i32, shape=max(1, entries)),
            "volume_coef": ti.ndarray(ti.f64, shape=max(1, self.model.spring_count) if term else 1),
        }
        if term is not None and self.model.tet_count:
            arrays = self._volume_arrays
            arrays["tets"].from_numpy(term.tets)
            arrays["spring_tet_offsets"].from_numpy(term.spring_offsets)
            arrays["spring_slots"].from_numpy(term.spring_slots)

    def _volume_graph_args(self, nd) -> list:
        ti = self._ti
        return [nd("tets", ti.math.ivec4), nd("tet_params", ti.math.vec3), nd("tet_affine", ti.math.vec4),
                nd("edge_coef", ti.f64),
                nd("spring_tet_offsets", ti.i32), nd("spring_slots", ti.i32),
                nd("volume_coef", ti.f64)]

    def _volume_changed(self) -> None:
        """Upload the tets' (λ_v / V0, V0, β λ_v / V0) after a change of the spring mask (a cut spring switches its
        tets off)."""
        params = self.layout.tet_params(self.spring_active)
        if params is not None and len(params):
            self._volume_arrays["tet_params"].from_numpy(params)

    def _anchors_changed(self, membership: bool = True, rows: np.ndarray | None = None) -> None:
        super()._anchors_changed(membership, rows)
        if membership:
            self._omegas_h = {}
        if rows is not None and not membership:
            # A few rows (a clip following the tissue, an attachment fading out): one launch that writes them in
            # place, instead of re-uploading the whole n × 4 table (0.2-0.3 ms on the liver on a CPU). A grasp moving
            # with the jaws sends only its frame (_frame_moved).
            if len(rows):
                if self._anchor_host is not None:
                    self._anchor_host[rows, :3] = self.anchor_targets[rows]
                    self._anchor_host[rows, 3] = np.where(self.anchored[rows], 1.0, -self.attach_stiffness[rows])
                else:
                    self._k.set_anchor_rows(self._anchor, self.anchor_rows(rows))
            return
        packed = np.column_stack([self.anchor_targets, np.where(self.anchored, 1.0, -self.attach_stiffness)])
        if self._anchor_host is not None:
            self._anchor_host[...] = packed
        else:
            self._anchor.from_numpy(np.ascontiguousarray(packed))

    def _frame_set(self, key) -> None:
        ids, local = self._frames[key]
        if not len(ids):
            self._frame_rows[key] = None
            return
        rows = self._ti.ndarray(self._ti.f64, shape=(len(ids), 4))
        rows.from_numpy(np.ascontiguousarray(np.column_stack([ids.astype(np.float64), local])))
        self._frame_rows[key] = rows

    def _frame_dropped(self, key) -> None:
        self._frame_rows.pop(key, None)

    def _frame_moved(self, key, origin: np.ndarray, rotation: np.ndarray) -> None:
        rows = self._frame_rows.get(key)
        if rows is None:
            return
        if self._frame_graph is None:
            g = self._ti.graph
            builder = g.GraphBuilder()
            builder.dispatch(self._k.place_frame, g.Arg(g.ArgKind.NDARRAY, "anchor", dtype=self._ti.math.vec4, ndim=1),
                             g.Arg(g.ArgKind.NDARRAY, "rows", dtype=self._ti.f64, ndim=2),
                             *[g.Arg(g.ArgKind.SCALAR, name, self._ti.f64) for name in self._k.FRAME_SCALARS])
            self._frame_graph = builder.compile()
        args = {"anchor": self._anchor, "rows": rows}
        args.update(zip(self._k.FRAME_SCALARS, (float(v) for v in (*origin, *rotation.reshape(-1)))))
        self._frame_graph.run(args)

    @property
    def anchor_table(self):
        """The device's anchor table [N] of (target x, y, z, flag): flag +1 anchored, -k attached, 0 free."""
        return self._anchor

    def _obstacles_changed(self) -> None:
        packed = self.obstacles_packed
        if self._obstacles is None or self._obstacles.shape != packed.shape:
            self._obstacles = self._ti.ndarray(self._ti.f64, shape=packed.shape)
            for args in self._args.values():
                args["obstacles"] = self._obstacles
        self._obstacles.from_numpy(packed)

    def info(self) -> dict:
        """What a trace or benchmark should record about this solver."""
        h = self.options.dt / self.options.substeps
        return {
            "backend": self.backend,
            "execution": "serial" if self.serial else "parallel",
            "nodes": self.model.node_count,
            "springs": self.model.spring_count,
            "substeps": self.options.substeps,
            "iterations": self.options.iterations,
            "chebyshev_rho": self.rho(h),
            "damping_frequency_hz": self.layout.damping_frequency_hz,
        }


def _report(speed: float) -> float:
    from surgsim.tissue.kernels_step import NONFINITE_SPEED

    return float("inf") if speed >= NONFINITE_SPEED or not np.isfinite(speed) else float(speed)
