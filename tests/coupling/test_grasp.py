"""Grasping: closing jaws take hold of the tissue between them, lift it, let go when opened, slip when overloaded."""

from __future__ import annotations

import numpy as np
import pytest
from coupling_scenes import Tissue, command, ramp

from surgsim.mesh.primitives import tet_block

TOP_M = 0.006
PORT = (0.0, 0.0, 0.15)
TOUCH_INSERTION_M = 0.148  # open jaws reach just into the flap's top


@pytest.fixture
def flap(taichi_cpu):
    """A 6 × 2 × 0.6 cm flap lying on a floor (z = 0), held along its end at x = -5 cm; free end under the port."""
    model = tet_block((0.06, 0.02, TOP_M), (24, 8, 2), origin_m=(-0.05, -0.01, 0.0))
    return flap_like(model)


def grasp_flap(make_scene, tissue, **options):
    # Roll 90°: the jaws open across the flap's width.
    scene = make_scene(tissue, {"grasper": ("grasper", PORT, (0.0, 0.0, 0.0))}, **options)
    scene.run(300, grasper=lambda k: command(ramp(0.12, TOUCH_INSERTION_M, k, 200), roll=np.pi / 2))
    scene.run(150, grasper=lambda k: command(TOUCH_INSERTION_M, jaw=ramp(0.0, 1.0, k, 100), roll=np.pi / 2))
    return scene


def test_grasp_and_lift_lifts_the_grasped_region_and_releases_on_open(make_scene, flap):
    scene = grasp_flap(make_scene, flap)
    grasp = scene.coupler.grasping.grasps["grasper"]
    held = grasp.nodes
    assert scene.kinds().count("grasp") == 1
    start = scene.coupler.positions()[held, 2].mean()

    scene.run(800, grasper=lambda k: command(ramp(TOUCH_INSERTION_M, TOUCH_INSERTION_M - 0.015, k, 600), jaw=1.0,
                                             roll=np.pi / 2))
    lifted = scene.coupler.positions()
    assert lifted[held, 2].mean() - start == pytest.approx(0.015, abs=1e-3)  # the held nodes follow the jaws
    near = np.linalg.norm(flap.model.positions[:, :2] - flap.model.positions[held, :2].mean(axis=0), axis=1) < 0.005
    assert lifted[near & ~np.isin(np.arange(len(lifted)), held), 2].min() > 0.005  # their neighbours come along
    assert scene.coupler.reaction_force("grasper")[2] < 0.0  # the flap's weight pulls the jaws down

    scene.run(400, grasper=lambda k: command(TOUCH_INSERTION_M - 0.015, jaw=0.0, roll=np.pi / 2))
    assert "release" in scene.kinds() and "slip" not in scene.kinds()
    assert not scene.coupler.grasping.grasps and not flap.control.anchored[held].any()
    assert scene.coupler.positions()[:, 2].max() < TOP_M + 1e-3  # the flap fell back onto the floor


def test_pulling_harder_than_the_grasp_limit_makes_the_tissue_slip(make_scene, flap):
    scene = grasp_flap(make_scene, flap, slip_force_n=0.05)
    scene.run(600, grasper=lambda k: command(ramp(TOUCH_INSERTION_M, TOUCH_INSERTION_M - 0.03, k, 300), jaw=1.0,
                                             roll=np.pi / 2))
    slips = [e for e in scene.events if e.kind == "slip"]
    assert len(slips) == 1
    assert slips[0].instrument == "grasper" and slips[0].force_n > 0.05 and slips[0].detail["limit_n"] == 0.05
    assert not scene.coupler.grasping.grasps


def test_closing_on_nothing_grasps_nothing(make_scene, flap):
    scene = make_scene(flap, {"grasper": ("grasper", PORT, (0.0, 0.0, 0.0))})
    scene.run(300, grasper=lambda k: command(ramp(0.05, 0.12, k, 200), jaw=ramp(0.0, 1.0, k, 300)))
    assert "grasp" not in scene.kinds() and not scene.coupler.grasping.grasps


def test_a_grasp_holds_the_tissue_around_the_bite_softly(make_scene, flap):
    scene = grasp_flap(make_scene, flap)
    grasp = scene.coupler.grasping.grasps["grasper"]
    assert len(grasp.attached) > 0 and not np.isin(grasp.attached, grasp.nodes).any()
    assert np.all(flap.control.attached[grasp.attached]) and not flap.control.anchored[grasp.attached].any()
    # The hold fades with the distance from the jaws: the nearest attached nodes are tied hardest, relative to
    # their own springs.
    relative = grasp.stiffness / flap.control.node_params[grasp.attached, 1]
    assert relative.max() <= scene.coupler.options.grasp_hold_stiffness + 1e-12 and relative.min() >= 0.05 - 1e-12
    nothing = grasp_flap(make_scene, flap_like(flap.model), grasp_hold_stiffness=0.0).coupler.grasping.grasps["grasper"]
    assert len(nothing.attached) == 0


