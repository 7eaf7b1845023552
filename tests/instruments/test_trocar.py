"""The trocar: the shaft always passes through the pivot (remote centre of motion), whatever the commands and loads."""

from __future__ import annotations

import math

import numpy as np
import pytest

from surgsim.instrument_command import InstrumentCommand
from surgsim.instruments import RigidWorld, Trocar

PIVOT = (0.05, 0.2, 0.1)
AIM = (-0.02, 0.1, 0.0)


def test_port_frame_is_orthonormal_and_aims_at_the_target():
    trocar = Trocar(PIVOT, AIM)
    r = trocar.rotation
    np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
    aim = np.subtract(AIM, PIVOT)
    np.testing.assert_allclose(trocar.shaft_direction(0.0, 0.0), aim / np.linalg.norm(aim), atol=1e-12)
    assert abs(r[2, 0]) < 1e-12  # x is horizontal
    vertical = Trocar((0.0, 0.0, 0.3), (0.0, 0.0, 0.0))  # aimed straight down: x from the +y reference
    np.testing.assert_allclose(vertical.shaft_direction(0.0, 0.0), [0.0, 0.0, -1.0], atol=1e-12)


def test_shaft_always_passes_within_0_1_mm_of_the_pivot():
    """Random commands (pivot angles up to and beyond the cone, insertion, roll, jaws) and random loads on every
    link, up to 20 N: at every tick the shaft's axis, read from PyBullet, passes within 1e-4 m of the pivot, and
    points where the trocar says the commanded angles point once the motors have settled."""
    rng = np.random.default_rng(7)
    with RigidWorld() as world:
        grasper = world.add_instrument("grasper", "grasper", port_m=PIVOT, aim_m=AIM)
        worst = 0.0
        for _ in range(12):
            command = InstrumentCommand(pivot_yaw_rad=rng.uniform(-1.2, 1.2), pivot_pitch_rad=rng.uniform(-1.2, 1.2),
                                        insertion_m=rng.uniform(0.0, 0.4), roll_rad=rng.uniform(-6, 6),
                                        jaw=rng.uniform(0, 1), energy=False)
            grasper.command(command)
            for _ in range(150):
                for capsule in grasper.collision_capsules():
                    grasper.push(capsule.link, rng.normal(0.0, 10.0, 3), capsule.p1)
                world.step()
                origin, axis = grasper.shaft_axis()
                worst = max(worst, grasper.trocar.distance_to_shaft_line(origin, axis))
        assert worst < 1e-4
        for _ in range(800):  # settle without loads on the last command
            world.step()
        limit = grasper.trocar.max_angle_rad
        expected = grasper.trocar.shaft_direction(np.clip(command.pivot_yaw_rad, -limit, limit),
                                                  np.clip(command.pivot_pitch_rad, -limit, limit))
        np.testing.assert_allclose(grasper.shaft_axis()[1], expected, atol=1e-3)


def test_trocar_refuses_a_port_aimed_at_itself():
    from surgsim.errors import InputError

    with pytest.raises(InputError, match="port"):
        Trocar(PIVOT, PIVOT)
    with pytest.raises(InputError, match="max_angle"):
        Trocar(PIVOT, AIM, max_angle_rad=math.radians(120))
