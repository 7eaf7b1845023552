"""Cutting: scissors closing across a strip divide it in two, reopen the surface there, and report the cut."""

from __future__ import annotations

import numpy as np
import pytest
from coupling_scenes import Tissue, command, ramp

from surgsim.mesh.primitives import tet_block

CUT_X_M = 0.00125  # between two grid planes of the strip
# The scissors come in along +y at mid-thickness; at zero roll their blades open vertically, in the plane x = CUT_X_M.
PORT = (CUT_X_M, -0.15, 0.002)
AIM = (CUT_X_M, 0.0, 0.002)
HINGE_AT_Y_M = -0.004  # the strip's width (y 0..10 mm) lies between the blades, 4 to 14 mm from the hinge


@pytest.fixture
def strip(taichi_cpu):
    """A 6 × 1 × 0.4 cm strip held at both ends, without gravity (the cut, not the sag, is under test)."""
    model = tet_block((0.06, 0.01, 0.004), (24, 4, 2), origin_m=(-0.03, 0.0, 0.0), region_name="duct")
    tissue = Tissue.of(model, gravity=(0.0, 0.0, 0.0))
    tissue.control.anchor(np.flatnonzero(np.abs(model.positions[:, 0]) > 0.0295))
    return tissue


def test_scissors_cut_a_strip_across_its_width_into_two_pieces(make_scene, strip):
    scene = make_scene(strip, {"scissors": ("scissors", PORT, AIM)})
    scissors = scene.world.instruments["scissors"]
    insertion = -PORT[1] + HINGE_AT_Y_M + scissors.spec.tip_length_m
    scene.run(500, scissors=lambda k: command(ramp(0.1, insertion, k, 400)))
    assert scene.coupler.topology.spring_components() == 1 and "cut" not in scene.kinds()

    scene.run(150, scissors=lambda k: command(insertion, jaw=ramp(0.0, 1.0, k, 100)))
    scene.run(50, scissors=lambda k: command(insertion, jaw=1.0))

    assert scene.coupler.topology.spring_components() == 2
    cuts = [e for e in scene.events if e.kind == "cut"]
    assert len(cuts) == 1  # one closing stroke, one event
    cut = cuts[0]
    assert cut.instrument == "scissors" and cut.region == "duct" and cut.detail["springs"] > 0
    assert cut.detail["rest_position_m"][0] == pytest.approx(CUT_X_M, abs=1.5e-3)
    # The render surface was rebuilt: new faces where the strip opened, none spanning the cut.
    assert scene.coupler.surface_version > 0
    surface = scene.coupler.current_surface_triangles()
    original = {tuple(sorted(face)) for face in strip.model.surface_triangles.tolist()}
    opened = np.array([face for face in surface.tolist() if tuple(sorted(face)) not in original])
    assert len(opened) > 0
    assert np.all(np.abs(strip.model.positions[opened].mean(axis=1)[:, 0] - CUT_X_M) < 3e-3)
    side = strip.model.positions[surface][:, :, 0] > CUT_X_M
    assert np.all(side.all(axis=1) | ~side.any(axis=1))


def test_closing_scissors_away_from_tissue_cut_nothing(make_scene, strip):
    scene = make_scene(strip, {"scissors": ("scissors", PORT, AIM)})
    scene.run(300, scissors=lambda k: command(0.05, jaw=ramp(0.0, 1.0, k, 200)))
    assert "cut" not in scene.kinds() and scene.coupler.topology.removed_springs == 0
