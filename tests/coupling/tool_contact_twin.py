"""NumPy twin of the post-step pass (surgsim.tissue.kernels_tool_contact), used only by tests.

The same steps in the same order: per-node loops are vectorised (each node is independent), the Gauss-Seidel
narrow phase is a Python loop over the same (triangle, capsule) pairs in the same order. Results agree with the Taichi
kernel to rounding (sums are formed in a different order).
"""

from __future__ import annotations

import numpy as np

from surgsim.tissue.contact_layout import (
    C_FLAGS, C_FRICTION, C_P0, C_P0_BEFORE, C_P1, C_P1_BEFORE, C_RADIUS, CUT_A, CUT_B, CUT_C,
    CAPSULE_ENABLED, CAPSULE_ENERGIZED, CAPSULE_SENSE, COUNT_CHARRED, COUNT_CUT, COUNT_FORCE, COUNT_TORN, FLAG_CUT0,
    FLAG_TORN, H_BURN_RATE, H_CAPSULES, H_CUTTERS, H_DT, H_GRASPED, H_GRASPS, H_GRAVITY, H_OUTPUT_ROW,
    H_SKIN, H_SPRINGS, H_TEAR_CHECKS, H_TRIANGLES, H_NODE_LO, H_NODE_HI, H_SPRING_LO, H_SPRING_HI, OUT_COUNT,
    OUT_ENERGIZED, OUT_FORCE, OUT_POINT, OUT_SENSED,
    OUT_STRONGEST, OUT_STRONGEST_FORCE, OUT_WEIGHT, ROW_CAPSULES,
)

_WIDTHS = {"normal": 3, "push": 3, "x_step": 3, "entries": 3, "springs": 2, "triangles": 3, "tets": 4, "cap": 2,
           "rest_inverse": 9}


def buffers_numpy(contact) -> dict[str, np.ndarray]:
    """Host copies of a ``ToolContact``'s buffer sections, by name (vector sections as [K, width] views)."""
    sections = {}
    for buffer in (contact._floats, contact._ints):
        host = buffer.read()
        for name in buffer.names:
            view = buffer.section(host, name)
            sections[name] = view.reshape(-1, _WIDTHS[name]) if name in _WIDTHS else view
    return sections


def _closest_on_triangle(p, a, b, c):
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = ab @ ap, ac @ ap
    bp = p - b
    d3, d4 = ab @ bp, ac @ bp
    cp = p - c
    d5, d6 = ab @ cp, ac @ cp
    vc = d1 * d4 - d3 * d2
    vb = d5 * d2 - d1 * d6
    va = d3 * d6 - d5 * d4
    if d1 <= 0 and d2 <= 0:
        return np.array([1.0, 0.0, 0.0])
    if d3 >= 0 and d4 <= d3:
        return np.array([0.0, 1.0, 0.0])
    if vc <= 0 and d1 >= 0 and d3 <= 0:
        v = d1 / (d1 - d3)
        return np.array([1 - v, v, 0.0])
    if d6 >= 0 and d5 <= d6:
        return np.array([0.0, 0.0, 1.0])
    if vb <= 0 and d2 >= 0 and d6 <= 0:
        t = d2 / (d2 - d6)
        return np.array([1 - t, 0.0, t])
    if va <= 0 and (d4 - d3) >= 0 and (d5 - d6) >= 0:
        t = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        return np.array([0.0, 1 - t, t])
    denom = 1.0 / (va + vb + vc)
    v, t = vb * denom, vc * denom
    return np.array([1 - v - t, v, t])


