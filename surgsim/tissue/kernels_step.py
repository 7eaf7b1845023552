"""Taichi kernels of one implicit-Euler sub-step (see solver.py for the method; reference.py is the numpy twin).

One kernel = one sub-step: an init loop (prediction, initial guess) followed by ``iterations`` Jacobi sweeps of two
loops each: one over the springs (a scalar force coefficient per spring, computed once) and one over the nodes, in
which node i *gathers* its springs through the CSR adjacency in a fixed order, so results do not depend on thread
scheduling (no atomics). The last sweep also writes the output state and the guard value.
Kernels take ndarrays only (one compiled kernel serves every mesh size) and are built per (iterations, serial,
volume, viscoelastic, bundled) by :func:`substep_kernel`; on one thread the arrays that live only within a sub-step
are the process's scratch fields instead, and the spring pass runs in SIMD bundles (see ``SCRATCH_NODES`` below).

The volume term (``volume``): on a refresh sweep every tet computes its six edge coefficients from its current volume.
In parallel each tet writes them to its own slots and each spring gathers its tets' slots; on one thread the tets,
in order, add them to their edges' springs (``volume_map`` is then each tet edge's spring), which sums each spring's
tets in the same order with less to read, and the sub-step's affine pressure laws are set up in the first of these
passes.

Viscoelastic springs (one Maxwell branch each, ``SolverOptions.viscoelastic``): the force k∞ (l − L0) + k1 (l − L1)
with k1 = g1 k, k∞ = (1 − g1) k is one spring of stiffness k and rest length L0 + g1 (L1 − L0), so the sweeps read
that rest length (a copy of the springs' parameters with it in place of L0, made once per sub-step with L1 held
through the sub-step: the sweeps read as much memory as without it); the last sweep's spring pass
moves L1 toward the spring's length by the exact exponential update L1 ← l + (L1 − l) e^{−h/τ1}, with l the length
that pass computes anyway (the iterate before the last node update; on one thread the bundles keep the lengths and
a light loop after them moves L1).
"""

# no "from __future__ import annotations": Taichi reads the annotations

import functools
import types

from surgsim.backend import prepare_taichi_frontend

prepare_taichi_frontend()  # imports Taichi; before this module's decorators run

import taichi as ti  # noqa: E402

V3 = ti.types.ndarray(dtype=ti.math.vec3, ndim=1)
V4 = ti.types.ndarray(dtype=ti.math.vec4, ndim=1)
V2 = ti.types.ndarray(dtype=ti.math.vec2, ndim=1)
I1 = ti.types.ndarray(dtype=ti.i32, ndim=1)
I2 = ti.types.ndarray(dtype=ti.math.ivec2, ndim=1)
I4 = ti.types.ndarray(dtype=ti.math.ivec4, ndim=1)
F1 = ti.types.ndarray(dtype=ti.f64, ndim=1)
F2 = ti.types.ndarray(dtype=ti.f64, ndim=2)

NONFINITE_SPEED = 1e300  # guard value written for a non-finite node
# The volume term's pressures are computed every VOLUME_EVERY sweeps (held in between). Every sweep: held through a
# second sweep (half the term's cost, the same motion within 0.1 % on a Kuhn column pulled and hanging) the sweeps
# are no longer one Jacobi iteration of a symmetric system, whose real spectrum the Chebyshev weights assume, and a
# thin pad of fat (ν = 0.45, the example procedure tissue_lift at 1 kHz and 8 sweeps) buzzed at rest with nodes at
# 0.1-0.2 m/s, crept 7 mm and, pressed by a grasper at 0.14 N, tore across the whole pad and blew up.
VOLUME_EVERY = 1
DEGENERATE_VOLUME = 1e-6  # as volume.DEGENERATE_VOLUME
PRESSURE_LIMIT = 0.2  # as volume.PRESSURE_LIMIT
RIGID_FIT_REGULARISATION = 1e-9  # × the inertia's trace, added to its diagonal before inverting
# One thread (every shipped scene on a CPU): what lives only within a sub-step (the iterates, the prediction, the
# springs' start-of-step edges and coefficients, the volume term's held sums and pressure laws) is kept in Taichi
# fields, not in the ndarrays passed in. Taichi's LLVM code re-reads every ndarray's address after a store to any
# ndarray (it cannot prove that the store leaves the addresses alone), which adds loads and keeps loops scalar;
# stores to a field do not. The spring pass then takes the springs SPRING_BUNDLE at a time, and LLVM computes a
# bundle's square roots and divisions as vectors. The fields are scratch shared by every solver of the process
# (written before they are read in each kernel call; ~32 MB of memory), for up to SCRATCH_NODES nodes,
# SCRATCH_SPRINGS springs and SCRATCH_TETS tets; a larger mesh runs on its ndarrays. Both agree to rounding
# (~1e-15 m), not bit for bit (LLVM orders some sums differently).
SPRING_BUNDLE = 4
SCRATCH_SPRINGS = 1 << 18
SCRATCH_NODES = 1 << 16
SCRATCH_TETS = 1 << 18


