"""Taichi kernel of the post-step pass (see tool_contact.py for the method, contact_layout.py for the buffer
layout; the numpy twin is tests/coupling/tool_contact_twin.py).

One kernel per tick, after ``TissueSolver.step``: warm-start release, capsule-vs-surface-triangle and
capsule-vs-node projection (Gauss-Seidel), friction and force bookkeeping, burn dwell, tet strain / cutter flags,
and the reaction of grasp anchors. Loops whose order changes the result (the projection and every float sum) run serialised, so a replay is
bit-identical; the per-triangle cull, the per-tet and the per-spring flags are independent per item and may run in parallel.
The pass's own arrays live in two flat buffers (float64, int32) cut into sections whose offsets the kernel reads
from the io array: few arguments, and one compilation per process whatever the mesh.
"""

# no "from __future__ import annotations": Taichi reads the annotations

import functools

from surgsim.backend import float64_transcendentals, prepare_taichi_frontend

prepare_taichi_frontend()  # imports Taichi; before this module's decorators run

import taichi as ti  # noqa: E402

from surgsim.tissue.contact_layout import (
    B_PUSH_HI, B_PUSH_LO, B_REACH_HI, B_REACH_LO, C_FLAGS, C_FRICTION, C_P0, C_P0_BEFORE, C_P1, C_P1_BEFORE, C_RADIUS,
    CAPSULE_ENABLED, CAPSULE_ENERGIZED, CAPSULE_SENSE, COUNT_CHARRED, COUNT_CUT, COUNT_FORCE, COUNT_TORN, CUT_A, CUT_B,
    CUT_C, FLAG_CUT0, FLAG_TORN, F_BURN, F_CAP, F_DRAG, F_ENTRIES, F_FAILURE_STRETCH, F_MASS, F_NEAR_WEIGHT, F_NORMAL, F_PARAM, F_PUSH,
    F_REST_INVERSE, F_X_STEP, GRASP_COUNT, GRASP_FORCE, H_BURN_RATE, H_CAPSULES, H_CUTTERS, H_DT, H_GRASPED,
    H_GRASPS, H_GRAVITY, H_NODE_HI, H_NODE_LO, H_OUTPUT_ROW, H_SKIN, H_SPRING_HI, H_SPRING_LO, H_SPRINGS,
    H_TEAR_CHECKS, H_TET_COUNT, H_TRIANGLES,
    I_ACTIVE, I_CAPSULE, I_FLAGS, I_GRASP_GROUP, I_GRASP_NODES, I_GRIPPED, I_NEAR, I_NEAR_OFFSETS, I_NEIGHBORS, I_OFFSETS, I_OVERSTRAINED,
    I_SPRINGS, I_TETS, I_TET_FLAGS, I_TET_LIVE, I_TRIANGLES, I_TRI_MASK, OUT_COUNT, OUT_ENERGIZED, OUT_FORCE,
    OUT_POINT, OUT_SENSED, OUT_STRONGEST, OUT_STRONGEST_FORCE, OUT_WEIGHT, ROW_BOUNDS, ROW_CAPSULES, ROW_FLOAT_SECTIONS,
    ROW_HEADER, ROW_INT_SECTIONS,
)

V3 = ti.types.ndarray(dtype=ti.math.vec3, ndim=1)
V4 = ti.types.ndarray(dtype=ti.math.vec4, ndim=1)
F1 = ti.types.ndarray(dtype=ti.f64, ndim=1)
I1 = ti.types.ndarray(dtype=ti.i32, ndim=1)
F2 = ti.types.ndarray(dtype=ti.f64, ndim=2)

_EPS = 1e-30


# -- buffer access ---------------------------------------------------------------------------------------------------
@ti.func
def _fsec(io: ti.template(), section: ti.template()) -> ti.i32:
    return ti.cast(io[ROW_FLOAT_SECTIONS, section], ti.i32)


@ti.func
def _isec(io: ti.template(), section: ti.template()) -> ti.i32:
    return ti.cast(io[ROW_INT_SECTIONS, section], ti.i32)


@ti.func
def _get3(buf: ti.template(), at: ti.i32) -> ti.math.vec3:
    return ti.math.vec3(buf[at], buf[at + 1], buf[at + 2])


@ti.func
def _set3(buf: ti.template(), at: ti.i32, value: ti.math.vec3):
    for k in ti.static(range(3)):
        buf[at + k] = value[k]


@ti.func
def _row3(a: ti.template(), r: ti.i32, col: ti.i32) -> ti.math.vec3:
    return ti.math.vec3(a[r, col], a[r, col + 1], a[r, col + 2])


@ti.func
def _flag(io: ti.template(), row: ti.i32, bits: ti.template()) -> ti.i32:
    return (ti.cast(io[row, C_FLAGS], ti.i32) & bits) != 0


@ti.func
def _tool_motion(io: ti.template(), row: ti.i32, s: ti.f64) -> ti.math.vec3:
    """How far the point at parameter s of the capsule axis in ``row`` moved during the step."""
    now = _row3(io, row, C_P0) + s * (_row3(io, row, C_P1) - _row3(io, row, C_P0))
    before = _row3(io, row, C_P0_BEFORE) + s * (_row3(io, row, C_P1_BEFORE) - _row3(io, row, C_P0_BEFORE))
    return now - before


