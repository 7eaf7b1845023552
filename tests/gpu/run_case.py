"""Runs one GPU-agreement case on one backend in its own process (Taichi runs on one backend per process) and saves
what the test compares: ``python tests/gpu/run_case.py CASE ARCH OUT.npz``.

Cases: ``liver`` (the shipped liver model hanging from its top 4 cm, 300 steps under gravity with a 0.3 N point
force), ``scene`` (the liver retraction procedure's first SCENE_TICKS ticks of its expert session: instruments,
the grasper's contact with the liver from 1.67 s on, goals), ``blowup`` (a liver whose nodes start at 200 m/s: the guard must reject and recover or keep the state)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SCENE_TICKS = 4200  # the grasper touches the liver at 1.668 s and grasps it at 3.86 s (the trace's events)


def liver(arch: str) -> dict:
    from surgsim import backend
    from surgsim.mesh.model import TissueModel
    from surgsim.tissue import TissueSolver

    chosen = backend.init(arch)
    model = TissueModel.load(ROOT / "assets" / "meshes" / "liver.npz")
    solver = TissueSolver(model)
    p = model.positions
    control = solver.control()
    control.anchor(np.flatnonzero(p[:, 2] > p[:, 2].max() - 0.04))
    a, b = solver.state(), solver.state()
    lowest = int(np.argmin(p[:, 2]))
    solver.set_point_forces(a, [lowest], [[0.0, 0.3, 0.0]])
    solver.set_point_forces(b, [lowest], [[0.0, 0.3, 0.0]])
    events = 0
    for _ in range(300):
        events += solver.step(a, b, control) is not None
        a, b = b, a
    return {"backend": chosen, "positions": a.positions_numpy(), "events": events}


def scene(arch: str) -> dict:
    from surgsim.devices.replay import ReplayDevice
    from surgsim.scoring import load_session
    from surgsim.session import Session

    procedure, recorded = load_session(ROOT / "procedures" / "traces" / "liver_retraction.expert.jsonl")
    device = ReplayDevice.from_trace(recorded)
    with Session(procedure.path, arch=arch) as session:
        forces = []
        for _ in range(SCENE_TICKS):
            session.tick(device.read().commands)
            forces.append([session.coupler.reaction_force(n) for n in session.instrument_names])
        return {"backend": session.backend, "positions": session.coupler.positions(), "forces": np.array(forces),
                "tips": np.array([session.world.instruments[n].tip_position() for n in session.instrument_names])}


def blowup(arch: str) -> dict:
    from surgsim import backend
    from surgsim.mesh.model import TissueModel
    from surgsim.tissue import TissueSolver

    chosen = backend.init(arch)
    model = TissueModel.load(ROOT / "assets" / "meshes" / "liver.npz")
    solver = TissueSolver(model, max_retries=1)
    a, b = solver.state(), solver.state()
    rng = np.random.default_rng(0)
    a.velocities.from_numpy(rng.normal(0.0, 200.0, (model.node_count, 3)))
    event = solver.step(a, b, solver.control())
    positions = b.positions_numpy()
    return {"backend": chosen, "positions": positions, "events": int(event is not None),
            "finite": bool(np.all(np.isfinite(positions)))}


if __name__ == "__main__":
    case, arch, out = sys.argv[1:4]
    result = {"liver": liver, "scene": scene, "blowup": blowup}[case](arch)
    np.savez(out, **{k: np.asarray(v) for k, v in result.items()})
