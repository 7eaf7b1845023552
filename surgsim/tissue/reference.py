"""NumPy twin of the Taichi solver, used only by tests: the same algorithm, the same iteration counts and order.

It is vectorised over springs and nodes but otherwise a line-by-line transcription of
:mod:`surgsim.tissue.kernels_step` (see :mod:`surgsim.tissue.solver` for the method). Results agree with the Taichi
solver to rounding (the order of the per-node sums differs).
"""

from __future__ import annotations

import numpy as np

from surgsim.tissue.base import SolverBase, chebyshev_omegas
from surgsim.tissue.contact import project_numpy
from surgsim.tissue.control import TissueControl
from surgsim.tissue.events import SolverEvent
from surgsim.tissue.state import StateArrays

VOLUME_EVERY = 1  # as kernels_step.VOLUME_EVERY (this module imports no Taichi)


class ReferenceSolver(SolverBase):
    """Same API as :class:`~surgsim.tissue.solver.TissueSolver`, on :class:`StateArrays`."""

    def state(self) -> StateArrays:
        branches = self.layout.rest_lengths if self.layout.viscoelastic else None
        return StateArrays.at_rest(self.model.positions, branches)

    def step(self, state_in: StateArrays, state_out: StateArrays, control: TissueControl,
             dt: float | None = None) -> SolverEvent | None:
        self._check(control)
        dt = float(dt or self.options.dt)
        n = self.options.substeps
        result, speed = self._attempt(state_in, control, dt, 1, n)
        if _healthy(result, speed, self.options.max_speed):
            state_out.assign(result)
            state_out.time = state_in.time + dt
            return None
        first_speed = speed
        retries = 0
        for retries in range(1, self.options.max_retries + 1):
            calls = self.options.retry_factor**retries
            result, speed = self._attempt(state_in, control, dt / calls, calls, n)
            if _healthy(result, speed, self.options.max_speed):
                state_out.assign(result)
                state_out.time = state_in.time + dt
                return SolverEvent(state_in.time, "blowup", first_speed, retries, calls * n, True)
        kept = state_in.copy()
        kept.velocities[:] = 0.0
        kept.accelerations[:] = 0.0
        kept.time = state_in.time + dt
        state_out.assign(kept)
        calls = self.options.retry_factor ** self.options.max_retries
        return SolverEvent(state_in.time, "blowup", first_speed, retries, calls * n, False,
                           "all retries failed; input state kept, velocities zeroed")

    # -- one attempt: `calls` consecutive steps of `dt` with `n` sub-steps each --------------------------------------
    def _attempt(self, state_in: StateArrays, control: TissueControl, dt: float, calls: int, n: int):
        s = state_in.copy()
        total = calls * n
        h = dt / n
        max_speed = 0.0
        for c in range(calls):
            for sub in range(n):
                remaining = total - (c * n + sub)
                x, v, a, branches, speed = self._substep(control, s.positions, s.velocities, s.accelerations,
                                                         s.forces, s.branch_lengths, h, remaining)
                s.positions, s.velocities, s.accelerations, s.branch_lengths = x, v, a, branches
                max_speed = max(max_speed, speed)
        return s, max_speed

    def _substep(self, control: TissueControl, x_n, v_n, a_n, f, branches_n, h, remaining):
        lay = control.layout
        opt = self.options
        rows, cols = lay.csr_rows, lay.csr_neighbors
        rest, k, c = control.spring_params.T
        viscoelastic = self.layout.viscoelastic
        branches = branches_n
        if viscoelastic:
            # One Maxwell branch per spring: rest length L0 + g1 (L1 − L0), L1 held through the sub-step.
            share, decay = self.layout.relaxation_params(h).T
            rest = rest + share * (branches_n - rest)
        sa, sb = self.model.springs[:, 0], self.model.springs[:, 1]
        sid = lay.csr_springs
        m, ksum, csum, alpha = control.node_params.T
        anch = control.anchored
        n = len(m)
        g = np.asarray(opt.gravity, dtype=np.float64)
        packed = control.obstacles_packed

        target = x_n + (control.anchor_targets - x_n) / remaining
        a_ext = g + f / m[:, None]
        yhat = x_n + h * v_n + h * h * a_ext
        aa = np.einsum("ij,ij->i", a_ext, a_ext)
        t = np.where(aa > 0, np.einsum("ij,ij->i", a_n, a_ext) / np.where(aa > 0, aa, 1.0), 0.0)
        t = np.clip(t, 0.0, 1.0)
        x0 = x_n + h * v_n + (h * h * t)[:, None] * a_ext
        x0 = project_numpy(x0, x_n, packed)
        x0[anch] = target[anch]
        drift = rigid_drift(x_n, v_n + h * a_n, m, *control.free_bodies(), h)

        attach = control.attach_stiffness
        volume = lay.volume
        tet_params = lay.tet_params(control.spring_active)
        start_volumes = volume.volumes(x_n) if volume is not None else None
        diag = m / h**2 * (1.0 + alpha * h) + ksum + csum / h + attach
        omegas = chebyshev_omegas(self.rho(control, h), opt.iterations, opt.chebyshev)
        gamma = opt.relaxation
        prev = x0
        cur = x0
        for it in range(opt.iterations):
            # (a) every spring once: force on a = -coef (x_a - x_b) = -force on b
            xab = cur[sa] - cur[sb]
            l2 = np.einsum("ij,ij->i", xab, xab)
            inv = 1.0 / np.sqrt(np.maximum(l2, 1e-300))
            if viscoelastic and it == opt.iterations - 1:
                length = l2 * inv
                branches = length + (branches_n - length) * decay
            u = cur - x_n
            coef = k * (1.0 - rest * inv) + c * (1.0 / h) * inv * inv * np.einsum("ij,ij->i", xab, u[sa] - u[sb])
            if volume is not None:
                if it % VOLUME_EVERY == 0:
                    volume_coef = volume.edge_coefficients(cur, tet_params, start_volumes, h)
                coef = coef + volume_coef
            # (b) every node gathers its springs
            fe = -coef[sid][:, None] * (cur[rows] - cur[cols])
            r = (m / h**2)[:, None] * (yhat - cur) - (alpha * m / h)[:, None] * (cur - x_n - drift)
            r += attach[:, None] * (control.anchor_targets - cur)
            for axis in range(3):
                r[:, axis] += np.bincount(rows, fe[:, axis], minlength=n)
            xhat = cur + r * (1.0 / diag)[:, None]  # as the kernel: one division per node
            om = omegas[it]
            nxt = om * (gamma * (xhat - cur) + cur - prev) + prev
            nxt = project_numpy(nxt, x_n, packed)
            nxt[anch] = target[anch]
            prev, cur = cur, nxt
        v = (cur - x_n) / h
        a = (v - v_n) / h
        # Nodes outside the awake window rest (TissueControl.set_awake); no spring joins them to one inside, so
        # computing them above changed nothing inside.
        window = control.awake_window
        resting = ~window.node_mask(n)
        if resting.any():
            cur[resting], v[resting], a[resting] = x_n[resting], 0.0, 0.0
            if viscoelastic:
                kept = np.ones(len(branches), dtype=bool)
                kept[window.first_spring:window.end_spring] = False
                branches[kept] = branches_n[kept]
        with np.errstate(invalid="ignore", over="ignore"):
            speed = np.sqrt(np.einsum("ij,ij->i", v, v))
        finite = np.all(np.isfinite(cur), axis=1) & np.isfinite(speed)
        max_speed = float(speed.max()) if np.all(finite) else float("inf")
        return cur, v, a, branches, max_speed


