"""Peer solvers for ``surgsim bench solver``, each run in its own process (a crash is a result, not our crash).

    python -m surgsim.bench.peers PEER CASE.npz RESULT.json

``CASE.npz`` holds the scene (see :func:`write_case`): the tissue model's arrays, the anchored node ids, the spring
stiffness and dashpots our solver uses, the step count and the iteration count. ``PEER`` is one of:

- ``pybullet``: PyBullet's deformable world (``RESET_USE_DEFORMABLE_WORLD``), the same tet mesh loaded with
  ``loadSoftBody`` from a legacy ASCII VTK file as a mass-spring body (its springs are the tet edges; PyBullet takes
  one stiffness and one damping for all springs: the mean of ours), anchored nodes pinned with
  ``createSoftBodyAnchor``, one ``stepSimulation`` per 1 ms step;
- ``warp-xpbd`` / ``warp-semi-implicit``: ``warp.sim`` (warp-lang 1.8.1, the last release with ``warp.sim``) on the
  same particles and springs (per-spring stiffness and damping), anchored particles with zero mass, integrated by
  ``XPBDIntegrator(iterations=K)`` or ``SemiImplicitIntegrator`` with one sub-step per 1 ms step, like ours.

The result JSON holds ``time_per_step_s``, ``steps``, ``stable`` (finite and no node further than one body length
from rest), ``max_displacement_m`` and ``status`` ("ok", or an error message).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

import numpy as np

from surgsim.bench.stopwatch import time_chunks


def write_case(path, model, layout, anchored: np.ndarray, *, steps: int, iterations: int, gravity, dt: float) -> None:
    np.savez(
        path,
        positions=model.positions,
        tets=model.tets,
        springs=model.springs,
        rest_lengths=model.rest_lengths,
        masses=layout.masses,
        stiffness=layout.stiffness,
        dashpot=layout.dashpot,
        anchored=np.asarray(anchored, dtype=np.int64),
        steps=np.int64(steps),
        iterations=np.int64(iterations),
        gravity=np.asarray(gravity, dtype=np.float64),
        dt=np.float64(dt),
    )


def _chunked(step, steps: int, sync=lambda: None) -> dict:
    """Best and median time per step over 5 chunks, as :func:`surgsim.bench.stopwatch.time_chunks` measures ours."""
    best, median, done = time_chunks(step, steps, sync)
    return {"time_per_step_s": best, "median_time_per_step_s": median, "steps": done}


def _verdict(x0: np.ndarray, x: np.ndarray) -> dict:
    finite = bool(np.all(np.isfinite(x)))
    extent = float(np.max(x0.max(axis=0) - x0.min(axis=0)))
    disp = float(np.max(np.linalg.norm(x - x0, axis=1))) if finite else float("inf")
    return {"stable": finite and disp < extent, "max_displacement_m": disp if finite else None}


def _write_vtk(path, positions, tets) -> None:
    with open(path, "w") as f:
        f.write("# vtk DataFile Version 2.0\nsurgsim tet mesh\nASCII\nDATASET UNSTRUCTURED_GRID\n")
        f.write(f"POINTS {len(positions)} float\n")
        np.savetxt(f, positions, fmt="%.9g")
        f.write(f"CELLS {len(tets)} {5 * len(tets)}\n")
        np.savetxt(f, np.column_stack([np.full(len(tets), 4), tets]), fmt="%d")
        f.write(f"CELL_TYPES {len(tets)}\n")
        np.savetxt(f, np.full(len(tets), 10), fmt="%d")


def run_pybullet(case) -> dict:
    import pybullet as p

    x0 = case["positions"]
    client = p.connect(p.DIRECT)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            vtk = os.path.join(tmp, "mesh.vtk")
            _write_vtk(vtk, x0, case["tets"])
            p.resetSimulation(p.RESET_USE_DEFORMABLE_WORLD, physicsClientId=client)
            p.setGravity(*case["gravity"], physicsClientId=client)
            p.setTimeStep(float(case["dt"]), physicsClientId=client)
            body = p.loadSoftBody(
                vtk, basePosition=[0, 0, 0], scale=1.0, mass=float(case["masses"].sum()),
                useNeoHookean=0, useMassSpring=1, useBendingSprings=0,
                springElasticStiffness=float(case["stiffness"].mean()),
                springDampingStiffness=float(case["dashpot"].mean()), springDampingAllDirections=0,
                useSelfCollision=0, useFaceContact=0, frictionCoeff=0.5, collisionMargin=0.001,
                physicsClientId=client)
            for node in case["anchored"]:
                p.createSoftBodyAnchor(body, int(node), -1, -1, physicsClientId=client)
            p.stepSimulation(physicsClientId=client)  # warm-up
            timing = _chunked(lambda: p.stepSimulation(physicsClientId=client), int(case["steps"]))
            _, verts = p.getMeshData(body, -1, flags=p.MESH_DATA_SIMULATION_MESH, physicsClientId=client)
            x = np.array(verts, dtype=np.float64)
    finally:
        p.disconnect(client)
    result = {"status": "ok", **timing}
    result.update(_verdict(x0, x) if len(x) == len(x0) else {"stable": bool(np.all(np.isfinite(x))),
                                                             "max_displacement_m": None})
    return result


def run_warp(case, integrator: str) -> dict:
    import warp as wp
    import warp.sim

    wp.config.quiet = True
    wp.init()
    x0 = case["positions"]
    anchored = np.zeros(len(x0), dtype=bool)
    anchored[case["anchored"]] = True
    builder = warp.sim.ModelBuilder(gravity=0.0)
    for i, (pos, m) in enumerate(zip(x0, case["masses"])):
        builder.add_particle(tuple(pos), (0.0, 0.0, 0.0), 0.0 if anchored[i] else float(m), radius=0.0)
    # The same as builder.add_spring(i, j, ke, kd, 0) per spring, without its per-spring Python overhead.
    springs = case["springs"]
    builder.spring_indices.extend(springs.reshape(-1).tolist())
    builder.spring_stiffness.extend(case["stiffness"].tolist())
    builder.spring_damping.extend(case["dashpot"].tolist())
    builder.spring_control.extend([0.0] * len(springs))
    builder.spring_rest_length.extend(np.linalg.norm(x0[springs[:, 0]] - x0[springs[:, 1]], axis=1).tolist())
    model = builder.finalize(device="cpu")
    model.ground = False
    model.gravity = np.asarray(case["gravity"], dtype=np.float32)
    dt = float(case["dt"])
    if integrator == "xpbd":
        solver = warp.sim.XPBDIntegrator(iterations=int(case["iterations"]))
    else:
        solver = warp.sim.SemiImplicitIntegrator()
    s0, s1 = model.state(), model.state()

    def step():
        nonlocal s0, s1
        s0.clear_forces()
        solver.simulate(model, s0, s1, dt)
        s0, s1 = s1, s0

    step()  # warm-up (kernel compilation)
    wp.synchronize()
    timing = _chunked(step, int(case["steps"]), wp.synchronize)
    x = s0.particle_q.numpy().astype(np.float64)
    result = {"status": "ok", **timing,
              "integrator": "XPBDIntegrator" if integrator == "xpbd" else "SemiImplicitIntegrator"}
    result.update(_verdict(x0, x))
    return result


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    peer, case_path, out_path = argv
    case = dict(np.load(case_path))
    try:
        if peer == "pybullet":
            result = run_pybullet(case)
        elif peer == "warp-xpbd":
            result = run_warp(case, "xpbd")
        elif peer == "warp-semi-implicit":
            result = run_warp(case, "semi-implicit")
        else:
            raise ValueError(f"unknown peer {peer}")
    except ImportError as exc:
        result = {"status": f"not installed: {exc}"}
    with open(out_path, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