@ti.func
def _finite(x: ti.f64) -> ti.i32:
    # Exponent bits all ones = inf or NaN; a bit test survives fast-math, which may fold isnan() away.
    bits = ti.bit_cast(x, ti.u64)
    return ti.cast((bits & ti.u64(0x7FF0000000000000)) != ti.u64(0x7FF0000000000000), ti.i32)


@ti.func
def _project(p: ti.math.vec3, start: ti.math.vec3, obs: ti.template()) -> ti.math.vec3:
    q = p
    for o in range(obs.shape[0]):
        kind = obs[o, 0]
        mu = obs[o, 1]
        depth = -1.0
        normal = ti.math.vec3(0.0, 0.0, 0.0)
        if kind == 0.0:  # plane: point, unit normal
            normal = ti.math.vec3(obs[o, 5], obs[o, 6], obs[o, 7])
            depth = -((q - ti.math.vec3(obs[o, 2], obs[o, 3], obs[o, 4])).dot(normal))
        elif kind == 1.0:  # box: centre, half extents, rotation (row-major, columns are axes)
            rel = q - ti.math.vec3(obs[o, 2], obs[o, 3], obs[o, 4])
            best = 1e300
            best_axis = 0
            best_sign = 1.0
            inside = 1
            for a in ti.static(range(3)):
                axis = ti.math.vec3(obs[o, 8 + a], obs[o, 11 + a], obs[o, 14 + a])
                qa = rel.dot(axis)
                gap = obs[o, 5 + a] - ti.abs(qa)
                if gap <= 0.0:
                    inside = 0
                if gap < best:
                    best = gap
                    best_axis = a
                    best_sign = 1.0 if qa >= 0.0 else -1.0
            if inside == 1:
                depth = best
                normal = best_sign * ti.math.vec3(obs[o, 8 + best_axis], obs[o, 11 + best_axis],
                                                  obs[o, 14 + best_axis])
        if depth > 0.0:
            q += depth * normal
            if mu > 0.0:
                slip = q - start
                slip -= slip.dot(normal) * normal
                size = slip.norm()
                limit = mu * depth
                scale = 1.0
                if size > limit:
                    scale = limit / size
                q -= slip * scale
    return q


@ti.func
def _tet_volume(x: ti.template(), tets: ti.template(), t: ti.i32) -> ti.f64:
    c = tets[t]
    x0 = x[c[0]]
    return (x[c[1]] - x0).dot((x[c[2]] - x0).cross(x[c[3]] - x0)) * (1.0 / 6.0)


@ti.func
def _tet_affine(x_n: ti.template(), tets: ti.template(), tet_params: ti.template(), t: ti.i32,
                inv_h: ti.f64) -> ti.math.vec4:
    # The volume term's pressure (see volume.py) p_t = (λ_v / V0) (V_t − V0) + (β λ_v / V0) (V_t − V_t,n) / h is
    # affine in V_t within a sub-step: (a, b) with p_t = a V_t − b, set up once per sub-step, with the pressure's
    # bound and the smallest usable 6 V.
    q = tet_params[t]
    damping = q[2] * inv_h
    return ti.math.vec4(q[0] + damping, q[0] * q[1] + damping * _tet_volume(x_n, tets, t),
                        PRESSURE_LIMIT * q[0] * q[1], DEGENERATE_VOLUME * 6.0 * q[1])


@ti.func
def _tet_pressure_weights(cur: ti.template(), tets: ti.template(), ab: ti.math.vec4, t: ti.i32):
    # The volume term's local step (see volume.py): the pressure from the tet's current volume, written as the six
    # central-force coefficients p w_ij, w_ij = −(a_i · a_j) / (6 det) with a_i = det ∇N_i (cofactor rows), in the
    # order of the tet's edges 01, 02, 03, 12, 13, 23.
    c = tets[t]
    x0 = cur[c[0]]
    e1 = cur[c[1]] - x0
    e2 = cur[c[2]] - x0
    e3 = cur[c[3]] - x0
    a1 = e2.cross(e3)
    a2 = e3.cross(e1)
    a3 = e1.cross(e2)
    a0 = -(a1 + a2 + a3)
    det = e1.dot(a1)
    pressure = ti.min(ti.max(ab[0] * det * (1.0 / 6.0) - ab[1], -ab[2]), ab[2])
    scale = 0.0
    if ti.abs(det) > ab[3]:
        scale = -pressure / (6.0 * det)
    return ti.Vector([scale * a0.dot(a1), scale * a0.dot(a2), scale * a0.dot(a3), scale * a1.dot(a2),
                      scale * a1.dot(a3), scale * a2.dot(a3)], dt=ti.f64)