# -- geometry (Ericson 2005, "Real-Time Collision Detection"; Möller & Trumbore 1997) -------------------------------
@ti.func
def _closest_on_triangle(p: ti.math.vec3, a: ti.math.vec3, b: ti.math.vec3, c: ti.math.vec3) -> ti.math.vec3:
    """Barycentric weights of the point of triangle abc closest to p (Ericson §5.1.5)."""
    ab = b - a
    ac = c - a
    ap = p - a
    d1 = ab.dot(ap)
    d2 = ac.dot(ap)
    bp = p - b
    d3 = ab.dot(bp)
    d4 = ac.dot(bp)
    cp = p - c
    d5 = ab.dot(cp)
    d6 = ac.dot(cp)
    vc = d1 * d4 - d3 * d2
    vb = d5 * d2 - d1 * d6
    va = d3 * d6 - d5 * d4
    w = ti.math.vec3(0.0, 0.0, 0.0)
    if d1 <= 0.0 and d2 <= 0.0:
        w = ti.math.vec3(1.0, 0.0, 0.0)
    elif d3 >= 0.0 and d4 <= d3:
        w = ti.math.vec3(0.0, 1.0, 0.0)
    elif vc <= 0.0 and d1 >= 0.0 and d3 <= 0.0:
        v = d1 / (d1 - d3)
        w = ti.math.vec3(1.0 - v, v, 0.0)
    elif d6 >= 0.0 and d5 <= d6:
        w = ti.math.vec3(0.0, 0.0, 1.0)
    elif vb <= 0.0 and d2 >= 0.0 and d6 <= 0.0:
        t = d2 / (d2 - d6)
        w = ti.math.vec3(1.0 - t, 0.0, t)
    elif va <= 0.0 and (d4 - d3) >= 0.0 and (d5 - d6) >= 0.0:
        t = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        w = ti.math.vec3(0.0, 1.0 - t, t)
    else:
        denom = 1.0 / (va + vb + vc)
        v = vb * denom
        t = vc * denom
        w = ti.math.vec3(1.0 - v - t, v, t)
    return w


@ti.func
def _closest_segments(p1: ti.math.vec3, q1: ti.math.vec3, p2: ti.math.vec3, q2: ti.math.vec3) -> ti.math.vec2:
    """Parameters (s, t) of the closest points of segments p1q1 and p2q2 (Ericson §5.1.9)."""
    d1 = q1 - p1
    d2 = q2 - p2
    r = p1 - p2
    a = d1.dot(d1)
    e = d2.dot(d2)
    f = d2.dot(r)
    s = 0.0
    t = 0.0
    if a <= _EPS and e <= _EPS:
        s = 0.0
    elif a <= _EPS:
        t = ti.min(ti.max(f / e, 0.0), 1.0)
    else:
        c = d1.dot(r)
        if e <= _EPS:
            s = ti.min(ti.max(-c / a, 0.0), 1.0)
        else:
            b = d1.dot(d2)
            denom = a * e - b * b
            if denom != 0.0:
                s = ti.min(ti.max((b * f - c * e) / denom, 0.0), 1.0)
            t = (b * s + f) / e
            if t < 0.0:
                t = 0.0
                s = ti.min(ti.max(-c / a, 0.0), 1.0)
            elif t > 1.0:
                t = 1.0
                s = ti.min(ti.max((b - c) / a, 0.0), 1.0)
    return ti.math.vec2(s, t)


@ti.func
def _segment_crosses_triangle(p: ti.math.vec3, q: ti.math.vec3, a: ti.math.vec3, b: ti.math.vec3,
                              c: ti.math.vec3) -> ti.math.vec4:
    """(hit, segment parameter, barycentric v, w) of segment pq through triangle abc (Möller–Trumbore)."""
    d = q - p
    e1 = b - a
    e2 = c - a
    h = d.cross(e2)
    det = e1.dot(h)
    out = ti.math.vec4(0.0, 0.0, 0.0, 0.0)
    if ti.abs(det) > _EPS:
        inv = 1.0 / det
        s = p - a
        v = inv * s.dot(h)
        qv = s.cross(e1)
        w = inv * d.dot(qv)
        t = inv * e2.dot(qv)
        if v >= 0.0 and w >= 0.0 and v + w <= 1.0 and t >= 0.0 and t <= 1.0:
            out = ti.math.vec4(1.0, t, v, w)
    return out


@ti.func
def _closer_point(best_s: ti.f64, best_w: ti.math.vec3, best_d: ti.f64, point: ti.math.vec3, s: ti.f64,
                  a: ti.math.vec3, b: ti.math.vec3, c: ti.math.vec3):
    w = _closest_on_triangle(point, a, b, c)
    dist = (point - (w[0] * a + w[1] * b + w[2] * c)).norm()
    if dist < best_d:
        best_s = s
        best_w = w
        best_d = dist
    return best_s, best_w, best_d