def _closest_segments(p1, q1, p2, q2):
    d1, d2, r = q1 - p1, q2 - p2, p1 - p2
    a, e, f = d1 @ d1, d2 @ d2, d2 @ r
    eps = 1e-30
    s = t = 0.0
    if a <= eps and e <= eps:
        return 0.0, 0.0
    if a <= eps:
        return 0.0, min(max(f / e, 0.0), 1.0)
    c = d1 @ r
    if e <= eps:
        return min(max(-c / a, 0.0), 1.0), 0.0
    b = d1 @ d2
    denom = a * e - b * b
    if denom != 0:
        s = min(max((b * f - c * e) / denom, 0.0), 1.0)
    t = (b * s + f) / e
    if t < 0:
        t, s = 0.0, min(max(-c / a, 0.0), 1.0)
    elif t > 1:
        t, s = 1.0, min(max((b - c) / a, 0.0), 1.0)
    return s, t


def segment_crosses_triangle(p, q, a, b, c):
    """(hit, segment parameter, v, w) like the kernel's Möller-Trumbore test."""
    d, e1, e2 = q - p, b - a, c - a
    h = np.cross(d, e2)
    det = e1 @ h
    if abs(det) <= 1e-30:
        return False, 0.0, 0.0, 0.0
    inv = 1.0 / det
    s = p - a
    v = inv * (s @ h)
    qv = np.cross(s, e1)
    w = inv * (d @ qv)
    t = inv * (e2 @ qv)
    hit = v >= 0 and w >= 0 and v + w <= 1 and 0 <= t <= 1
    return hit, t, v, w


def _closest_segment_triangle(p0, p1, a, b, c):
    hit, t, v, w = segment_crosses_triangle(p0, p1, a, b, c)
    if hit:
        return t, np.array([1 - v - w, v, w]), 0.0
    best = (0.0, np.array([1.0, 0.0, 0.0]), 1e300)
    for point, s in ((p0, 0.0), (p1, 1.0)):
        bw = _closest_on_triangle(point, a, b, c)
        dist = np.linalg.norm(point - (bw[0] * a + bw[1] * b + bw[2] * c))
        if dist < best[2]:
            best = (s, bw, dist)
    for corner, (e0, e1) in enumerate(((a, b), (b, c), (c, a))):
        s, t = _closest_segments(p0, p1, e0, e1)
        dist = np.linalg.norm((p0 + s * (p1 - p0)) - (e0 + t * (e1 - e0)))
        if dist < best[2]:
            bw = np.zeros(3)
            bw[corner], bw[(corner + 1) % 3] = 1 - t, t
            best = (s, bw, dist)
    return best