@ti.func
def _tet_edge_coefficients(cur: ti.template(), tets: ti.template(), tet_affine: ti.template(),
                           edge_coef: ti.template(), t: ti.i32):
    # Parallel: each tet writes its six coefficients to its own slots; the springs gather them.
    w = _tet_pressure_weights(cur, tets, tet_affine[t], t)
    for k in ti.static(range(6)):
        edge_coef[6 * t + k] = w[k]


@ti.func
def _tet_edge_scatter(cur: ti.template(), tets: ti.template(), ab: ti.math.vec4, edge_springs: ti.template(),
                      volume_coef: ti.template(), t: ti.i32):
    # One thread: each tet adds its six coefficients to its edges' springs. The tets are visited in order, so each
    # spring sums its tets in the order in which the parallel gather sums them.
    w = _tet_pressure_weights(cur, tets, ab, t)
    for k in ti.static(range(6)):
        volume_coef[edge_springs[6 * t + k]] += w[k]


@ti.func
def _volume_coefficient(edge_coef: ti.template(), spring_tet_offsets: ti.template(), spring_slots: ti.template(),
                        s: ti.i32) -> ti.f64:
    # Σ_t p_t w_e,t over the spring's tets in a fixed order: the volume forces as a tension along the edge.
    total = 0.0
    for e in range(spring_tet_offsets[s], spring_tet_offsets[s + 1]):
        total += edge_coef[spring_slots[e]]
    return total


@ti.func
def _rigid_drift(x_n: ti.template(), v_n: ti.template(), a_n: ti.template(), node: ti.template(),
                 body_offsets: ti.template(), body_nodes: ti.template(), drift: ti.template(), b: ti.i32, h: ti.f64):
    # drift_i = h (V + Ω × (x_i − X)): where body b's nodes would go in the sub-step if it moved as a rigid body with
    # its momentum and angular momentum (Ω = I⁻¹ L about the centre of mass X), each node's velocity taken as
    # v_n + h a_n (the acceleration it showed last step: a falling body is not held back, a resting one predicts no
    # motion, so statics stay exact). A tiny multiple of the inertia's trace regularises I for a body of one or two
    # nodes or a line of them (L has no part along such a line). Only free bodies come here (the control's
    # free_bodies): a held body has no rigid motion of its own, and its nodes' drift stays zero.
    start = body_offsets[b]
    end = body_offsets[b + 1]
    mass = 0.0
    weighted_x = ti.math.vec3(0.0, 0.0, 0.0)
    weighted_v = ti.math.vec3(0.0, 0.0, 0.0)
    for k in range(start, end):
        i = body_nodes[k]
        m = node[i][0]
        mass += m
        weighted_x += m * x_n[i]
        weighted_v += m * (v_n[i] + h * a_n[i])
    if mass > 0.0:
        centre = weighted_x / mass
        velocity = weighted_v / mass
        momentum = ti.math.vec3(0.0, 0.0, 0.0)
        inertia = ti.math.mat3(0.0)
        for k in range(start, end):
            i = body_nodes[k]
            m = node[i][0]
            r = x_n[i] - centre
            momentum += m * r.cross(v_n[i] + h * a_n[i] - velocity)
            inertia += m * (r.dot(r) * ti.math.eye(3) - r.outer_product(r))
        spin = ti.math.vec3(0.0, 0.0, 0.0)
        trace = inertia[0, 0] + inertia[1, 1] + inertia[2, 2]
        if trace > 0.0:
            spin = (inertia + (RIGID_FIT_REGULARISATION * trace) * ti.math.eye(3)).inverse() @ momentum
        for k in range(start, end):
            i = body_nodes[k]
            drift[i] = h * (velocity + spin.cross(x_n[i] - centre))


@ti.func
def _spring_core(s: ti.i32, cur: ti.template(), springs: ti.template(), spring_params: ti.template(),
                 params_eff: ti.template(), edge_n: ti.template(), inv_h: ti.f64,
                 viscoelastic: ti.template()) -> ti.math.vec2:
    # Spring s in a sweep: (c_s, its length), c_s being the scalar with force_on_a = -c_s (x_a - x_b) = -force_on_b,
    # from the spring k (|x_ab| - L) d and the dashpot (c/h) d (d · (u_a - u_b)), u = motion in this sub-step.
    ab = springs[s]
    q = spring_params[s]  # rest length, stiffness, dashpot (0, 0 when the spring is cut)
    if ti.static(viscoelastic):
        q = params_eff[s]  # the same with the branch's effective rest length
    xab = cur[ab[0]] - cur[ab[1]]
    l2 = xab.dot(xab)
    inv = 1.0 / ti.sqrt(ti.max(l2, 1e-300))  # a zero-length spring contributes nothing, not 0/0
    du = xab - edge_n[s]
    c = q[1] * (1.0 - q[0] * inv) + (q[2] * inv_h) * inv * inv * xab.dot(du)
    return ti.math.vec2(c, l2 * inv)


