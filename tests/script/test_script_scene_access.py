"""What surgsim.script gives a script to read of the procedure and its scene (so that tuned scripts, like the shipped
procedures' in tools/scripted, need nothing from the session's internals)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from surgsim.errors import InputError
from surgsim.script import (
    Controller,
    embedded_points,
    held_displacement_mm,
    jaw_roll,
    segment_distance,
    shaft_frame,
)

PROCEDURE = Path(__file__).parents[2] / "procedures" / "examples" / "tissue_lift.yaml"


@pytest.fixture(scope="module")
def ctl():
    from surgsim.session import Session

    with Session(PROCEDURE, arch="cpu") as session:
        controller = Controller(session)
        session.tick(controller.commands())  # the tissue settled, one tick in
        yield controller


def test_the_procedure_and_its_regions_by_name(ctl):
    assert [step.name for step in ctl.procedure.steps] == ["grasp_flap", "lift_flap"]
    flap = ctl.region_nodes("flap")
    rest = ctl.rest_positions()
    # the flap is a ball of 8 mm radius round the pad's centre (at rest)
    assert len(flap) and np.all(np.linalg.norm(rest[flap], axis=1) <= 0.008 + 1e-9)
    assert set(ctl.rest_surface_nodes()) < set(range(len(rest)))
    with pytest.raises(InputError, match="region 'flop'.*its regions: flap, left_edge, right_edge"):
        ctl.region_nodes("flop")
    with pytest.raises(InputError, match="landmark 'tip'.*its landmarks: none"):
        ctl.landmark("tip")


def test_region_shapes_and_embedded_points_follow_the_tissue(ctl):
    now = ctl.positions()
    sagged = now[:, 2] - ctl.rest_positions()[:, 2]
    assert sagged.min() < -0.005  # the pad hangs between its held edges, so "now" differs from rest
    # the flap of tissue (a sphere region on an organ) is the patch of its surface there, moved with it
    patch = ctl.region_shape("flap")
    where_nodes_are = {tuple(position) for position in now}
    assert len(patch.vertices) and all(tuple(vertex) in where_nodes_are for vertex in patch.vertices)
    rest_flap = ctl.rest_positions()[ctl.region_nodes("flap")]
    assert patch.vertices[:, 2].mean() < rest_flap[:, 2].max() - 0.005  # sagged with the pad
    node = int(ctl.region_nodes("flap")[0])
    (followed,) = embedded_points(ctl, [ctl.rest_positions()[node]])
    np.testing.assert_allclose(followed.position(now), now[node], atol=1e-12)


def test_held_displacement_is_zero_with_nothing_held(ctl):
    assert held_displacement_mm(ctl, "grasper", [0, 0, 1]) == 0.0
    assert held_displacement_mm(ctl, "grasper", [0, 0, 1], region="flap") == 0.0


def test_jaw_roll_opens_the_jaws_along_the_direction_asked(ctl):
    arm = ctl.arms["grasper"]
    np.testing.assert_allclose(arm.pivot, [0.04, -0.1, 0.12])  # the procedure's port_mm
    target = np.array([0.0, 0.0, -0.01])
    across = np.array([1.0, 0.0, 0.0])
    roll = jaw_roll(ctl, "grasper", target, across)
    from surgsim.script import aim

    yaw, pitch, _ = aim(arm.trocar, target)
    frame = shaft_frame(arm.trocar, yaw, pitch)
    opening = math.cos(roll) * frame[:, 1] - math.sin(roll) * frame[:, 0]  # the jaw axis y after the roll
    perpendicular = across - (across @ frame[:, 2]) * frame[:, 2]
    assert abs(opening @ perpendicular / np.linalg.norm(perpendicular)) == pytest.approx(1.0, abs=1e-9)


def test_segment_distance_of_skew_segments():
    # crossing 10 cm shafts, one 10 mm above the other: 10 mm apart (within the 0.25 mm sampling of the first)
    assert segment_distance([-0.05, 0, 0], [0.05, 0, 0], [0, -0.05, 0.01], [0, 0.05, 0.01]) == pytest.approx(
        0.01, abs=4e-6)
    # parallel segments end to end along x, 3 mm apart where they are nearest
    assert segment_distance([0, 0, 0], [1, 0, 0], [1.003, 0, 0], [2, 0, 0]) == pytest.approx(0.003, abs=1e-9)
