"""Two runs with the same commands give bit-identical tissue states, forces and event streams (one backend)."""

from __future__ import annotations

import numpy as np
from coupling_scenes import Tissue, assert_identical_runs, command, ramp

from surgsim.mesh.primitives import tet_block


def session(make_scene):
    model = tet_block((0.04, 0.03, 0.008), (16, 12, 3), origin_m=(-0.02, -0.015, -0.008))
    tissue = Tissue.of(model)
    tissue.control.anchor(box=((-1, -1, -0.0081), (1, 1, -0.0079)))
    scene = make_scene(tissue, {"grasper": ("grasper", (0.008, 0.0, 0.15), (0.008, 0.0, 0.0)),
                                "hook": ("hook_cautery", (-0.01, 0.0, 0.15), (-0.01, 0.0, 0.0))},
                       burn_dwell_s=0.1)
    script = [
        (300, lambda k: {"grasper": command(ramp(0.12, 0.1495, k, 250), roll=np.pi / 2),
                         "hook": command(ramp(0.1, 0.1496, k, 250))}),
        (150, lambda k: {"grasper": command(0.1495, jaw=ramp(0.0, 1.0, k, 100), roll=np.pi / 2),
                         "hook": command(0.1496, energy=True)}),
        (300, lambda k: {"grasper": command(ramp(0.1495, 0.142, k, 250), jaw=1.0, roll=np.pi / 2, yaw=0.02),
                         "hook": command(0.1496, energy=k < 150)}),
        (150, lambda k: {"grasper": command(0.142, jaw=0.0, roll=np.pi / 2), "hook": command(0.12)}),
    ]
    forces = []
    for ticks, commands in script:
        for k in range(ticks):
            scene.coupler.step(commands(k))
            forces.append(np.concatenate([scene.coupler.reaction_force(n) for n in ("grasper", "hook")]))
    state = scene.coupler.state.numpy()
    return state, np.array(forces), scene.coupler.drain_events(), scene.coupler.burn_levels()


def test_same_commands_give_bit_identical_runs(make_scene):
    assert_identical_runs(session(make_scene), session(make_scene))