@ti.func
def _relaxed_rest_length(length: ti.f64, branch: ti.f64, decay: ti.f64) -> ti.f64:
    # The Maxwell branch's rest length after the sub-step: L1 ← l + (L1 − l) e^{−h/τ1} (see the module docstring).
    return length + (branch - length) * decay


@ti.func
def _spring_coefficient(s: ti.i32, refresh_volume: ti.i32, keep_volume: ti.i32, last: ti.i32, cur: ti.template(),
                        springs: ti.template(), spring_params: ti.template(), coef: ti.template(),
                        edge_n: ti.template(), l_n: ti.template(), l_o: ti.template(), relax: ti.template(),
                        params_eff: ti.template(), edge_coef: ti.template(), spring_tet_offsets: ti.template(),
                        volume_map: ti.template(), volume_coef: ti.template(), inv_h: ti.f64,
                        volume: ti.template(), viscoelastic: ti.template()):
    # The parallel spring pass for spring s: c_s plus the volume term's tension when it is compiled in (its tets'
    # coefficients gathered on refresh sweeps, see VOLUME_EVERY; kept in volume_coef when the next sweep holds
    # them); the last sweep moves the Maxwell branch's rest length.
    core = _spring_core(s, cur, springs, spring_params, params_eff, edge_n, inv_h, viscoelastic)
    c = core[0]
    if ti.static(viscoelastic):
        if last:
            l_o[s] = _relaxed_rest_length(core[1], l_n[s], relax[s][1])
    if ti.static(volume):
        if refresh_volume:
            held = _volume_coefficient(edge_coef, spring_tet_offsets, volume_map, s)
            if keep_volume:
                volume_coef[s] = held
            c += held
        else:
            c += volume_coef[s]
    coef[s] = c


@ti.func
def _spring_lane(s: ti.i32, cur: ti.template(), springs: ti.template(), spring_params: ti.template(),
                 params_eff: ti.template(), edge_n: ti.template(), volume_coef: ti.template(), inv_h: ti.f64,
                 volume: ti.template(), viscoelastic: ti.template()) -> ti.math.vec2:
    # One spring of the one-thread spring pass: (c_s with what the tets scattered on the last refresh, its length).
    core = _spring_core(s, cur, springs, spring_params, params_eff, edge_n, inv_h, viscoelastic)
    if ti.static(volume):
        core[0] += volume_coef[s]
    return core