@ti.func
def _closer_edge(best_s: ti.f64, best_w: ti.math.vec3, best_d: ti.f64, p0: ti.math.vec3, p1: ti.math.vec3,
                 e0: ti.math.vec3, e1: ti.math.vec3, corner: ti.template()):
    st = _closest_segments(p0, p1, e0, e1)
    dist = ((p0 + st[0] * (p1 - p0)) - (e0 + st[1] * (e1 - e0))).norm()
    if dist < best_d:
        best_s = st[0]
        best_w = ti.math.vec3(0.0, 0.0, 0.0)
        best_w[corner] = 1.0 - st[1]
        best_w[(corner + 1) % 3] = st[1]
        best_d = dist
    return best_s, best_w, best_d


@ti.func
def _closest_segment_triangle(p0: ti.math.vec3, p1: ti.math.vec3, a: ti.math.vec3, b: ti.math.vec3,
                              c: ti.math.vec3):
    """Closest points of segment p0p1 and triangle abc: (segment parameter, barycentric weights, distance); a
    segment through the triangle returns distance 0 at the crossing."""
    cross = _segment_crosses_triangle(p0, p1, a, b, c)
    best_s = 0.0
    best_w = ti.math.vec3(1.0, 0.0, 0.0)
    best_d = 1e300
    if cross[0] > 0.0:
        best_s = cross[1]
        best_w = ti.math.vec3(1.0 - cross[2] - cross[3], cross[2], cross[3])
        best_d = 0.0
    else:
        best_s, best_w, best_d = _closer_point(best_s, best_w, best_d, p0, 0.0, a, b, c)
        best_s, best_w, best_d = _closer_point(best_s, best_w, best_d, p1, 1.0, a, b, c)
        best_s, best_w, best_d = _closer_edge(best_s, best_w, best_d, p0, p1, a, b, 0)
        best_s, best_w, best_d = _closer_edge(best_s, best_w, best_d, p0, p1, b, c, 1)
        best_s, best_w, best_d = _closer_edge(best_s, best_w, best_d, p0, p1, c, a, 2)
    return best_s, best_w, best_d


@ti.func
def _largest_eigenvalue(c: ti.math.mat3) -> ti.f64:
    """The largest eigenvalue of a symmetric 3×3 matrix, in closed form (Smith 1961, Commun ACM 4:168)."""
    off = c[0, 1] * c[0, 1] + c[0, 2] * c[0, 2] + c[1, 2] * c[1, 2]
    q = (c[0, 0] + c[1, 1] + c[2, 2]) / 3.0
    largest = q
    p2 = (c[0, 0] - q) ** 2 + (c[1, 1] - q) ** 2 + (c[2, 2] - q) ** 2 + 2.0 * off
    if p2 > 1e-30 * q * q:
        p = ti.sqrt(p2 / 6.0)
        b = (c - q * ti.math.eye(3)) / p
        r = ti.min(ti.max(b.determinant() / 2.0, -1.0), 1.0)
        if ti.static(float64_transcendentals()):
            largest = q + 2.0 * p * ti.cos(ti.acos(r) / 3.0)
        else:
            # SPIR-V (Vulkan, Metal) has no float64 acos or cos: w = cos(acos(r) / 3) in float32, then Newton on the
            # triple-angle identity 4w³ − 3w = r in float64 (w lies in [1/2, 1], where the slope 12w² − 3 vanishes
            # only at r = −1, a double eigenvalue that float64's own acos resolves no better).
            w = ti.cast(ti.cos(ti.acos(ti.cast(r, ti.f32)) * ti.f32(1.0 / 3.0)), ti.f64)
            for _ in ti.static(range(2)):
                slope = 12.0 * w * w - 3.0
                if slope > 1e-6:
                    w -= (4.0 * w * w * w - 3.0 * w - r) / slope
            largest = q + 2.0 * p * w
    return largest


@ti.func
def _right_cauchy_green(x: ti.template(), fbuf: ti.template(), ibuf: ti.template(), tets: ti.i32, inverse: ti.i32,
                        t: ti.i32) -> ti.math.mat3:
    """C = FᵀF of tet t, F = D D₀⁻¹ (see tool_contact.py, "Measurements"); λ₁² is its largest eigenvalue."""
    a = x[ibuf[tets + 4 * t]]
    d = ti.math.mat3(0.0)
    for k in ti.static(range(3)):
        edge = x[ibuf[tets + 4 * t + k + 1]] - a
        for r in ti.static(range(3)):
            d[r, k] = edge[r]
    d0_inv = ti.math.mat3(0.0)
    for r in ti.static(range(3)):
        for k in ti.static(range(3)):
            d0_inv[r, k] = fbuf[inverse + 9 * t + 3 * r + k]
    f = d @ d0_inv
    return f.transpose() @ f


