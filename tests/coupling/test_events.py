"""The event stream: contact start/end with forces, force limits, clips; and tissue against static rigid anatomy."""

from __future__ import annotations

import numpy as np
import pytest
from coupling_scenes import Tissue, command, ramp

from surgsim.mesh.primitives import tet_block


@pytest.fixture
def block(taichi_cpu):
    model = tet_block((0.03, 0.03, 0.01), (12, 12, 4), origin_m=(-0.015, -0.015, -0.01), region_name="liver")
    tissue = Tissue.of(model)
    tissue.control.anchor(box=((-1, -1, -0.0101), (1, 1, -0.0099)))
    return tissue


def test_a_press_is_one_contact_with_its_peak_force_and_force_limit_crossings(make_scene, block):
    scene = make_scene(block, {"probe": ("probe", (0.0, 0.0, 0.1), (0.0, 0.0, 0.0))}, force_limit_n=0.05)
    touch = 0.1 - 0.0025 - scene.coupler.options.skin_m
    scene.run(300, probe=lambda k: command(ramp(0.05, touch - 0.002, k, 200)))
    assert not scene.events
    peak = 0.0
    for k in range(800):
        depth = ramp(-0.002, 0.004, k, 300) if k < 400 else ramp(0.004, -0.05, k - 400, 300)
        scene.coupler.step({"probe": command(touch + depth)})
        peak = max(peak, float(np.linalg.norm(scene.coupler.reaction_force("probe"))))
    scene.events += scene.coupler.drain_events()
    assert scene.kinds() == ["contact_start", "force_limit", "force_limit_end", "contact_end"]
    start, over, under, end = scene.events
    assert start.instrument == "probe" and start.region == "liver" and start.position_m is not None
    assert start.time_s < over.time_s < under.time_s < end.time_s
    assert over.force_n > 0.05 >= under.force_n and over.detail["limit_n"] == 0.05
    assert end.force_n == pytest.approx(peak)
    assert all(e.time_s == pytest.approx(round(e.time_s / 1e-3) * 1e-3) for e in scene.events)  # tick × dt


def test_sample_reports_the_instruments_for_the_trace(make_scene, block):
    scene = make_scene(block, {"probe": ("probe", (0.0, 0.0, 0.1), (0.0, 0.0, 0.0))})
    touch = 0.1 - 0.0025 - scene.coupler.options.skin_m
    scene.run(500, probe=lambda k: command(ramp(0.05, touch + 0.003, k, 300)))
    sample = scene.coupler.sample()["probe"]
    assert sample.tip_m == pytest.approx([0.0, 0.0, 0.1 - (touch + 0.003)], abs=1e-4)
    assert sample.force_n == pytest.approx(list(scene.coupler.reaction_force("probe")))
    assert sample.force_n[2] > 0.0 and sample.jaw == 0.0 and sample.energy is False


def test_clip_applier_places_a_clip_on_the_tissue_between_its_jaws(make_scene, taichi_cpu):
    model = tet_block((0.03, 0.006, 0.004), (12, 3, 2), origin_m=(-0.015, -0.003, 0.0), region_name="duct")
    tissue = Tissue.of(model, gravity=(0.0, 0.0, 0.0))
    tissue.control.anchor(np.flatnonzero(np.abs(model.positions[:, 0]) > 0.0145))
    # The applier comes along +y across the duct; its jaws open vertically around it.
    scene = make_scene(tissue, {"clips": ("clip_applier", (0.00125, -0.15, 0.002), (0.00125, 0.0, 0.002))})
    insertion = 0.15 + 0.006 + scene.world.instruments["clips"].spec.tip_length_m - 0.002
    scene.run(500, clips=lambda k: command(ramp(0.1, insertion, k, 400)))
    scene.run(200, clips=lambda k: command(insertion, jaw=ramp(0.0, 1.0, k, 100)))
    clips = [e for e in scene.events if e.kind == "clip"]
    assert len(clips) == 1 and clips[0].instrument == "clips" and clips[0].region == "duct"
    assert abs(clips[0].position_m[0] - 0.00125) < 0.003
    assert len(scene.coupler.clipping.clips) == 1


def test_tissue_rests_on_static_anatomy_and_is_pushed_out_of_it(make_scene, taichi_cpu):
    model = tet_block((0.03, 0.03, 0.01), (10, 10, 4), origin_m=(-0.015, -0.015, 0.0))
    tissue = Tissue.of(model)

    def anatomy(world):
        world.add_box("table", (0.0, 0.0, -0.01), (0.05, 0.05, 0.01))
        world.add_sphere("bump", (0.0, 0.0, 0.0), 0.004)

    scene = make_scene(tissue, {"probe": ("probe", (0.0, 0.2, 0.1), (0.0, 0.2, 0.0))}, anatomy=anatomy)
    scene.run(600)
    x = scene.coupler.positions()
    assert x[:, 2].min() > -1e-4  # on the table, not through it
    assert np.linalg.norm(x, axis=1).min() > 0.004 - 1e-4  # not inside the bump
    assert x[:, 2].max() > 0.0101  # the bump lifted the block's middle
    # The table became an obstacle of the coupler's control, not of the solver: another control starts bare, and
    # stepped on the same solver, the block sinks through where the table is.
    assert len(scene.control.obstacles) == 1 and tissue.solver.control().obstacles == []
    bare = tissue.solver.control()
    a, b = tissue.solver.state(), tissue.solver.state()
    for _ in range(100):
        tissue.solver.step(a, b, bare)
        a, b = b, a
    assert a.positions_numpy()[:, 2].min() < -0.005


def test_the_tissue_reaction_loads_the_instrument_in_pybullet(make_scene, block):
    """The reaction is applied to the PyBullet body: pressing the tissue, the insertion motor must push harder, by the
    reaction along the shaft (the motors stand for the hand that holds the instrument)."""
    import pybullet

    from surgsim.instruments.builder import INSERTION

    scene = make_scene(block, {"probe": ("probe", (0.0, 0.0, 0.1), (0.0, 0.0, 0.0))})
    probe = scene.world.instruments["probe"]
    touch = 0.1 - 0.0025 - scene.coupler.options.skin_m

    def motor_force_n() -> float:
        return pybullet.getJointState(probe.body.body_id, INSERTION, physicsClientId=scene.world.client)[3]

    scene.run(400, probe=lambda k: command(ramp(0.05, touch - 0.003, k, 200)))
    free = motor_force_n()
    scene.run(700, probe=lambda k: command(ramp(touch - 0.003, touch + 0.004, k, 300)))
    pressing = motor_force_n()
    reaction_along_shaft = scene.coupler.reaction_force("probe") @ probe.shaft_axis()[1]
    assert reaction_along_shaft < -0.05  # the tissue pushes the probe back up its shaft
    assert pressing - free == pytest.approx(-reaction_along_shaft, rel=0.05)