@ti.func
def _bundled_spring_pass(spring_lo: ti.i32, spring_hi: ti.i32, last: ti.i32, cur: ti.template(),
                         springs: ti.template(), spring_params: ti.template(), params_eff: ti.template(),
                         edge_n: ti.template(), volume_coef: ti.template(), l_n: ti.template(), l_o: ti.template(),
                         relax: ti.template(), inv_h: ti.f64, coef: ti.template(), lengths: ti.template(),
                         volume: ti.template(), viscoelastic: ti.template()):
    # The spring pass on one thread, SPRING_BUNDLE springs at a time (see SCRATCH_NODES), then the springs after the
    # last whole bundle one by one. The first bundle may start before spring_lo: those lanes' springs join resting
    # nodes, whose coefficients no awake node reads.
    B = ti.static(SPRING_BUNDLE)
    first = spring_lo // B
    # The loop counts from bundle 0 (and skips the resting ones): from a bound known at the start, LLVM proves a
    # bundle's indices consecutive, which a loop starting at spring_lo // B hides from it.
    for g in range(spring_hi // B):
        if g >= first:
            c = ti.Vector([0.0] * B, dt=ti.f64)
            length = ti.Vector([0.0] * B, dt=ti.f64)
            for k in ti.static(range(B)):
                lane = _spring_lane(B * g + k, cur, springs, spring_params, params_eff, edge_n, volume_coef, inv_h,
                                    volume, viscoelastic)
                c[k] = lane[0]
                length[k] = lane[1]
            for k in ti.static(range(B)):
                coef[B * g + k] = c[k]
            if ti.static(viscoelastic):
                if last:
                    for k in ti.static(range(B)):
                        lengths[B * g + k] = length[k]
    for s in range(ti.max(spring_lo, spring_hi // B * B), spring_hi):
        lane = _spring_lane(s, cur, springs, spring_params, params_eff, edge_n, volume_coef, inv_h, volume,
                            viscoelastic)
        coef[s] = lane[0]
        lengths[s] = lane[1]
    if ti.static(viscoelastic):
        if last:  # each Maxwell branch's rest length moves toward the spring's length
            for s in range(spring_lo, spring_hi):
                l_o[s] = _relaxed_rest_length(lengths[s], l_n[s], relax[s][1])


@ti.func
def _node_iterate(i: ti.i32, it: ti.i32, last: ti.i32, cur: ti.template(), other: ti.template(),
                  x_n: ti.template(), v_n: ti.template(), f_n: ti.template(), x_o: ti.template(), v_o: ti.template(),
                  a_o: ti.template(), f_o: ti.template(), node: ti.template(), anchor: ti.template(),
                  yhat: ti.template(), obstacles: ti.template(), guard: ti.template(), omegas: ti.template(),
                  drift: ti.template(), coef: ti.template(), offsets: ti.template(), adjacency: ti.template(),
                  h: ti.f64, inv_h: ti.f64, gamma: ti.f64, serial: ti.template()):
    # A sweep's node pass for node i: it gathers its springs (CSR, fixed order) and takes its Jacobi/Chebyshev step;
    # the last sweep writes the output state and the guard value.
    inv_h2 = inv_h * inv_h
    xi = cur[i]
    nxt = xi
    an = anchor[i]
    if an[3] <= 0.0:
        p = node[i]
        m = p[0]
        xn = x_n[i]
        r = (m * inv_h2) * (yhat[i] - xi) - (p[3] * m * inv_h) * (xi - xn - drift[i])
        for e in range(offsets[i], offsets[i + 1]):
            js = adjacency[e]  # neighbour, spring
            r -= coef[js[1]] * (xi - cur[js[0]])
        diag = m * inv_h2 * (1.0 + p[3] * h) + p[1] + p[2] * inv_h
        if an[3] < 0.0:  # attached: a zero-length spring of stiffness -an[3] to the target
            r += (-an[3]) * (ti.math.vec3(an[0], an[1], an[2]) - xi)
            diag -= an[3]
        xhat = xi + r * (1.0 / diag)
        prev = other[i]
        nxt = omegas[it] * (gamma * (xhat - xi) + xi - prev) + prev
        nxt = _project(nxt, xn, obstacles)
    if not last:
        other[i] = nxt
    else:
        vel = (nxt - x_n[i]) * inv_h
        x_o[i] = nxt
        v_o[i] = vel
        a_o[i] = (vel - v_n[i]) * inv_h
        f_o[i] = f_n[i]
        speed = vel.norm()
        ok = _finite(nxt[0]) & _finite(nxt[1]) & _finite(nxt[2]) & _finite(speed)
        if ok == 0:
            speed = NONFINITE_SPEED
        if ti.static(serial):
            guard[0] = ti.max(guard[0], speed)  # one thread: no atomic (a CAS loop per node)
        else:
            ti.atomic_max(guard[0], speed)


@ti.func
def _serial_sweep(it: ti.i32, K: ti.i32, cur: ti.template(), other: ti.template(), x_n: ti.template(),
                  v_n: ti.template(), f_n: ti.template(), l_n: ti.template(), x_o: ti.template(), v_o: ti.template(),
                  a_o: ti.template(), f_o: ti.template(), l_o: ti.template(), springs: ti.template(),
                  spring_params: ti.template(), coef: ti.template(), edge_n: ti.template(), offsets: ti.template(),
                  adjacency: ti.template(), node: ti.template(), anchor: ti.template(), yhat: ti.template(),
                  obstacles: ti.template(), guard: ti.template(), omegas: ti.template(), tets: ti.template(),
                  tet_params: ti.template(), tet_affine: ti.template(), edge_coef: ti.template(),
                  spring_tet_offsets: ti.template(),
                  volume_map: ti.template(), volume_coef: ti.template(), drift: ti.template(), relax: ti.template(),
                  params_eff: ti.template(), spring_lo: ti.i32, spring_hi: ti.i32, node_lo: ti.i32, node_hi: ti.i32,
                  tet_lo: ti.i32, tet_hi: ti.i32, h: ti.f64, inv_h: ti.f64, gamma: ti.f64, volume: ti.template(),
                  viscoelastic: ti.template(), bundled: ti.template(), lengths: ti.template()):
    # Sweep number ``it`` of K on one thread (inside the kernel's serialised loop over the sweeps).
    refresh_volume = it % VOLUME_EVERY == 0
    last = it == K - 1
    if ti.static(volume):
        if refresh_volume:
            if it > 0:  # the last refresh's sums have been used (the step's init loop cleared them for the first)
                for s in range(spring_lo, spring_hi):
                    volume_coef[s] = 0.0
            for t in range(tet_lo, tet_hi):
                ab = ti.math.vec4(0.0)
                if it == 0:  # the sub-step's affine pressure law, set up in the first pass over the tets
                    ab = _tet_affine(x_n, tets, tet_params, t, 1.0 / h)
                    tet_affine[t] = ab
                else:
                    ab = tet_affine[t]
                _tet_edge_scatter(cur, tets, ab, volume_map, volume_coef, t)
    if ti.static(bundled):
        _bundled_spring_pass(spring_lo, spring_hi, last, cur, springs, spring_params, params_eff, edge_n,
                             volume_coef, l_n, l_o, relax, inv_h, coef, lengths, volume, viscoelastic)
    else:
        for s in range(spring_lo, spring_hi):
            lane = _spring_lane(s, cur, springs, spring_params, params_eff, edge_n, volume_coef, inv_h, volume,
                                viscoelastic)
            coef[s] = lane[0]
            if ti.static(viscoelastic):
                if last:
                    l_o[s] = _relaxed_rest_length(lane[1], l_n[s], relax[s][1])
    for i in range(node_lo, node_hi):
        _node_iterate(i, it, last, cur, other, x_n, v_n, f_n, x_o, v_o, a_o, f_o, node, anchor, yhat, obstacles,
                      guard, omegas, drift, coef, offsets, adjacency, h, inv_h, gamma, True)



@functools.lru_cache(maxsize=None)
def _scratch_fields() -> types.SimpleNamespace:
    """The one-thread kernels' scratch fields (see SCRATCH_NODES), made once, on first use (after Taichi's init) and
    all together (Taichi's offline cache keys a kernel by the fields it reads, so they are always made in one order)."""
    vec3, vec4 = ti.math.vec3, ti.math.vec4
    return types.SimpleNamespace(
        iterate_a=vec3.field(shape=SCRATCH_NODES), iterate_b=vec3.field(shape=SCRATCH_NODES),
        yhat=vec3.field(shape=SCRATCH_NODES), coef=ti.field(ti.f64, shape=SCRATCH_SPRINGS),
        length=ti.field(ti.f64, shape=SCRATCH_SPRINGS), edge_n=vec3.field(shape=SCRATCH_SPRINGS),
        params_eff=vec3.field(shape=SCRATCH_SPRINGS), volume_coef=ti.field(ti.f64, shape=SCRATCH_SPRINGS),
        tet_affine=vec4.field(shape=SCRATCH_TETS))


def _scratch_or(scratch, name: str, array):
    """The scratch field ``name`` when the kernel has them (``scratch``), else ``array``."""
    return array if scratch is None else getattr(scratch, name)


def fits_scratch(nodes: int, springs: int, tets: int) -> bool:
    """Whether a mesh fits the one-thread kernels' scratch fields (else they run on its ndarrays, more slowly)."""
    return nodes <= SCRATCH_NODES and springs <= SCRATCH_SPRINGS and tets <= SCRATCH_TETS


@functools.lru_cache(maxsize=None)
def substep_kernel(iterations: int, serial: bool, volume: bool = False, viscoelastic: bool = False,
                   bundled: bool = True):
    """The sub-step kernel for a fixed iteration count (compiled on first use, then served from Taichi's cache);
    ``volume`` compiles the per-tet volume term in (its arrays are then read; otherwise they are placeholders), and
    ``viscoelastic`` the springs' Maxwell branches (``l_n``, ``l_o``, ``relax``, ``params_eff``; else placeholders)."""
    K = int(iterations)
    bundled = bool(serial and bundled)
    scratch = _scratch_fields() if bundled else None

    @ti.kernel
    def substep(x_n: V3, v_n: V3, a_n: V3, f_n: V3, l_n: F1, x_o: V3, v_o: V3, a_o: V3, f_o: V3, l_o: F1,
                springs: I2, spring_params: V3, coef: F1, edge_n: V3, offsets: I1, adjacency: I2, node: V4, anchor: V4,
                buf_a: V3, buf_b: V3, yhat: V3, obstacles: F2, guard: F1, omegas: F1,
                tets: I4, tet_params: V3, tet_affine: V4, edge_coef: F1, spring_tet_offsets: I1, volume_map: I1,
                volume_coef: F1, body_offsets: I1, body_nodes: I1, drift: V3, relax: V2, params_eff: V3,
                window: I1, h: ti.f64, gamma: ti.f64, gravity: ti.math.vec3, remaining: ti.f64, reset: ti.i32):
        n = x_n.shape[0]
        # The awake window (TissueControl.set_awake): nodes, springs and tets [first, end) are advanced; the nodes
        # outside it rest (no spring or tet joins them to a node inside).
        node_lo, node_hi = window[0], window[1]
        spring_lo, spring_hi = window[2], window[3]
        tet_lo, tet_hi = window[4], window[5]
        # Divisions bound the sweeps (the spring pass's square root and division are its slowest instructions), so
        # the step divides by h once; per node the Jacobi diagonal is divided by once, not per component.
        inv_h = 1.0 / h
        if reset != 0:
            guard[0] = 0.0
        # What lives only within this sub-step: in scratch fields on one thread (see SCRATCH_NODES), else the
        # ndarrays passed in.
        iterate_a = ti.static(_scratch_or(scratch, "iterate_a", buf_a))
        iterate_b = ti.static(_scratch_or(scratch, "iterate_b", buf_b))
        predicted = ti.static(_scratch_or(scratch, "yhat", yhat))
        start_edges = ti.static(_scratch_or(scratch, "edge_n", edge_n))
        effective = ti.static(_scratch_or(scratch, "params_eff", params_eff))
        held_volume = ti.static(_scratch_or(scratch, "volume_coef", volume_coef))
        pressure_laws = ti.static(_scratch_or(scratch, "tet_affine", tet_affine))
        coefficients = ti.static(_scratch_or(scratch, "coef", coef))
        lengths = ti.static(_scratch_or(scratch, "length", coef))

        # -- resting nodes keep their place --------------------------------------------------------------------------
        if ti.static(serial):
            ti.loop_config(serialize=True)
        for i in range(n - (node_hi - node_lo)):
            r = i if i < node_lo else i + (node_hi - node_lo)
            x_o[r] = x_n[r]
            v_o[r] = ti.math.vec3(0.0, 0.0, 0.0)
            a_o[r] = ti.math.vec3(0.0, 0.0, 0.0)
            f_o[r] = f_n[r]
        if ti.static(viscoelastic):
            if ti.static(serial):
                ti.loop_config(serialize=True)
            for k in range(springs.shape[0] - (spring_hi - spring_lo)):
                s = k if k < spring_lo else k + (spring_hi - spring_lo)
                l_o[s] = l_n[s]

        # -- each free body's rigid motion over the sub-step (the ambient drag acts on the motion relative to it) -----
        if ti.static(serial):
            ti.loop_config(serialize=True)
        for b in range(body_offsets.shape[0] - 1):
            _rigid_drift(x_n, v_n, a_n, node, body_offsets, body_nodes, drift, b, h)

        # -- prediction and initial guess ---------------------------------------------------------------------
        if ti.static(serial):
            ti.loop_config(serialize=True)
        for i in range(node_lo, node_hi):
            m = node[i][0]
            xn = x_n[i]
            vn = v_n[i]
            aext = gravity + f_n[i] / m
            predicted[i] = xn + h * vn + h * h * aext
            # VBD-style adaptive initialisation (Chen et al. 2024): keep the part of the external acceleration
            # that the node actually showed last step. Static equilibrium and free fall are then fixed points.
            aa = aext.dot(aext)
            t = 0.0
            if aa > 0.0:
                t = ti.min(ti.max(a_n[i].dot(aext) / aa, 0.0), 1.0)
            x0 = xn + h * vn + (h * h * t) * aext
            x0 = _project(x0, xn, obstacles)
            an = anchor[i]
            if an[3] > 0.0:
                x0 = xn + (ti.math.vec3(an[0], an[1], an[2]) - xn) / remaining
            iterate_a[i] = x0
            iterate_b[i] = x0
        # Each spring's edge at the start of the sub-step: the dashpot reads the edge's motion in the sub-step as
        # x_ab - x_n,ab, one sequential read a sweep instead of two gathers.
        if ti.static(serial):
            ti.loop_config(serialize=True)
        for s in range(spring_lo, spring_hi):
            ab = springs[s]
            start_edges[s] = x_n[ab[0]] - x_n[ab[1]]
            if ti.static(viscoelastic):
                q = spring_params[s]
                effective[s] = ti.math.vec3(q[0] + relax[s][0] * (l_n[s] - q[0]), q[1], q[2])
            if ti.static(volume and serial):
                held_volume[s] = 0.0
        if ti.static(volume and not serial):
            for t in range(tet_lo, tet_hi):
                tet_affine[t] = _tet_affine(x_n, tets, tet_params, t, 1.0 / h)

        # -- Jacobi iterations (Chebyshev-accelerated), the last one writes the output state -------------------
        if ti.static(serial):
            # One thread: the sweeps run in a loop, not unrolled, so the kernel's code is two sweeps long whatever
            # the iteration count (compiling an unrolled kernel took ~1 s of each process's start).
            ti.loop_config(serialize=True)
            for it in range(K):
                for parity in ti.static(range(2)):  # the sweeps alternate between the two buffers
                    if it % 2 == parity:
                        _serial_sweep(it, K, ti.static((iterate_a, iterate_b)[parity]),
                                      ti.static((iterate_b, iterate_a)[parity]), x_n, v_n, f_n, l_n, x_o, v_o, a_o,
                                      f_o, l_o, springs, spring_params, coefficients, start_edges, offsets, adjacency,
                                      node, anchor, predicted, obstacles, guard, omegas, tets, tet_params,
                                      pressure_laws, edge_coef, spring_tet_offsets, volume_map, held_volume, drift,
                                      relax, effective, spring_lo, spring_hi, node_lo, node_hi, tet_lo, tet_hi, h,
                                      inv_h, gamma, volume, viscoelastic, bundled, lengths)
        else:
            for it in ti.static(range(K)):
                cur = ti.static(buf_a if it % 2 == 0 else buf_b)
                other = ti.static(buf_b if it % 2 == 0 else buf_a)
                if ti.static(volume and it % VOLUME_EVERY == 0):
                    for t in range(tet_lo, tet_hi):
                        _tet_edge_coefficients(cur, tets, tet_affine, edge_coef, t)
                for s in range(spring_lo, spring_hi):
                    _spring_coefficient(s, it % VOLUME_EVERY == 0, it + 1 < K and (it + 1) % VOLUME_EVERY != 0,
                                        it == K - 1, cur, springs,
                                        spring_params, coef, edge_n, l_n, l_o, relax, params_eff, edge_coef,
                                        spring_tet_offsets, volume_map, volume_coef, inv_h, volume, viscoelastic)
                for i in range(node_lo, node_hi):
                    _node_iterate(i, it, it == K - 1, cur, other, x_n, v_n, f_n, x_o, v_o, a_o, f_o, node, anchor,
                                  yhat, obstacles, guard, omegas, drift, coef, offsets, adjacency, h, inv_h, gamma,
                                  False)

    return substep


@ti.kernel
def keep_state(x_i: V3, f_i: V3, x_o: V3, v_o: V3, a_o: V3, f_o: V3):
    """Failed step: output = input positions, zero velocity and acceleration."""
    for i in range(x_i.shape[0]):
        x_o[i] = x_i[i]
        v_o[i] = ti.math.vec3(0.0, 0.0, 0.0)
        a_o[i] = ti.math.vec3(0.0, 0.0, 0.0)
        f_o[i] = f_i[i]


@ti.kernel
def set_rows(target: V3, ids: I1, values: V3):
    """target[ids[k]] = values[k] (sparse updates: instrument forces, anchor moves)."""
    for k in range(ids.shape[0]):
        target[ids[k]] = values[k]


@ti.kernel
def set_anchor_rows(anchor: V4, rows: F2):
    """anchor[rows[k, 0]] = rows[k, 1:5] (target x, y, z, flag): the anchor rows that changed, in one launch."""
    ti.loop_config(serialize=True)
    for k in range(rows.shape[0]):
        anchor[ti.cast(rows[k, 0], ti.i32)] = ti.math.vec4(rows[k, 1], rows[k, 2], rows[k, 3], rows[k, 4])


@ti.kernel
def place_frame(anchor: V4, rows: F2, ox: ti.f64, oy: ti.f64, oz: ti.f64, r00: ti.f64, r01: ti.f64, r02: ti.f64,
                r10: ti.f64, r11: ti.f64, r12: ti.f64, r20: ti.f64, r21: ti.f64, r22: ti.f64):
    """anchor[rows[k, 0]].xyz = origin + R · rows[k, 1:4]: a rigid group's targets for a frame given as 12 scalars
    (run from a compiled graph, whose scalar arguments cost ~1 µs each where a kernel call costs tens)."""
    ti.loop_config(serialize=True)
    for k in range(rows.shape[0]):
        i = ti.cast(rows[k, 0], ti.i32)
        lx = rows[k, 1]
        ly = rows[k, 2]
        lz = rows[k, 3]
        flag = anchor[i][3]
        anchor[i] = ti.math.vec4(ox + r00 * lx + r01 * ly + r02 * lz, oy + r10 * lx + r11 * ly + r12 * lz,
                                 oz + r20 * lx + r21 * ly + r22 * lz, flag)


FRAME_SCALARS = ("ox", "oy", "oz", "r00", "r01", "r02", "r10", "r11", "r12", "r20", "r21", "r22")


@ti.kernel
def copy_f64(src: F1, dst: F1):
    """dst = src (the benchmark's memory-bandwidth probe)."""
    for i in range(src.shape[0]):
        dst[i] = src[i]
