"""Open-surgery (free 6-DOF) instruments on tissue: contact reactions (Newton's third law), grasp and lift, and
bit-identical reruns, through the same coupler as the trocar instruments."""

from __future__ import annotations

import numpy as np
import pytest
from coupling_scenes import Tissue, assert_identical_runs, command, ramp

from surgsim.instruments.builder import quaternion_from_matrix
from surgsim.mesh.primitives import tet_block
from surgsim.trace import FreePoseCommand

DOWN = (0.0, 0.0, -1.0)


def pose(instrument, position, *, jaw: float = 0.0, energy: bool = False) -> FreePoseCommand:
    """The instrument's start orientation at ``position`` [m] (its distal end)."""
    return FreePoseCommand(position_m=[float(v) for v in position],
                           orientation_xyzw=list(quaternion_from_matrix(instrument.start_rotation)), jaw=jaw,
                           energy=energy)


def block_tissue():
    """A 4 × 4 × 1 cm block (2.5 mm cubes) held on its bottom face, top face at z = 0."""
    model = tet_block((0.04, 0.04, 0.01), (16, 16, 4), origin_m=(-0.02, -0.02, -0.01))
    tissue = Tissue.of(model)
    tissue.control.anchor(box=((-1, -1, -0.0101), (1, 1, -0.0099)))
    return tissue


def press(scene, command_at, touch: float) -> list[np.ndarray]:
    """Press the probe's end 1, 2, 3 mm below ``touch`` (each in 0.2 s, then held 0.2 s); ``command_at(z)`` is the
    command that puts the end at height z. Returns the reaction at each depth; checks Newton's third law there."""
    reactions = []
    scene.run(200, probe=lambda k: command_at(ramp(0.02, touch + 0.001, k, 150)))
    for depth in (0.001, 0.002, 0.003):
        scene.run(400, probe=lambda k: command_at(ramp(touch - depth + 0.001, touch - depth, k, 200)))
        reaction = scene.coupler.reaction_force("probe")
        on_tissue = scene.coupler.state.numpy().forces  # the contact forces the tissue received this tick
        on_tissue[scene.control.anchored] = 0.0
        np.testing.assert_allclose(on_tissue.sum(axis=0), -reaction, rtol=0, atol=1e-9 * np.linalg.norm(reaction))
        reactions.append(reaction)
    return reactions


def test_a_free_probe_feels_a_reaction_that_grows_with_depth_equal_and_opposite(make_free_scene, make_scene):
    """A vertical free probe pressed 1, 2, 3 mm into a block: the tissue pushes it up, harder the deeper; the contact
    forces the tissue receives sum to minus that reaction; the hand holds the probe where it was sent despite the
    load; and it feels what a laparoscopic probe pressed the same way feels."""
    scene = make_free_scene(block_tissue(), {"probe": ("probe", (0.0, 0.0, 0.02), (0.0, 0.0, -1.0))})
    probe = scene.world.instruments["probe"]
    touch = probe.spec.shaft_radius_m + scene.coupler.options.skin_m  # the rounded end at the surface
    free = press(scene, lambda z: pose(probe, (0.0, 0.0, z)), touch)
    assert abs(probe.distal_frame()[0][2] - (touch - 0.003)) < 1e-4
    up = [reaction[2] for reaction in free]
    assert up[0] > 0.01 and np.all(np.diff(up) > 0), up
    assert all(reaction[2] > 2.0 * np.linalg.norm(reaction[:2]) for reaction in free)

    trocar = make_scene(block_tissue(), {"probe": ("probe", (0.0, 0.0, 0.15), (0.0, 0.0, 0.0))})
    laparoscopic = press(trocar, lambda z: command(0.15 - z), touch)
    np.testing.assert_allclose(free, laparoscopic, rtol=0, atol=0.03 * up[-1])


@pytest.fixture
def flap(taichi_cpu):
    """A 6 × 2 × 0.6 cm flap lying on a floor (z = 0), held along its end at x = -5 cm; free end at the origin."""
    from surgsim.tissue import Plane

    model = tet_block((0.06, 0.02, 0.006), (24, 8, 2), origin_m=(-0.05, -0.01, 0.0))
    tissue = Tissue.of(model)
    tissue.control.anchor(box=((-1, -1, -1), (-0.0495, 1, 1)))
    tissue.control.set_obstacles([Plane((0.0, 0.0, 0.0), (0.0, 0.0, 1.0), 0.3)])
    return tissue