@ti.func
def _averaged_cauchy_green(x: ti.template(), fbuf: ti.template(), ibuf: ti.template(), io: ti.template(),
                           t: ti.i32) -> ti.math.mat3:
    """C averaged over tet t's tear neighbourhood (its live, finite-limit tets, weighted by rest volume; t itself
    is one): the strain over the tear length instead of one element's (see tool_contact.py, "Measurements")."""
    tets = _isec(io, I_TETS)
    inverse = _fsec(io, F_REST_INVERSE)
    live = _isec(io, I_TET_LIVE)
    failure = _fsec(io, F_FAILURE_STRETCH)
    near_offsets = _isec(io, I_NEAR_OFFSETS)
    near = _isec(io, I_NEAR)
    weight = _fsec(io, F_NEAR_WEIGHT)
    total = ti.math.mat3(0.0)
    volume = 0.0
    for e in range(ibuf[near_offsets + t], ibuf[near_offsets + t + 1]):
        other = ibuf[near + e]
        if ibuf[live + other] != 0 and fbuf[failure + other] < 1e300:
            total += fbuf[weight + e] * _right_cauchy_green(x, fbuf, ibuf, tets, inverse, other)
            volume += fbuf[weight + e]
    return total / ti.max(volume, 1e-300)


@ti.func
def _gershgorin_bound(c: ti.math.mat3) -> ti.f64:
    """An upper bound of the largest eigenvalue of a symmetric 3×3 matrix (Gershgorin's discs)."""
    return ti.max(c[0, 0] + ti.abs(c[0, 1]) + ti.abs(c[0, 2]),
                  ti.max(c[1, 1] + ti.abs(c[0, 1]) + ti.abs(c[1, 2]), c[2, 2] + ti.abs(c[0, 2]) + ti.abs(c[1, 2])))


@ti.func
def _pressed_nearby(ibuf: ti.template(), io: ti.template(), tets: ti.i32, capsule: ti.i32, t: ti.i32) -> ti.i32:
    """Whether a tool presses on or grips a node of tet t or a node joined to one by a spring (indentation: a tool
    pressing on a node strains the tets around it, and a mass-spring network resolves that strain no finer than
    one edge)."""
    offsets = _isec(io, I_OFFSETS)
    neighbors = _isec(io, I_NEIGHBORS)
    gripped = _isec(io, I_GRIPPED)
    pressed = 0
    for k in ti.static(range(4)):
        node = ibuf[tets + 4 * t + k]
        if ibuf[capsule + node] >= 0 or ibuf[gripped + node] != 0:
            pressed = 1
        for e in range(ibuf[offsets + node], ibuf[offsets + node + 1]):
            other = ibuf[neighbors + e]
            if ibuf[capsule + other] >= 0 or ibuf[gripped + other] != 0:
                pressed = 1
    return pressed


@ti.func
def _tear_test(x: ti.template(), fbuf: ti.template(), ibuf: ti.template(), io: ti.template(), counters: ti.i32,
               checking: ti.i32, serial: ti.template()):
    """Flag the live tets whose maximum principal stretch, their own and averaged over their tear neighbourhood, has
    exceeded their failure stretch for ``tear_checks`` tests in a row (not where a tool presses: see
    :func:`_pressed_nearby`); none when not ``checking`` (1 or 0)."""
    tets = _isec(io, I_TETS)
    live = _isec(io, I_TET_LIVE)
    over = _isec(io, I_OVERSTRAINED)
    tet_flags = _isec(io, I_TET_FLAGS)
    capsule = _isec(io, I_CAPSULE)
    failure = _fsec(io, F_FAILURE_STRETCH)
    inverse = _fsec(io, F_REST_INVERSE)
    tear_checks = ti.cast(io[ROW_HEADER, H_TEAR_CHECKS], ti.i32)
    if ti.static(serial):
        ti.loop_config(serialize=True)
    for t in range(ti.cast(io[ROW_HEADER, H_TET_COUNT], ti.i32) * checking):
        flag = 0
        strained = 0
        limit = fbuf[failure + t]
        if ibuf[live + t] != 0 and limit < 1e300:
            c = _right_cauchy_green(x, fbuf, ibuf, tets, inverse, t)
            # The closed form's acos and cos only where the cheap bound says the tet may be over the limit, and the
            # neighbourhood's contacts only for a tet over it.
            if _gershgorin_bound(c) > limit * limit:
                if _largest_eigenvalue(c) > limit * limit:
                    if _pressed_nearby(ibuf, io, tets, capsule, t) == 0:
                        if _largest_eigenvalue(_averaged_cauchy_green(x, fbuf, ibuf, io, t)) > limit * limit:
                            strained = 1
        if strained != 0:
            ibuf[over + t] += 1
            if ibuf[over + t] >= tear_checks:
                flag = FLAG_TORN
        else:
            ibuf[over + t] = 0
        ibuf[tet_flags + t] = flag
        if flag == FLAG_TORN:
            ti.atomic_add(io[counters, COUNT_TORN], 1.0)