def post_step(x_in, v_in, x_out, v_out, a_out, f_out, anchor, io, f):
    """The pass on numpy arrays; ``x_out``/``v_out``/``a_out``/``f_out``, the output rows of ``io`` and the sections
    ``f`` (from :func:`buffers_numpy`) are updated in place, like the kernel's arguments. ``anchor`` [N, 4] is the
    solver's anchor table (target, flag: +1 anchored, -k attached, 0 free)."""
    n = len(x_out)
    header = io[0]
    outputs = io[int(header[H_OUTPUT_ROW]):]
    dt = header[H_DT]
    h2 = dt * dt
    skin = header[H_SKIN]
    n_caps, n_cut, n_grasps = int(header[H_CAPSULES]), int(header[H_CUTTERS]), int(header[H_GRASPS])
    counters = n_caps + n_grasps
    # The awake window: the pass leaves the resting nodes, their springs and surface triangles alone.
    lo, hi = int(header[H_NODE_LO]), int(header[H_NODE_HI])
    awake = np.zeros(n, dtype=bool)
    awake[lo:hi] = True
    caps = io[ROW_CAPSULES:ROW_CAPSULES + n_caps]
    enabled = (caps[:, C_FLAGS].astype(np.int64) & CAPSULE_ENABLED) != 0
    sensing = (caps[:, C_FLAGS].astype(np.int64) & CAPSULE_SENSE) != 0
    energized = (caps[:, C_FLAGS].astype(np.int64) & CAPSULE_ENERGIZED) != 0
    mass = f["mass"][:n]

    def tool_motion(cap, s):
        row = caps[cap]
        now = row[C_P0:C_P0 + 3] + s[:, None] * (row[C_P1:C_P1 + 3] - row[C_P0:C_P0 + 3])
        b0, b1 = row[C_P0_BEFORE:C_P0_BEFORE + 3], row[C_P1_BEFORE:C_P1_BEFORE + 3]
        before = b0 + s[:, None] * (b1 - b0)
        return now - before

    def tool_motions(cap_ids, s):
        out = np.zeros((len(cap_ids), 3))
        for c in np.unique(cap_ids):
            sel = cap_ids == c
            out[sel] = tool_motion(c, s[sel])
        return out

    # 1. warm start
    f["x_step"][lo:hi] = x_out[lo:hi]
    f["push"][lo:hi] = 0.0
    cap = f["capsule"][:n]
    anchored = np.asarray(anchor)[:n, 3] > 0.0
    dropped = (cap >= 0) & anchored & awake
    f_out[dropped] = 0.0
    cap[dropped] = -1
    live = np.flatnonzero((cap >= 0) & enabled[np.maximum(cap, 0)] & awake)
    normal = f["normal"][live]
    fn = np.einsum("ij,ij->i", f_out[live], normal)
    moved = np.einsum("ij,ij->i", (x_out[live] - x_in[live]) - tool_motions(cap[live], f["param"][live]), normal)
    pull = (fn > 0) & (moved > 0)
    back = np.minimum(moved, fn * h2 / mass[live])[:, None] * normal
    ids = live[pull]
    x_out[ids] -= back[pull]
    f["push"][ids] -= back[pull]

    # 2-3. broad and narrow phase
    tris = f["triangles"][: int(header[H_TRIANGLES])]
    corners = x_out[tris]
    lo_t, hi_t = corners.min(axis=1), corners.max(axis=1)
    candidate = np.zeros((len(tris), n_caps), dtype=bool)
    tri_awake = awake[tris[:, 0]] if len(tris) else np.zeros(0, dtype=bool)
    for c in np.flatnonzero(enabled | sensing):
        reach = caps[c, C_RADIUS] + skin
        p0, p1 = caps[c, C_P0:C_P0 + 3], caps[c, C_P1:C_P1 + 3]
        candidate[:, c] = tri_awake & np.all(np.minimum(p0, p1) - reach <= hi_t, axis=1) & np.all(
            lo_t <= np.maximum(p0, p1) + reach, axis=1)
    for t, c in zip(*np.nonzero(candidate)):
        tri = tris[t]
        p0, p1 = caps[c, C_P0:C_P0 + 3], caps[c, C_P1:C_P1 + 3]
        reach = caps[c, C_RADIUS] + skin
        a, b, cc = x_out[tri[0]].copy(), x_out[tri[1]].copy(), x_out[tri[2]].copy()
        s, w, dist = _closest_segment_triangle(p0, p1, a, b, cc)
        if dist >= reach:
            continue
        if not enabled[c]:
            outputs[c, OUT_SENSED] += 1
            continue
        if dist > 0:
            direction = ((w[0] * a + w[1] * b + w[2] * cc) - (p0 + s * (p1 - p0))) / dist
            depth = reach - dist
        else:
            normal = np.cross(b - a, cc - a)
            normal /= np.linalg.norm(normal)
            direction = -normal
            depth = reach + max(0.0, -min((p0 - a) @ normal, (p1 - a) @ normal))
        inv_mass = np.where(anchored[tri], 0.0, 1.0 / mass[tri])
        weight = np.sum(inv_mass * w * w)
        if weight <= 0:
            continue
        lam = depth / weight
        for k in range(3):
            share = inv_mass[k] * w[k]
            if share > 0:
                move = (share * lam) * direction
                x_out[tri[k]] += move
                f["push"][tri[k]] += move
                f["capsule"][tri[k]] = c
                f["param"][tri[k]] = s

    # 3b. nodes inside a capsule
    for i in range(lo, hi):
        if anchored[i]:
            continue
        for c in np.flatnonzero(enabled):
            p0, p1 = caps[c, C_P0:C_P0 + 3], caps[c, C_P1:C_P1 + 3]
            reach = caps[c, C_RADIUS] + skin
            x = x_out[i]
            if not (np.all(np.minimum(p0, p1) - reach <= x) and np.all(x <= np.maximum(p0, p1) + reach)):
                continue
            axis = p1 - p0
            length2 = axis @ axis
            s = min(max((x - p0) @ axis / length2, 0.0), 1.0) if length2 > 0 else 0.0
            offset = x - (p0 + s * axis)
            dist = np.linalg.norm(offset)
            if 0 < dist < reach:
                move = (reach - dist) / dist * offset
                x_out[i] += move
                f["push"][i] += move
                f["capsule"][i] = c
                f["param"][i] = s

    # 4. per node: friction, totals, corrections, sums
    burn_rate = header[H_BURN_RATE]
    for i in np.flatnonzero((f["capsule"][:n] >= 0) & awake):
        c = f["capsule"][i]
        m = mass[i]
        applied = f_out[i].copy()
        carried = max(applied @ f["normal"][i], 0.0)
        along = carried * f["normal"][i] + (m / h2) * f["push"][i]
        size = np.linalg.norm(along)
        total = np.zeros(3)
        if size > 1e-9 * carried and size > 0 and enabled[c]:
            normal = along / size
            slip = (x_out[i] - x_in[i]) - tool_motion(c, np.array([f["param"][i]]))[0]
            slip_t = slip - (slip @ normal) * normal
            trial = applied + (m / h2) * ((x_out[i] - slip_t) - f["x_step"][i])
            fn = trial @ normal
            if fn > 0:
                ft = trial - fn * normal
                limit = caps[c, C_FRICTION] * fn
                ft_size = np.linalg.norm(ft)
                if ft_size > limit:
                    ft = ft * (limit / ft_size)
                total = fn * normal + ft
                cap_k, cap_l = f["cap"][i]
                change = total - applied
                if np.linalg.norm(change) > m / h2 * cap_l:
                    total = applied + change * (m / h2 * cap_l / np.linalg.norm(change))
                limit = (m / h2 + cap_k) * cap_l
                if np.linalg.norm(total) > limit:
                    total = total * (limit / np.linalg.norm(total))
                f["normal"][i] = normal
        magnitude = np.linalg.norm(total)
        if magnitude == 0:
            f["capsule"][i] = -1
        x_final = f["x_step"][i] + (total - applied) * (h2 / m)
        correction = x_final - f["x_step"][i]
        x_out[i] = x_final
        v_out[i] += correction / dt
        a_out[i] += correction / h2
        f_out[i] = total
        if magnitude > 0:
            outputs[c, OUT_FORCE:OUT_FORCE + 3] -= total
            outputs[c, OUT_POINT:OUT_POINT + 3] += magnitude * x_final
            outputs[counters, COUNT_FORCE:COUNT_FORCE + 3] += total
            outputs[c, OUT_WEIGHT] += magnitude
            outputs[c, OUT_COUNT] += 1
            if magnitude > outputs[c, OUT_STRONGEST_FORCE]:
                outputs[c, OUT_STRONGEST_FORCE] = magnitude
                outputs[c, OUT_STRONGEST] = i
            if energized[c]:
                outputs[c, OUT_ENERGIZED] += 1
                before = f["burn"][i]
                f["burn"][i] = min(1.0, before + burn_rate * dt)
                if before < 1.0 <= f["burn"][i]:
                    outputs[counters, COUNT_CHARRED] += 1

    # 5. tets over their failure stretch (by NumPy's eigensolver), springs crossed by cutters
    if header[H_SPRINGS]:
        tets = f["tets"]
        d = np.stack([x_out[tets[:, k]] - x_out[tets[:, 0]] for k in (1, 2, 3)], axis=2)
        deformation = d @ f["rest_inverse"].reshape(-1, 3, 3)
        stretch = np.sqrt(np.linalg.eigvalsh(np.transpose(deformation, (0, 2, 1)) @ deformation)[:, -1])
        touched = (f["capsule"] >= 0) | (f["gripped"] != 0)
        rows = np.repeat(np.arange(n), np.diff(f["offsets"]))
        nearby = touched.copy()
        nearby[rows[touched[f["neighbors"]]]] = True
        pressed = nearby[tets].any(axis=1)
        live = f["tet_live"] != 0
        limit = f["failure_stretch"]
        strained = live & ~pressed & np.isfinite(limit) & (stretch > limit)
        # ... and over it averaged over the tear neighbourhood (live, finite-limit tets, by rest volume)
        cauchy_green = np.transpose(deformation, (0, 2, 1)) @ deformation
        offsets, near, weight = f["near_offsets"], f["near"], f["near_weight"]
        counted = (live & np.isfinite(limit))[near]
        for t in np.flatnonzero(strained):
            entries = slice(offsets[t], offsets[t + 1])
            w = np.where(counted[entries], weight[entries], 0.0)
            averaged = np.tensordot(w, cauchy_green[near[entries]], axes=1) / max(w.sum(), 1e-300)
            strained[t] = np.linalg.eigvalsh(averaged)[-1] > limit[t] ** 2
        f["overstrained"][:] = np.where(strained, f["overstrained"] + 1, 0)
        f["tet_flags"][:] = np.where(strained & (f["overstrained"] >= int(header[H_TEAR_CHECKS])), FLAG_TORN, 0)
        outputs[counters, COUNT_TORN] = np.count_nonzero(f["tet_flags"] == FLAG_TORN)
        springs = f["springs"]
        p, q = x_out[springs[:, 0]], x_out[springs[:, 1]]
        active = f["active"] != 0
        window = np.zeros(len(springs), dtype=bool)
        window[int(header[H_SPRING_LO]):int(header[H_SPRING_HI])] = True
        active = active & window
        flags = np.zeros(len(springs), dtype=np.int32)
        for k in range(n_cut):
            row = io[ROW_CAPSULES + n_caps + k]
            a, b, c = row[CUT_A:CUT_A + 3], row[CUT_B:CUT_B + 3], row[CUT_C:CUT_C + 3]
            for e in np.flatnonzero(active & (flags == 0)):
                if segment_crosses_triangle(p[e], q[e], a, b, c)[0]:
                    flags[e] = FLAG_CUT0 + k
        f["flags"][window] = flags[window]
        outputs[counters, COUNT_CUT] = np.count_nonzero(flags >= FLAG_CUT0)

    # 6. grasp anchors
    gravity = header[H_GRAVITY:H_GRAVITY + 3]
    for g in range(int(header[H_GRASPED])):
        i = f["grasp_nodes"][g]
        m = mass[i]
        xi, xn = x_out[i], x_in[i]
        row = n_caps + f["grasp_group"][g]
        outputs[row, 3] += 1
        if anchor[i, 3] < 0:
            outputs[row, 0:3] += -anchor[i, 3] * (anchor[i, 0:3] - xi)
            continue
        if anchor[i, 3] == 0:
            continue
        need = (m / h2) * (xi - (xn + dt * v_in[i] + h2 * gravity)) + (f["drag"][i] * m / dt) * (xi - xn)
        for e in range(f["offsets"][i], f["offsets"][i + 1]):
            j = f["neighbors"][e]
            rest, k, c = f["entries"][e]
            xij = xi - x_out[j]
            length = np.linalg.norm(xij)
            d = xij / length if length > 0 else np.zeros(3)
            need += k * (xij - rest * d)
            if c > 0:
                need += (c / dt * (d @ (xij - (xn - x_in[j])))) * d
        outputs[row, 0:3] += need
