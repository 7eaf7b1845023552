"""``surgsim bench solver``: speed of the tissue solver against the peers a user would pick instead.

For each mesh (the shipped liver and tetrahedral blocks of ~1k, 5k, 20k, 100k nodes, liver material) the same scene
is run by every solver: the nodes in the top 15 % of the mesh height are anchored (an organ hanging from its
ligaments) and gravity pulls the rest, at dt = 1 ms, with our default options (1 sub-step, 8 iterations). Measured:

- time per step (the best of 5 chunks of steps, for every solver alike: the CPU may be shared; the median is
  recorded too) and **real-time factor** (simulated seconds per wall second; ≥ 1 is real time at 1 kHz);
- spring updates per second (springs × sweeps per second) and bytes moved per step ÷ measured memory bandwidth
  (a roofline fraction; the byte count is the compulsory traffic of our kernel: every node and spring array read or
  written once per sweep, neighbour gathers assumed to hit cache);
- the cost of the per-tet volume term (``SolverOptions.poisson = "from_material"``): the same scene run by the solver
  with and without it, 15 chunks of steps each, interleaved so that a shared CPU's load hits both alike; the ratio
  of their best chunks is ``volume_term_cost_ratio`` (``--volume-term off`` skips it);
- the same scene with the numpy reference (same algorithm), PyBullet's deformable mass-spring body, and warp.sim
  (XPBD with the same iteration count, and semi-implicit Euler), each peer in its own process
  (:mod:`surgsim.bench.peers`), and the speed-ups side by side; every result carries ``stable`` (finite, no
  node further than one body length from rest after the run).

The JSON file has one object per mesh (``liver``, ``block_1k``, …) with keys such as ``real_time_factor``,
``speedup_vs_numpy``, ``speedup_vs_pybullet``, ``speedup_vs_warp``, plus ``machine`` (what ran it).
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from surgsim.bench.stopwatch import time_chunks
from surgsim.errors import InputError

DEFAULT_SIZES = ("liver", "1k", "5k", "20k", "100k")
PEERS = ("numpy", "pybullet", "warp")
LIVER_PATH = Path(__file__).resolve().parents[2] / "assets" / "meshes" / "liver.npz"
PEER_TIMEOUT_S = 600


def parse_sizes(text: str) -> list[str]:
    """"liver,1k,5k,20000" → normalised size tokens; anything else is an :class:`InputError`."""
    tokens = [t.strip().lower() for t in str(text).split(",") if t.strip()]
    if not tokens:
        raise InputError("--sizes", "give at least one size, e.g. liver,1k,5k,20k,100k.")
    out = []
    for t in tokens:
        if t == "liver":
            out.append(t)
            continue
        try:
            n = int(float(t[:-1]) * 1000) if t.endswith("k") else int(t)
        except ValueError:
            raise InputError("--sizes", f"'{t}' is not a size; use 'liver' or a node count such as 5k or 20000.")
        if not 27 <= n <= 2_000_000:
            raise InputError("--sizes", f"'{t}': block sizes must lie between 27 and 2,000,000 nodes.")
        out.append(str(n))
    return out


def parse_peers(text: str) -> list[str]:
    tokens = [t.strip().lower() for t in str(text).split(",") if t.strip()]
    unknown = [t for t in tokens if t not in PEERS + ("none",)]
    if unknown:
        raise InputError("--peers", f"unknown peer(s) {', '.join(unknown)}; choose from {', '.join(PEERS)} or none.")
    return [t for t in tokens if t != "none"]


def mesh_for(token: str):
    """(name, TissueModel) for a size token."""
    from surgsim.mesh.model import TissueModel
    from surgsim.mesh.primitives import tet_block

    if token == "liver":
        return "liver", TissueModel.load(LIVER_PATH)
    n = int(token)
    d = max(2, int(round(n ** (1.0 / 3.0))) - 1)
    name = f"block_{n // 1000}k" if n >= 1000 and n % 1000 == 0 else f"block_{n}"
    return name, tet_block((0.1, 0.1, 0.1), (d, d, d), tissue="liver")


def hanging_anchors(model) -> np.ndarray:
    z = model.positions[:, 2]
    return np.flatnonzero(z >= z.max() - 0.15 * (z.max() - z.min())).astype(np.int32)


def _verdict(x0: np.ndarray, x: np.ndarray) -> dict:
    finite = bool(np.all(np.isfinite(x)))
    extent = float(np.max(x0.max(axis=0) - x0.min(axis=0)))
    disp = float(np.max(np.linalg.norm(x - x0, axis=1))) if finite else float("inf")
    return {"stable": finite and disp < extent, "max_displacement_m": disp if finite else None}


def bytes_per_step(nodes: int, springs: int, iterations: int, substeps: int) -> int:
    """Compulsory memory traffic of one step of our kernels (float64, int32), see the module docstring."""
    adjacency = 2 * springs
    init = nodes * (4 * 24 + 32 + 32 + 3 * 24)  # read x, v, a, f, node, anchor; write yhat, two iterates
    spring_pass = springs * (8 + 24 + 8)  # spring ids, parameters, coefficient written
    node_pass = nodes * (4 * 24 + 32 + 32 + 4 + 24) + adjacency * (8 + 8)  # iterates, x_n, yhat, params, csr
    finish = nodes * (2 * 24 + 4 * 24)  # read v_n, f_n; write x, v, a, f
    return int(substeps * (init + iterations * (spring_pass + node_pass) + finish))


def memory_bandwidth_bytes_per_s() -> float:
    """Sustained copy bandwidth of the active Taichi backend (read + write bytes per second)."""
    import taichi as ti

    from surgsim.tissue.kernels_step import copy_f64 as copy

    n = 16 * 1024 * 1024  # 128 MiB per array, far beyond the caches
    a = ti.ndarray(ti.f64, shape=n)
    b = ti.ndarray(ti.f64, shape=n)

    copy(a, b)
    ti.sync()
    best = math.inf
    for _ in range(5):
        t = time.perf_counter()
        copy(a, b)
        ti.sync()
        best = min(best, time.perf_counter() - t)
    return 2 * 8 * n / best


def _time_steps(step, steps: int, sync=lambda: None) -> tuple[float, float]:
    """:func:`time_chunks` after one warm-up step (compilation, caches)."""
    step()
    sync()
    best, median, _ = time_chunks(step, steps, sync)
    return best, median


def bench_taichi(model, anchored, steps: int, options) -> dict:
    import taichi as ti

    from surgsim.tissue.solver import TissueSolver

    solver = TissueSolver(model, options)
    control = solver.control()
    control.anchor(anchored)
    states = [solver.state(), solver.state()]
    events = []

    def step():
        event = solver.step(states[0], states[1], control)
        if event is not None:
            events.append(event)
        states.reverse()

    step()
    best, median = _time_steps(step, steps, ti.sync)
    result = {"time_per_step_s": best, "median_time_per_step_s": median, "steps": steps, "events": len(events)}
    result.update(_verdict(model.positions, states[0].positions_numpy()))
    result["solver"] = solver.info(control)
    return result


def bench_volume_term(model, anchored, steps: int, options) -> dict:
    """Time per step without and with the volume term, in alternating chunks (best of 15 each: a shared CPU's load
    comes and goes within seconds) after a warm-up."""
    import taichi as ti

    from surgsim.tissue.solver import TissueSolver

    runs = {}
    for label, poisson in (("springs", "off"), ("volume", "from_material")):
        solver = TissueSolver(model, options.model_copy(update={"poisson": poisson}))
        control = solver.control()
        control.anchor(anchored)
        states = [solver.state(), solver.state()]
        events = []

        def step(solver=solver, control=control, states=states, events=events):
            event = solver.step(states[0], states[1], control)
            if event is not None:
                events.append(event)
            states.reverse()

        step()
        step()
        ti.sync()
        runs[label] = (solver, control, states, step, [], events)
    chunks = 15
    per_chunk = max(1, steps // chunks)
    for _ in range(chunks):
        for label, (_, _, _, step, times, _) in runs.items():
            start = time.perf_counter()
            for _ in range(per_chunk):
                step()
            ti.sync()
            times.append((time.perf_counter() - start) / per_chunk)
    result = {}
    for label, (solver, control, states, _, times, events) in runs.items():
        result[label] = {"time_per_step_s": float(min(times)), "median_time_per_step_s": float(np.median(times)),
                         "events": len(events),
                         "chebyshev_rho": solver.rho(control, options.dt / options.substeps)}
        result[label].update(_verdict(model.positions, states[0].positions_numpy()))
    result["volume_term_cost_ratio"] = result["volume"]["time_per_step_s"] / result["springs"]["time_per_step_s"]
    return result


def bench_numpy(model, anchored, steps: int, options, budget_s: float) -> dict:
    from surgsim.tissue.reference import ReferenceSolver

    solver = ReferenceSolver(model, options)
    control = solver.control()
    control.anchor(anchored)
    a, b = solver.state(), solver.state()
    t = time.perf_counter()
    solver.step(a, b, control)
    first = time.perf_counter() - t
    n = int(max(3, min(steps, budget_s / max(first, 1e-9))))
    states = [b, a]

    def step():
        solver.step(states[0], states[1], control)
        states.reverse()

    best, median = _time_steps(step, n)
    result = {"status": "ok", "time_per_step_s": best, "median_time_per_step_s": median, "steps": n}
    result.update(_verdict(model.positions, states[0].positions))
    return result


def bench_peer(peer: str, case_path: str, timeout_s: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        cmd = [sys.executable, "-m", "surgsim.bench.peers", peer, case_path, out]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return {"status": f"timeout after {timeout_s:.0f} s", "stable": None}
        if proc.returncode != 0:
            if proc.returncode < 0:
                status = f"crashed (signal {-proc.returncode})"
            else:
                status = f"failed (exit {proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}"
            return {"status": status, "stable": False}
        with open(out) as f:
            return json.load(f)


def run_benchmark(sizes=DEFAULT_SIZES, *, steps: int = 300, peers=PEERS, arch: str = "auto",
                  json_path: str | os.PathLike | None = None, log=print, peer_budget_s: float = 20.0,
                  volume_term: bool = True) -> dict:
    """Run the benchmark, print a table through ``log`` and return (and optionally write) the results."""
    import surgsim
    from surgsim.hostinfo import cpu_label
    from surgsim.tissue.layout import SolverModel
    from surgsim.tissue.options import SolverOptions

    backend_name = surgsim.init(arch)
    import taichi as ti

    options = SolverOptions()
    bandwidth = memory_bandwidth_bytes_per_s()
    results: dict = {
        "machine": {
            "platform": platform.platform(),
            "processor": cpu_label(),
            "cpu_count": os.cpu_count(),
            "backend": backend_name,
            "taichi_version": ".".join(str(v) for v in ti.__version__),
            "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "memory_bandwidth_bytes_per_s": bandwidth,
        },
        "scene": "top 15 % of the mesh height anchored, gravity, dt = 1 ms, default SolverOptions",
        "options": options.model_dump(),
    }
    log(f"backend {backend_name}; copy bandwidth {bandwidth / 1e9:.1f} GB/s; {steps} steps per timing")
    for token in sizes:
        name, model = mesh_for(token)
        anchored = hanging_anchors(model)
        layout = SolverModel.build(model, options)
        entry = {"nodes": model.node_count, "springs": model.spring_count, "tets": model.tet_count}
        log(f"{name}: {model.node_count} nodes, {model.spring_count} springs ...")
        ours = bench_taichi(model, anchored, steps, options)
        per = ours["time_per_step_s"]
        moved = bytes_per_step(model.node_count, model.spring_count, options.iterations, options.substeps)
        sweeps = options.iterations * options.substeps
        entry.update({
            "time_per_step_s": per,
            "median_time_per_step_s": ours["median_time_per_step_s"],
            "real_time_factor": options.dt / per,
            "steps_per_s": 1.0 / per,
            "spring_updates_per_s": model.spring_count * sweeps / per,
            "bytes_per_step": moved,
            "roofline_fraction": moved / per / bandwidth,
            "stable": ours["stable"],
            "guard_events": ours["events"],
            "execution": ours["solver"]["execution"],
        })
        if volume_term:
            entry["volume_term"] = bench_volume_term(model, anchored, steps, options)
            entry["volume_term_cost_ratio"] = entry["volume_term"]["volume_term_cost_ratio"]
            log(f"  volume term: {entry['volume_term']['springs']['time_per_step_s'] * 1e3:.3f} ms/step springs "
                f"alone, {entry['volume_term']['volume']['time_per_step_s'] * 1e3:.3f} ms/step with it "
                f"(x{entry['volume_term_cost_ratio']:.2f}, interleaved)")
        peer_steps = int(max(5, min(steps, 2_000_000 // max(1, model.node_count))))
        if "numpy" in peers:
            entry["numpy"] = bench_numpy(model, anchored, steps, options, peer_budget_s)
        if "pybullet" in peers or "warp" in peers:
            with tempfile.TemporaryDirectory() as tmp:
                from surgsim.bench.peers import write_case

                case = os.path.join(tmp, "case.npz")
                write_case(case, model, layout, anchored, steps=peer_steps, iterations=options.iterations,
                           gravity=options.gravity, dt=options.dt)
                if "pybullet" in peers:
                    entry["pybullet"] = bench_peer("pybullet", case, PEER_TIMEOUT_S)
                if "warp" in peers:
                    entry["warp"] = bench_peer("warp-xpbd", case, PEER_TIMEOUT_S)
                    entry["warp_semi_implicit"] = bench_peer("warp-semi-implicit", case, PEER_TIMEOUT_S)
        for key, label in (("numpy", "numpy"), ("pybullet", "pybullet"), ("warp", "warp"),
                           ("warp_semi_implicit", "warp_semi_implicit")):
            peer = entry.get(key)
            # A peer that flew apart did not simulate the tissue: its time is not a speed to compare with.
            if peer and peer.get("time_per_step_s") and peer.get("stable", True):
                entry[f"speedup_vs_{label}"] = peer["time_per_step_s"] / per
        results[name] = entry
        log(format_row(name, entry))
        if json_path:
            _write(json_path, results)
    log("")
    log(format_table(results))
    if json_path:
        _write(json_path, results)
    return results


def _write(path, results) -> None:
    from surgsim.fileio import atomic_output

    with atomic_output(path) as tmp:
        Path(tmp).write_text(json.dumps(results, indent=2, default=float))


def _ms(entry, key) -> str:
    peer = entry.get(key)
    if not peer:
        return "-"
    if not peer.get("time_per_step_s"):
        status = str(peer.get("status", "?"))
        for word in ("crashed", "timeout", "not installed", "failed"):
            if status.startswith(word):
                return word.split()[0]
        return status[:9]
    if not peer.get("stable", True):
        return "unstable"
    return f"{peer['time_per_step_s'] * 1e3:.2f}"


def _ratio(entry, key) -> str:
    value = entry.get(f"speedup_vs_{key}")
    return f"{value:.1f}x" if value else "-"


HEADER = (f"{'mesh':<11}{'nodes':>8}{'springs':>9}{'ms/step':>9}{'RTF':>7}{'Mspr/s':>8}{'roof%':>7}"
          f"{'numpy ms':>10}{'×np':>7}{'pybullet ms':>13}{'×pb':>7}{'warp-xpbd':>11}{'×wp':>7}{'warp-si':>10}")


def format_row(name: str, e: dict) -> str:
    stable = "" if e.get("stable") else "!"
    return (f"{name:<11}{e['nodes']:>8}{e['springs']:>9}{e['time_per_step_s'] * 1e3:>8.3f}{stable:1}"
            f"{e['real_time_factor']:>7.2f}{e['spring_updates_per_s'] / 1e6:>8.0f}{100 * e['roofline_fraction']:>6.1f}%"
            f"{_ms(e, 'numpy'):>10}{_ratio(e, 'numpy'):>7}{_ms(e, 'pybullet'):>13}{_ratio(e, 'pybullet'):>7}"
            f"{_ms(e, 'warp'):>11}{_ratio(e, 'warp'):>7}{_ms(e, 'warp_semi_implicit'):>10}")


def format_table(results: dict) -> str:
    rows = [HEADER]
    for name, e in results.items():
        if isinstance(e, dict) and "nodes" in e:
            rows.append(format_row(name, e))
    rows.append("ms/step: time per 1 ms step; RTF: real-time factor; Mspr/s: million spring updates per second; "
                "roof%: bytes moved / measured bandwidth; ×: speed-up of ours; 'unstable': the peer's mesh "
                "went non-finite or flew apart (no speed reported); '!' after ours: ours did")
    return "\n".join(rows)