@ti.func
def _node_contact(i: ti.i32, x_in: ti.template(), x_out: ti.template(), v_out: ti.template(), a_out: ti.template(),
                  f_out: ti.template(), fbuf: ti.template(), ibuf: ti.template(), io: ti.template(), mass: ti.i32,
                  param: ti.i32, normal_at: ti.i32, push_at: ti.i32, x_step_at: ti.i32, capsule: ti.i32,
                  force_cap: ti.i32, dt: ti.f64, h2: ti.f64) -> ti.f64:
    """Node i's contact force this tick (normal, Coulomb friction, capped), its state corrected to it; returns the
    force's magnitude (0: no contact, and the node's capsule is cleared)."""
    magnitude = 0.0
    cap = ibuf[capsule + i]
    if cap >= 0:
        row = ROW_CAPSULES + cap
        m = fbuf[mass + i]
        x_step = _get3(fbuf, x_step_at + 3 * i)
        previous_normal = _get3(fbuf, normal_at + 3 * i)
        applied = f_out[i]
        carried = ti.max(applied.dot(previous_normal), 0.0)
        along = carried * previous_normal + (m / h2) * _get3(fbuf, push_at + 3 * i)
        size = along.norm()
        total = ti.math.vec3(0.0, 0.0, 0.0)
        # A pull-back that used up the carried force leaves a rounding residue, not a contact.
        if size > 1e-9 * carried and size > 0.0 and _flag(io, row, CAPSULE_ENABLED):
            normal = along / size
            slip = (x_out[i] - x_in[i]) - _tool_motion(io, row, fbuf[param + i])
            slip_t = slip - slip.dot(normal) * normal
            trial = applied + (m / h2) * ((x_out[i] - slip_t) - x_step)
            fn = trial.dot(normal)
            if fn > 0.0:
                ft = trial - fn * normal
                limit = io[row, C_FRICTION] * fn
                ft_size = ft.norm()
                if ft_size > limit:
                    ft *= limit / ft_size
                total = fn * normal + ft
                # Cap (see tool_contact.py): this tick's correction moves the node at most one spring length ℓ,
                # and the force it carries into the next solve at most pushes it ℓ against its springs.
                reach = fbuf[force_cap + 2 * i + 1]
                change = total - applied
                change_size = change.norm()
                if change_size > m / h2 * reach:
                    total = applied + change * (m / h2 * reach / change_size)
                limit = (m / h2 + fbuf[force_cap + 2 * i]) * reach
                total_size = total.norm()
                if total_size > limit:
                    total *= limit / total_size
                _set3(fbuf, normal_at + 3 * i, normal)
        magnitude = total.norm()
        if magnitude == 0.0:
            ibuf[capsule + i] = -1
        x_final = x_step + (total - applied) * (h2 / m)
        correction = x_final - x_step
        x_out[i] = x_final
        v_out[i] += correction / dt
        a_out[i] += correction / h2
        f_out[i] = total
    return magnitude


@ti.func
def _contact_sums(i: ti.i32, cap: ti.i32, x_final: ti.math.vec3, total: ti.math.vec3, magnitude: ti.f64,
                  fbuf: ti.template(), io: ti.template(), out: ti.i32, counters: ti.i32, burn: ti.i32,
                  burn_rate: ti.f64, dt: ti.f64):
    """Node i's contact (force ``total`` of ``magnitude`` at ``x_final``, on capsule ``cap``) added to its capsule's
    sums and the counters, in node order; an energized capsule burns the node."""
    row = ROW_CAPSULES + cap
    for k in ti.static(range(3)):
        io[out + cap, OUT_FORCE + k] -= total[k]
        io[out + cap, OUT_POINT + k] += magnitude * x_final[k]
        io[counters, COUNT_FORCE + k] += total[k]
    io[out + cap, OUT_WEIGHT] += magnitude
    io[out + cap, OUT_COUNT] += 1.0
    if magnitude > io[out + cap, OUT_STRONGEST_FORCE]:
        io[out + cap, OUT_STRONGEST_FORCE] = magnitude
        io[out + cap, OUT_STRONGEST] = float(i)
    if _flag(io, row, CAPSULE_ENERGIZED):
        io[out + cap, OUT_ENERGIZED] += 1.0
        before = fbuf[burn + i]
        fbuf[burn + i] = ti.min(1.0, before + burn_rate * dt)
        if before < 1.0 and fbuf[burn + i] >= 1.0:
            io[counters, COUNT_CHARRED] += 1.0


# -- the pass --------------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def post_step_kernel(serial: bool):
    """The pass, its order-independent loops parallel or (``serial``: cheaper for small meshes on a CPU) not."""

    @ti.kernel
    def post_step(x_in: V3, v_in: V3, x_out: V3, v_out: V3, a_out: V3, f_out: V3, anchor: V4, fbuf: F1, ibuf: I1,
                  io: F2):
        _post_step(x_in, v_in, x_out, v_out, a_out, f_out, anchor, fbuf, ibuf, io, serial)

    return post_step