def flap_like(model) -> Tissue:
    from surgsim.tissue import Plane

    tissue = Tissue.of(model)
    tissue.control.anchor(box=((-1, -1, -1), (-0.0495, 1, 1)))
    tissue.control.set_obstacles([Plane((0.0, 0.0, 0.0), (0.0, 0.0, 1.0), 0.3)])
    return tissue


def test_opening_jaws_let_go_over_release_s(make_scene, flap):
    scene = grasp_flap(make_scene, flap)
    scene.run(600, grasper=lambda k: command(ramp(TOUCH_INSERTION_M, TOUCH_INSERTION_M - 0.015, k, 400), jaw=1.0,
                                             roll=np.pi / 2))
    grasping = scene.coupler.grasping
    held = grasping.grasps["grasper"].all_nodes
    holding = float(np.linalg.norm(grasping.holding_force("grasper")))
    assert holding > 0.0
    forces = []
    for k in range(100):
        scene.coupler.step({"grasper": command(TOUCH_INSERTION_M - 0.015, jaw=0.0, roll=np.pi / 2)})
        forces.append(float(np.linalg.norm(grasping.holding_force("grasper"))))
    events = scene.coupler.drain_events()
    scene.events += events
    assert scene.kinds().count("release") == 1
    (release,) = [e for e in events if e.kind == "release"]
    released_at = 100 - round((scene.coupler.time_s - release.time_s) / scene.coupler.dt)  # index in forces
    after = np.array(forces[released_at:])
    release_ticks = round(scene.coupler.options.release_s / scene.coupler.dt)
    letting_go = np.flatnonzero(after > 0.0)
    assert release_ticks - 2 <= len(letting_go) <= release_ticks + 2  # the hold fades over release_s ...
    assert np.all(np.diff(letting_go) == 1)
    fading = after[letting_go]
    assert fading.max() <= 1.5 * holding and fading[-1] < 0.2 * fading.max()  # ... without a spike
    assert not grasping.holding and not flap.control.attached[held].any() and not flap.control.anchored[held].any()
    assert "blowup" not in scene.kinds()


def test_a_node_anchored_by_something_else_stays_anchored_after_the_release(make_scene, flap):
    """A clip placed on tissue a grasp holds takes those nodes over: opening the grasper does not let them go."""
    scene = grasp_flap(make_scene, flap)
    grasp = scene.coupler.grasping.grasps["grasper"]
    clipped = grasp.attached[:2]
    flap.control.anchor(clipped, targets=scene.coupler.positions()[clipped])
    scene.run(10, grasper=lambda k: command(TOUCH_INSERTION_M, jaw=1.0, roll=np.pi / 2))
    assert not np.isin(clipped, grasp.attached).any()
    scene.run(200, grasper=lambda k: command(TOUCH_INSERTION_M, jaw=0.0, roll=np.pi / 2))
    assert "release" in scene.kinds() and not scene.coupler.grasping.holding
    assert flap.control.anchored[clipped].all() and not flap.control.anchored[grasp.nodes].any()


def test_the_grip_is_the_pinch_times_the_jaws_grip_coefficient(make_scene, flap):
    scene = grasp_flap(make_scene, flap)
    grasping = scene.coupler.grasping
    spec = scene.coupler.world.instruments["grasper"].spec
    assert "grasper" in grasping.grasps
    full = grasping.slip_force_n("grasper")
    assert full == pytest.approx(spec.grip_coefficient * spec.pinch_force_n)
    assert 10.0 < full < 12.5  # Heijnsdijk et al. 2004: 3 N of pinch held 5 N of pull; surgeons squeezed 6.8 N
    # a half-hearted squeeze (jaws commanded 0.7 closed) holds half the pinch, so half the pull
    scene.run(50, grasper=lambda k: command(TOUCH_INSERTION_M, jaw=0.7, roll=np.pi / 2))
    assert "grasper" in grasping.grasps
    assert grasping.pinch_force_n("grasper") == pytest.approx(0.5 * spec.pinch_force_n, rel=0.02)
    assert grasping.slip_force_n("grasper") == pytest.approx(0.5 * full, rel=0.02)


def test_only_the_pull_along_the_jaw_faces_can_slip(make_scene, flap):
    scene = grasp_flap(make_scene, flap)
    grasping = scene.coupler.grasping
    _, rotation = scene.coupler.world.instruments["grasper"].distal_frame()
    across, along = rotation[:, 1], rotation[:, 2]
    grasping._held["grasper"] = 20.0 * across  # pressing the tissue into one jaw: no slip however hard
    assert grasping.pull_along_jaws_n("grasper") == pytest.approx(0.0, abs=1e-9)
    grasping._held["grasper"] = 3.0 * across + 4.0 * along
    assert grasping.pull_along_jaws_n("grasper") == pytest.approx(4.0)