def rigid_drift(x_n, u, m, body_offsets, body_nodes, h, regularisation=1e-9) -> np.ndarray:
    """[N, 3] h (V + Ω × (x − X)) of the nodes of each free body (the CSR ``body_offsets``, ``body_nodes``), fitted to
    the node velocities ``u`` (v_n + h a_n); zero elsewhere. As kernels_step._rigid_drift."""
    drift = np.zeros_like(x_n)
    for b in range(len(body_offsets) - 1):
        nodes = body_nodes[body_offsets[b]:body_offsets[b + 1]]
        mb = m[nodes]
        mass = mb.sum()
        if mass <= 0.0:
            continue
        centre = (mb[:, None] * x_n[nodes]).sum(axis=0) / mass
        velocity = (mb[:, None] * u[nodes]).sum(axis=0) / mass
        r = x_n[nodes] - centre
        momentum = (mb[:, None] * np.cross(r, u[nodes] - velocity)).sum(axis=0)
        inertia = (mb[:, None, None] * (np.einsum("ij,ij->i", r, r)[:, None, None] * np.eye(3)
                                         - r[:, :, None] * r[:, None, :])).sum(axis=0)
        trace = np.trace(inertia)
        spin = np.linalg.solve(inertia + regularisation * trace * np.eye(3), momentum) if trace > 0 else np.zeros(3)
        drift[nodes] = h * (velocity + np.cross(spin, r))
    return drift


def _healthy(state: StateArrays, speed: float, limit: float) -> bool:
    return bool(np.isfinite(speed) and speed <= limit and np.all(np.isfinite(state.positions)))