@ti.func
def _post_step(x_in: V3, v_in: V3, x_out: V3, v_out: V3, a_out: V3, f_out: V3, anchor: V4, fbuf: F1, ibuf: I1,
               io: F2, serial: ti.template()):
    dt = io[ROW_HEADER, H_DT]
    h2 = dt * dt
    skin = io[ROW_HEADER, H_SKIN]
    n_capsules = ti.cast(io[ROW_HEADER, H_CAPSULES], ti.i32)
    out = ti.cast(io[ROW_HEADER, H_OUTPUT_ROW], ti.i32)
    counters = out + n_capsules + ti.cast(io[ROW_HEADER, H_GRASPS], ti.i32)
    mass = _fsec(io, F_MASS)
    drag = _fsec(io, F_DRAG)
    param = _fsec(io, F_PARAM)
    burn = _fsec(io, F_BURN)
    normal_at = _fsec(io, F_NORMAL)
    push_at = _fsec(io, F_PUSH)
    x_step_at = _fsec(io, F_X_STEP)
    capsule = _isec(io, I_CAPSULE)
    triangles = _isec(io, I_TRIANGLES)
    tri_mask = _isec(io, I_TRI_MASK)
    node_lo = ti.cast(io[ROW_HEADER, H_NODE_LO], ti.i32)
    node_hi = ti.cast(io[ROW_HEADER, H_NODE_HI], ti.i32)

    # -- 1. warm start: a node pushed last tick kept that force during the step; where it moved away from the tool
    #       (the force over-pushed it), pull it back, at most by what the force did (a contact cannot pull) -------
    if ti.static(serial):  # each node alone: parallel on a GPU (a serialised loop there runs on one thread)
        ti.loop_config(serialize=True)
    for i in range(node_lo, node_hi):
        _set3(fbuf, x_step_at + 3 * i, x_out[i])
        _set3(fbuf, push_at + 3 * i, ti.math.vec3(0.0, 0.0, 0.0))
        cap = ibuf[capsule + i]
        if cap >= 0 and anchor[i][3] > 0.0:
            # The solver ignores forces on anchored nodes: nothing acted, drop it.
            ibuf[capsule + i] = -1
            f_out[i] = ti.math.vec3(0.0, 0.0, 0.0)
        elif cap >= 0 and _flag(io, ROW_CAPSULES + cap, CAPSULE_ENABLED):
            normal = _get3(fbuf, normal_at + 3 * i)
            fn = f_out[i].dot(normal)
            if fn > 0.0:
                moved = ((x_out[i] - x_in[i]) - _tool_motion(io, ROW_CAPSULES + cap, fbuf[param + i])).dot(normal)
                if moved > 0.0:
                    back = ti.min(moved, fn * h2 / fbuf[mass + i]) * normal
                    x_out[i] -= back
                    _set3(fbuf, push_at + 3 * i, -back)

    # -- 2. broad phase: which capsules may touch each surface triangle (independent per triangle), after one test
    #       against the box around all of them (row ROW_BOUNDS: 0:6 sensing or pushing capsules, 6:12 pushing) -----
    ti.loop_config(serialize=True)
    for _ in range(1):
        for k in ti.static(range(3)):
            io[ROW_BOUNDS, B_REACH_LO + k] = 1e300
            io[ROW_BOUNDS, B_REACH_HI + k] = -1e300
            io[ROW_BOUNDS, B_PUSH_LO + k] = 1e300
            io[ROW_BOUNDS, B_PUSH_HI + k] = -1e300
        for c in range(n_capsules):
            row = ROW_CAPSULES + c
            reach = io[row, C_RADIUS] + skin
            lo = ti.min(_row3(io, row, C_P0), _row3(io, row, C_P1)) - reach
            hi = ti.max(_row3(io, row, C_P0), _row3(io, row, C_P1)) + reach
            if _flag(io, row, CAPSULE_ENABLED | CAPSULE_SENSE):
                for k in ti.static(range(3)):
                    io[ROW_BOUNDS, B_REACH_LO + k] = ti.min(io[ROW_BOUNDS, B_REACH_LO + k], lo[k])
                    io[ROW_BOUNDS, B_REACH_HI + k] = ti.max(io[ROW_BOUNDS, B_REACH_HI + k], hi[k])
            if _flag(io, row, CAPSULE_ENABLED):
                for k in ti.static(range(3)):
                    io[ROW_BOUNDS, B_PUSH_LO + k] = ti.min(io[ROW_BOUNDS, B_PUSH_LO + k], lo[k])
                    io[ROW_BOUNDS, B_PUSH_HI + k] = ti.max(io[ROW_BOUNDS, B_PUSH_HI + k], hi[k])
    n_triangles = ti.cast(io[ROW_HEADER, H_TRIANGLES], ti.i32)
    if ti.static(serial):
        ti.loop_config(serialize=True)
    for t in range(n_triangles):
        tri = ti.math.ivec3(ibuf[triangles + 3 * t], ibuf[triangles + 3 * t + 1], ibuf[triangles + 3 * t + 2])
        mask = 0
        near = False
        lo = ti.math.vec3(0.0, 0.0, 0.0)
        hi = ti.math.vec3(0.0, 0.0, 0.0)
        if tri[0] >= node_lo and tri[0] < node_hi:  # not a resting organ's (a triangle's nodes are one organ's)
            lo = ti.min(ti.min(x_out[tri[0]], x_out[tri[1]]), x_out[tri[2]])
            hi = ti.max(ti.max(x_out[tri[0]], x_out[tri[1]]), x_out[tri[2]])
            near = (_row3(io, ROW_BOUNDS, B_REACH_LO) <= hi).all() and (lo <= _row3(io, ROW_BOUNDS, B_REACH_HI)).all()
        for c in range(n_capsules * near):
            row = ROW_CAPSULES + c
            if _flag(io, row, CAPSULE_ENABLED | CAPSULE_SENSE):
                reach = io[row, C_RADIUS] + skin
                p0 = _row3(io, row, C_P0)
                p1 = _row3(io, row, C_P1)
                if (ti.min(p0, p1) - reach <= hi).all() and (lo <= ti.max(p0, p1) + reach).all():
                    mask |= 1 << c
        ibuf[tri_mask + t] = mask

    # -- 3. narrow phase, Gauss-Seidel in a fixed order: push each penetrating triangle out of the capsule --------
    ti.loop_config(serialize=True)
    for t in range(n_triangles):
        mask = ibuf[tri_mask + t]
        if mask != 0:
            tri = ti.math.ivec3(ibuf[triangles + 3 * t], ibuf[triangles + 3 * t + 1], ibuf[triangles + 3 * t + 2])
            for c in range(n_capsules):
                if (mask >> c) & 1:
                    row = ROW_CAPSULES + c
                    p0 = _row3(io, row, C_P0)
                    p1 = _row3(io, row, C_P1)
                    reach = io[row, C_RADIUS] + skin
                    a = x_out[tri[0]]
                    b = x_out[tri[1]]
                    cc = x_out[tri[2]]
                    s, w, dist = _closest_segment_triangle(p0, p1, a, b, cc)
                    if dist < reach and not _flag(io, row, CAPSULE_ENABLED):
                        io[out + c, OUT_SENSED] += 1.0
                    elif dist < reach:
                        direction = ti.math.vec3(0.0, 0.0, 0.0)
                        depth = 0.0
                        if dist > 0.0:
                            direction = ((w[0] * a + w[1] * b + w[2] * cc) - (p0 + s * (p1 - p0))) / dist
                            depth = reach - dist
                        else:
                            # The axis crossed the face: push the face inward past the deeper end.
                            normal = (b - a).cross(cc - a).normalized()
                            direction = -normal
                            depth = reach + ti.max(0.0, -ti.min((p0 - a).dot(normal), (p1 - a).dot(normal)))
                        inv_mass = ti.math.vec3(0.0, 0.0, 0.0)
                        for k in ti.static(range(3)):
                            if anchor[tri[k]][3] <= 0.0:
                                inv_mass[k] = 1.0 / fbuf[mass + tri[k]]
                        weight = (inv_mass * w * w).sum()
                        if weight > 0.0:
                            lam = depth / weight
                            for k in ti.static(range(3)):
                                share = inv_mass[k] * w[k]
                                if share > 0.0:
                                    node = tri[k]
                                    move = (share * lam) * direction
                                    x_out[node] += move
                                    _set3(fbuf, push_at + 3 * node, _get3(fbuf, push_at + 3 * node) + move)
                                    ibuf[capsule + node] = c
                                    fbuf[param + node] = s

    # -- 3b. nodes inside a capsule (a tool that got under the surface, or a surface folded over an interior node):
    #        each is pushed out to the nearest point of the capsule surface -----------------------------------------
    if ti.static(serial):  # each node alone, as in 1.
        ti.loop_config(serialize=True)
    for i in range(node_lo, node_hi):
        x_i = x_out[i]
        near = (_row3(io, ROW_BOUNDS, B_PUSH_LO) <= x_i).all() and (x_i <= _row3(io, ROW_BOUNDS, B_PUSH_HI)).all()
        if anchor[i][3] <= 0.0 and near:
            for c in range(n_capsules):
                row = ROW_CAPSULES + c
                if _flag(io, row, CAPSULE_ENABLED):
                    p0 = _row3(io, row, C_P0)
                    p1 = _row3(io, row, C_P1)
                    reach = io[row, C_RADIUS] + skin
                    x = x_out[i]
                    if (ti.min(p0, p1) - reach <= x).all() and (x <= ti.max(p0, p1) + reach).all():
                        axis = p1 - p0
                        length2 = axis.dot(axis)
                        s = 0.0
                        if length2 > 0.0:
                            s = ti.min(ti.max((x - p0).dot(axis) / length2, 0.0), 1.0)
                        offset = x - (p0 + s * axis)
                        dist = offset.norm()
                        if dist < reach and dist > 0.0:
                            move = (reach - dist) / dist * offset
                            x_out[i] += move
                            _set3(fbuf, push_at + 3 * i, _get3(fbuf, push_at + 3 * i) + move)
                            ibuf[capsule + i] = c
                            fbuf[param + i] = s

    # -- 4. per node: contact normal, Coulomb friction, total force; state corrections; sums per capsule ----------
    burn_rate = io[ROW_HEADER, H_BURN_RATE]
    force_cap = _fsec(io, F_CAP)
    if ti.static(serial):
        ti.loop_config(serialize=True)
        for i in range(node_lo, node_hi):
            magnitude = _node_contact(i, x_in, x_out, v_out, a_out, f_out, fbuf, ibuf, io, mass, param, normal_at,
                                      push_at, x_step_at, capsule, force_cap, dt, h2)
            if magnitude > 0.0:
                _contact_sums(i, ibuf[capsule + i], x_out[i], f_out[i], magnitude, fbuf, io, out, counters, burn,
                              burn_rate, dt)
    else:
        # Each node's force in parallel, then the sums over the touching nodes on one thread in node order: the same
        # sums in the same order as on one thread (float sums in another order would differ run to run).
        for i in range(node_lo, node_hi):
            _node_contact(i, x_in, x_out, v_out, a_out, f_out, fbuf, ibuf, io, mass, param, normal_at, push_at,
                          x_step_at, capsule, force_cap, dt, h2)
        ti.loop_config(serialize=True)
        for i in range(node_lo, node_hi):
            cap = ibuf[capsule + i]
            if cap >= 0:  # the pass left a node's capsule only where its force is not zero
                total = f_out[i]
                _contact_sums(i, cap, x_out[i], total, total.norm(), fbuf, io, out, counters, burn, burn_rate, dt)

    # -- 5. tets strained beyond failure for long enough (tear); springs crossed by a cutter triangle (scissors) ---
    # Loops with empty ranges on passes that check nothing, not loops inside an `if`: a loop inside a branch runs
    # on one thread on a GPU, and on Vulkan the pass after such a branch read wrong values (the grasp force was
    # ~0 on every checking pass: tests/gpu).
    checking = ti.cast(ti.cast(io[ROW_HEADER, H_SPRINGS], ti.i32) != 0, ti.i32)
    _tear_test(x_out, fbuf, ibuf, io, counters, checking, serial)
    n_cutters = ti.cast(io[ROW_HEADER, H_CUTTERS], ti.i32)
    springs = _isec(io, I_SPRINGS)
    active = _isec(io, I_ACTIVE)
    flags = _isec(io, I_FLAGS)
    spring_lo = ti.cast(io[ROW_HEADER, H_SPRING_LO], ti.i32)
    spring_hi = ti.cast(io[ROW_HEADER, H_SPRING_HI], ti.i32)
    if ti.static(serial):
        ti.loop_config(serialize=True)
    for e in range(spring_lo, spring_lo + (spring_hi - spring_lo) * checking):
        flag = 0
        if ibuf[active + e] != 0 and n_cutters > 0:
            p = x_out[ibuf[springs + 2 * e]]
            q = x_out[ibuf[springs + 2 * e + 1]]
            for k in range(n_cutters):
                row = ROW_CAPSULES + n_capsules + k
                a = _row3(io, row, CUT_A)
                b = _row3(io, row, CUT_B)
                c = _row3(io, row, CUT_C)
                lo = ti.min(ti.min(a, b), c)
                hi = ti.max(ti.max(a, b), c)
                if flag == 0 and (ti.min(p, q) <= hi).all() and (lo <= ti.max(p, q)).all():
                    if _segment_crosses_triangle(p, q, a, b, c)[0] > 0.0:
                        flag = FLAG_CUT0 + k
        ibuf[flags + e] = flag
        # Adding 1.0 is exact in float64, so the totals do not depend on the order of the atomic adds.
        if flag >= FLAG_CUT0:
            ti.atomic_add(io[counters, COUNT_CUT], 1.0)

    # -- 6. grasps: the force each group of anchored nodes needs to move as it did, and the pull of its attached
    #       nodes' springs --------------------------------------------------------------------------------------
    gravity = _row3(io, ROW_HEADER, H_GRAVITY)
    grasp_nodes = _isec(io, I_GRASP_NODES)
    grasp_group = _isec(io, I_GRASP_GROUP)
    offsets = _isec(io, I_OFFSETS)
    neighbors = _isec(io, I_NEIGHBORS)
    entries = _fsec(io, F_ENTRIES)
    ti.loop_config(serialize=True)
    for g in range(ti.cast(io[ROW_HEADER, H_GRASPED], ti.i32)):
        i = ibuf[grasp_nodes + g]
        xi = x_out[i]
        held = anchor[i]
        need = ti.math.vec3(0.0, 0.0, 0.0)
        if held[3] < 0.0:
            need = (-held[3]) * (ti.math.vec3(held[0], held[1], held[2]) - xi)
        elif held[3] > 0.0:
            m = fbuf[mass + i]
            xn = x_in[i]
            need = (m / h2) * (xi - (xn + dt * v_in[i] + h2 * gravity)) + (fbuf[drag + i] * m / dt) * (xi - xn)
            for e in range(ibuf[offsets + i], ibuf[offsets + i + 1]):
                j = ibuf[neighbors + e]
                entry = _get3(fbuf, entries + 3 * e)  # rest length, stiffness, dashpot
                xij = xi - x_out[j]
                length = xij.norm()
                d = ti.math.vec3(0.0, 0.0, 0.0)
                if length > 0.0:
                    d = xij / length
                need += entry[1] * (xij - entry[0] * d)
                if entry[2] > 0.0:
                    need += (entry[2] / dt * d.dot(xij - (xn - x_in[j]))) * d
        row = out + n_capsules + ibuf[grasp_group + g]
        for k in ti.static(range(3)):
            io[row, GRASP_FORCE + k] += need[k]
        io[row, GRASP_COUNT] += 1.0
