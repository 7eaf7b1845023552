"""The rigid world: own DIRECT clients, deterministic stepping, instrument geometry, static anatomy."""

from __future__ import annotations

import math

import numpy as np
import pybullet
import pytest

from surgsim.errors import InputError
from surgsim.instrument_command import InstrumentCommand
from surgsim.instruments import RigidWorld


def drive(world, ticks: int, **commands):
    for name, command in commands.items():
        world.instruments[name].command(command)
    for _ in range(ticks):
        world.step()


def test_each_world_has_its_own_client_and_closes_it():
    first, second = RigidWorld(), RigidWorld()
    assert first.client != second.client
    first.add_instrument("a", "grasper", port_m=(0, 0, 0.2), aim_m=(0, 0, 0))
    assert pybullet.getNumBodies(physicsClientId=second.client) == 0
    client = first.client
    first.close()
    assert not pybullet.isConnected(client) and pybullet.isConnected(second.client)
    second.close()


def test_same_calls_give_bit_identical_rigid_states():
    def run():
        with RigidWorld() as world:
            world.add_instrument("g", "grasper", port_m=(0.05, 0.0, 0.2), aim_m=(0, 0, 0))
            world.add_instrument("s", "scissors", port_m=(-0.05, 0.0, 0.2), aim_m=(0, 0, 0))
            world.add_box("table", (0, 0, -0.05), (0.2, 0.2, 0.02))
            for k in range(5):
                drive(world, 100, g=InstrumentCommand(pivot_yaw_rad=0.1 * k, pivot_pitch_rad=-0.05 * k,
                                                      insertion_m=0.05 * k, roll_rad=k, jaw=0.2 * k, energy=False),
                      s=InstrumentCommand(pivot_yaw_rad=-0.1, pivot_pitch_rad=0.1, insertion_m=0.2, roll_rad=0,
                                          jaw=0.25 * (k % 2), energy=False))
            return [np.concatenate([c.p0, c.p1]) for i in world.instruments.values() for c in i.collision_capsules()]

    assert np.array_equal(run(), run())


def test_jaws_open_to_the_commanded_angle():
    with RigidWorld() as world:
        grasper = world.add_instrument("g", "grasper", port_m=(0, 0, 0.2), aim_m=(0, 0, 0))
        drive(world, 400, g=InstrumentCommand(pivot_yaw_rad=0.3, pivot_pitch_rad=0.2, insertion_m=0.1,
                                              roll_rad=0.7, jaw=0.25, energy=False))
        shaft, jaw_a, jaw_b = grasper.collision_capsules()
        a, b = jaw_a.p1 - jaw_a.p0, jaw_b.p1 - jaw_b.p0
        opening = math.atan2(np.linalg.norm(np.cross(a, b)), a @ b)  # acos(a·b/|a||b|) can round out of its domain
        assert opening == pytest.approx(0.75 * grasper.spec.max_jaw_opening_rad, abs=1e-3)
        assert grasper.jaw == pytest.approx(0.25, abs=1e-3)
        assert np.linalg.norm(a) == pytest.approx(grasper.spec.jaw_length_m)
        np.testing.assert_allclose(shaft.p0, (0, 0, 0.2), atol=1e-6)  # the shaft enters the body at the pivot
        origin, rotation = grasper.distal_frame()
        np.testing.assert_allclose(rotation[:, 0] @ a, 0.0, atol=1e-9)  # the jaws open about the hinge pin (x)


def test_a_shaft_outside_the_body_does_not_touch():
    with RigidWorld() as world:
        probe = world.add_instrument("p", "probe", port_m=(0, 0, 0.2), aim_m=(0, 0, 0))
        assert not probe.collision_capsules()[0].enabled  # the tip starts at the pivot
        drive(world, 200, p=InstrumentCommand(pivot_yaw_rad=0, pivot_pitch_rad=0, insertion_m=0.05, roll_rad=0,
                                              jaw=0, energy=False))
        assert probe.collision_capsules()[0].enabled


def test_static_anatomy_stops_an_instrument():
    with RigidWorld() as world:
        probe = world.add_instrument("p", "probe", port_m=(0, 0, 0.2), aim_m=(0, 0, 0))
        world.add_box("bone", (0.0, 0.0, 0.05), (0.05, 0.05, 0.01))  # top face at z = 6 cm
        drive(world, 800, p=InstrumentCommand(pivot_yaw_rad=0, pivot_pitch_rad=0, insertion_m=0.2, roll_rad=0,
                                              jaw=0, energy=False))
        assert probe.tip_position()[2] > 0.06  # the bone holds the tip out, the motor cannot push through
        assert [b.kind for b in world.static_bodies] == ["box"]


def test_names_are_unique():
    with RigidWorld() as world:
        world.add_instrument("g", "grasper", port_m=(0, 0, 0.2), aim_m=(0, 0, 0))
        with pytest.raises(InputError, match="already exists"):
            world.add_instrument("g", "probe", port_m=(0, 0, 0.2), aim_m=(0, 0, 0))
        world.add_sphere("s", (0, 0, 0), 0.01)
        with pytest.raises(InputError, match="already exists"):
            world.add_plane("s", (0, 0, 0), (0, 0, 1))
