"""Runs one GPU-agreement case on one backend in its own process (Taichi runs on one backend per process) and saves
what the test compares: ``python tests/gpu/run_case.py CASE ARCH OUT.npz``.

Cases: ``liver`` (the shipped liver model hanging from its top 4 cm, 300 steps under gravity with a 0.3 N point
force), ``contact`` (the contact pass's branches on a block: pressing, burning, a grasp, tears, a cut), ``scene``
(the liver retraction procedure's first SCENE_TICKS ticks of its expert session: instruments, the grasper's contact
with the liver from 1.67 s on, goals), ``blowup`` (a liver whose nodes start at 200 m/s: the guard must reject and
recover or keep the state)."""

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


def contact(arch: str) -> dict:
    """The contact pass's every branch on a 4 × 4 × 1 cm block (as tests/coupling/test_tool_contact.py's kernel-twin
    test): a probe pressing and sliding, an energized one burning, a grasp pulled up, a failure stretch low enough
    that tets tear, then a cutter triangle across it."""
    from surgsim import backend
    from surgsim.mesh.primitives import tet_block
    from surgsim.tissue import TissueSolver
    from surgsim.tissue.tool_contact import ToolContact, capsule_row

    chosen = backend.init(arch)
    model = tet_block((0.04, 0.04, 0.01), (16, 16, 4), origin_m=(-0.02, -0.02, -0.01))
    solver = TissueSolver(model)
    control = solver.control()
    control.anchor(box=((-1, -1, -0.0101), (1, 1, -0.0099)))
    pass_ = ToolContact(solver, control, 2, burn_dwell_s=0.05, tear_checks=1, tear_length_m=0.005)
    pass_._floats.write(failure_stretch=np.full(model.tet_count, 1.001))
    offset = np.abs(model.positions - [0.015, -0.015, 0.0])
    grasped = np.flatnonzero(np.all(offset < 0.003, axis=1))
    around = np.setdiff1d(np.flatnonzero(np.all(offset < 0.006, axis=1)), grasped)
    control.anchor(grasped)
    control.attach(around, model.positions[around], 40.0)
    pass_.set_grasps([np.concatenate([grasped, around])])

    def capsules(depth: float, drift: float) -> np.ndarray:
        radius = 0.0025
        tip = np.array([drift, 0.0, radius - depth])
        side = np.array([0.008, 0.006, 0.0014])
        return np.stack([capsule_row(tip + [0, 0, 0.05], tip, radius, friction=0.3),
                         capsule_row(side + [0.03, 0.0, 0.03], side, 0.0015, friction=0.5, energized=True)])

    a, b = solver.state(), solver.state()
    outputs, torn, cut = [], 0, 0
    held = np.concatenate([grasped, around])
    cutter = np.array([[-0.006, -0.03, 0.01, -0.006, 0.03, 0.01, -0.006, 0.0, -0.03]])
    for k in range(80):
        if k == 60:
            control.set_anchor_targets(held, model.positions[held] + [0.0, 0.0, 0.003])
        solver.step(a, b, control, 1e-3)
        report = pass_.run(a, b, capsules(min(0.004, 1e-4 * k), 1e-5 * k), 1e-3, cutters=cutter if k >= 70 else None)
        outputs.append(report.outputs.copy())
        torn += report.torn
        cut += report.cut
        a, b = b, a
    return {"backend": chosen, "positions": a.positions_numpy(), "outputs": np.array(outputs), "torn": torn,
            "cut": cut, "active": control.spring_active.copy(), "burn": pass_._floats.read_section("burn")}


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
    result = {"liver": liver, "scene": scene, "contact": contact, "blowup": blowup}[case](arch)
    np.savez(out, **{k: np.asarray(v) for k, v in result.items()})