def test_a_free_grasper_grasps_lifts_and_releases(make_free_scene, flap):
    # Pointing straight down, the jaws open along y (the hinge pin horizontal along x): across the flap's width.
    scene = make_free_scene(flap, {"grasper": ("grasper", (0.0, 0.0, 0.05), (0.0, 0.0, -1.0))})
    grasper = scene.world.instruments["grasper"]
    assert abs(grasper.start_rotation[:, 1] @ (0.0, 1.0, 0.0)) > 0.999
    hinge = 0.002 + grasper.spec.jaw_length_m  # the closed jaws' end 2 mm above the floor, in the flap
    scene.run(300, grasper=lambda k: pose(grasper, (0.0, 0.0, ramp(0.05, hinge, k, 200))))
    scene.run(150, grasper=lambda k: pose(grasper, (0.0, 0.0, hinge), jaw=ramp(0.0, 1.0, k, 100)))
    assert scene.kinds().count("grasp") == 1
    held = scene.coupler.grasping.grasps["grasper"].nodes
    start = scene.coupler.positions()[held, 2].mean()

    scene.run(800, grasper=lambda k: pose(grasper, (0.0, 0.0, ramp(hinge, hinge + 0.015, k, 600)), jaw=1.0))
    assert scene.coupler.positions()[held, 2].mean() - start == pytest.approx(0.015, abs=1e-3)
    assert scene.coupler.reaction_force("grasper")[2] < 0.0  # the flap's weight pulls the jaws down

    scene.run(400, grasper=lambda k: pose(grasper, (0.0, 0.0, hinge + 0.015), jaw=0.0))
    assert "release" in scene.kinds() and not scene.coupler.grasping.grasps


def free_session(make_free_scene):
    model = tet_block((0.04, 0.03, 0.008), (16, 12, 3), origin_m=(-0.02, -0.015, -0.008))
    tissue = Tissue.of(model)
    tissue.control.anchor(box=((-1, -1, -0.0081), (1, 1, -0.0079)))
    scene = make_free_scene(tissue, {"grasper": ("grasper", (0.008, 0.0, 0.04), (0.008, 0.0, -1.0)),
                                     "hook": ("hook_cautery", (-0.01, 0.0, 0.04), (-0.01, 0.0, -1.0))},
                            burn_dwell_s=0.1)
    grasper, hook = (scene.world.instruments[name] for name in ("grasper", "hook"))
    grip = 0.0185  # the grasper's hinge: its closed jaws 0.5 mm into the block
    burn = 0.0088  # the hook's shaft end: the hook's bend 0.8 mm into the block
    script = [
        (300, lambda k: {"grasper": pose(grasper, (0.008, 0.0, ramp(0.04, grip, k, 250))),
                         "hook": pose(hook, (-0.01, 0.0, ramp(0.04, burn, k, 250)))}),
        (150, lambda k: {"grasper": pose(grasper, (0.008, 0.0, grip), jaw=ramp(0.0, 1.0, k, 100)),
                         "hook": pose(hook, (-0.01, 0.0, burn), energy=True)}),
        (300, lambda k: {"grasper": pose(grasper, (ramp(0.008, 0.011, k, 250), 0.0, ramp(grip, grip + 0.007, k, 250)),
                                         jaw=1.0),
                         "hook": pose(hook, (-0.01, 0.0, burn), energy=k < 150)}),
        (150, lambda k: {"grasper": pose(grasper, (0.011, 0.0, grip + 0.007), jaw=0.0),
                         "hook": pose(hook, (-0.01, 0.0, 0.03))}),
    ]
    forces = []
    for ticks, commands in script:
        for k in range(ticks):
            scene.coupler.step(commands(k))
            forces.append(np.concatenate([scene.coupler.reaction_force(n) for n in ("grasper", "hook")]))
    return scene.coupler.state.numpy(), np.array(forces), scene.coupler.drain_events(), scene.coupler.burn_levels()


def test_same_free_commands_give_bit_identical_runs(make_free_scene):
    assert_identical_runs(free_session(make_free_scene), free_session(make_free_scene))
