"""Sleeping organs: an organ at rest with no instrument near falls asleep (the solver skips it), wakes before an
instrument touches it, and the organs that stay awake move as with sleeping off."""

from __future__ import annotations

import numpy as np
import pytest
from coupling_scenes import Tissue, command, ramp

from surgsim.mesh.combine import combine_models
from surgsim.mesh.primitives import tet_block
from surgsim.tissue.contact_layout import C_P0, C_P1, C_RADIUS

TOP_M = 0.006
FLAP_PORT = (0.0, 0.0, 0.15)
PROBE_PORT = (0.10, 0.0, 0.15)  # straight above the resting block's middle
SKIN_M = 2.5e-4


def _two_organs():
    """A flap on the floor under the grasper, held along its end (as in test_grasp), and, first in node order, a
    block lying on the same floor 10 cm away, under a probe that starts well above it."""
    from surgsim.tissue import Plane

    block = tet_block((0.04, 0.02, TOP_M), (8, 4, 2), origin_m=(0.08, -0.01, 0.0))
    flap = tet_block((0.06, 0.02, TOP_M), (24, 8, 2), origin_m=(-0.05, -0.01, 0.0))
    combined = combine_models([("block", block), ("flap", flap)])
    tissue = Tissue.of(combined.model)
    tissue.control.anchor(box=((-1, -1, -1), (-0.0495, 1, 1)))
    tissue.control.set_obstacles([Plane((0.0, 0.0, 0.0), (0.0, 0.0, 1.0), 0.3)])
    return tissue, combined.node_ranges


def _scene(make_scene, **options):
    tissue, ranges = _two_organs()
    scene = make_scene(tissue, {"grasper": ("grasper", FLAP_PORT, (0.0, 0.0, 0.0)),
                                "probe": ("grasper", PROBE_PORT, (0.10, 0.0, 0.0))}, **options)
    return scene, ranges


def _grasp_and_lift(scene, ticks):
    """Grasp the flap's free end and lift it 15 mm; the probe stays up."""
    down = 0.148

    def grasper(k):
        if k < 300:
            return command(ramp(0.12, down, k, 300), roll=np.pi / 2)
        if k < 450:
            return command(down, jaw=ramp(0.0, 1.0, k - 300, 100), roll=np.pi / 2)
        return command(ramp(down, down - 0.015, k - 450, 400), jaw=1.0, roll=np.pi / 2)

    scene.run(ticks, grasper=grasper, probe=lambda k: command(0.10))


def test_a_resting_organ_sleeps_and_the_others_move_as_with_sleeping_off(make_scene):
    runs = {}
    for sleep in (True, False):
        scene, ranges = _scene(make_scene, sleep=sleep)
        _grasp_and_lift(scene, 900)
        runs[sleep] = (scene, ranges, scene.coupler.positions().copy())
    scene, ranges, x_on = runs[True]
    _, _, x_off = runs[False]
    block, flap = ranges["block"], ranges["flap"]
    assert scene.coupler.sleeping.asleep == ["block"]
    assert tuple(scene.coupler.control.awake_window[:2]) == (flap.start, flap.stop)
    assert runs[False][0].coupler.sleeping is None
    # The flap was grasped and lifted the same (to round-off: 1e-13 m measured): nothing joins it to the block.
    assert x_on[flap.stop - 1, 2] > 0.01
    assert np.abs(x_on[flap.start:flap.stop] - x_off[flap.start:flap.stop]).max() < 1e-11
    # The block rests where it settled: within the sleep speed's reach of where the awake block is.
    assert np.abs(x_on[block.start:block.stop] - x_off[block.start:block.stop]).max() < 1e-5
    before = scene.coupler.positions()[block.start:block.stop].copy()
    _grasp_and_lift(scene, 50)
    assert np.array_equal(scene.coupler.positions()[block.start:block.stop], before)


def test_an_instrument_wakes_the_organ_before_it_touches_it(make_scene):
    scene, ranges = _scene(make_scene)
    block = ranges["block"]
    scene.run(400, grasper=lambda k: command(0.10), probe=lambda k: command(0.10))
    assert "block" in scene.coupler.sleeping.asleep
    rest = scene.coupler.positions()[block.start:block.stop].copy()
    touched_asleep = []
    rows = scene.coupler.layout.rows_of["probe"]

    def probe(k):
        return command(ramp(0.10, 0.148, k, 500))

    for k in range(600):
        scene.run(1, grasper=lambda _: command(0.10), probe=lambda _, k=k: probe(k))
        capsules = scene.coupler.layout.pack()
        x = scene.coupler.positions()[block.start:block.stop]
        gap = min(_distance(x, capsules[row, C_P0:C_P0 + 3], capsules[row, C_P1:C_P1 + 3]) - capsules[row, C_RADIUS]
                  for row in rows)
        if gap < SKIN_M and "block" in scene.coupler.sleeping.asleep:
            touched_asleep.append(k)
    assert touched_asleep == []
    assert "block" not in scene.coupler.sleeping.asleep
    # The probe pressed into the block's top: it moved.
    assert np.abs(scene.coupler.positions()[block.start:block.stop] - rest).max() > 1e-3


def test_changing_a_sleeping_organs_anchors_wakes_it(make_scene):
    scene, ranges = _scene(make_scene)
    block = ranges["block"]
    scene.run(400, grasper=lambda k: command(0.10), probe=lambda k: command(0.10))
    assert "block" in scene.coupler.sleeping.asleep
    scene.coupler.control.anchor([block.start])
    scene.run(1, grasper=lambda k: command(0.10), probe=lambda k: command(0.10))
    assert "block" not in scene.coupler.sleeping.asleep


@pytest.mark.parametrize("sleep", ["at_rest", "off"])
def test_the_procedure_switch(sleep):
    from surgsim.procedure.schema import Physics

    physics = Physics(sleep=sleep)
    assert ("sleep" in physics.model_dump()) == (sleep == "off")


def _distance(points, p0, p1):
    d = p1 - p0
    t = np.clip((points - p0) @ d / max(float(d @ d), 1e-300), 0.0, 1.0)
    return float(np.linalg.norm(points - (p0 + t[:, None] * d), axis=1).min())
