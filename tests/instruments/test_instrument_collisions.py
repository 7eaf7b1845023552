"""Instruments against each other: two through the same port do not collide (they would jam), instruments from
distinct ports, and free ones, do (real instruments clash)."""

from __future__ import annotations

import numpy as np
import pybullet

from surgsim.instrument_command import FreePoseCommand, InstrumentCommand
from surgsim.instruments import RigidWorld
from surgsim.instruments.world import SHARED_PORT_M


def command(yaw: float, insertion: float) -> InstrumentCommand:
    return InstrumentCommand(pivot_yaw_rad=yaw, pivot_pitch_rad=0.0, insertion_m=insertion, roll_rad=0.0, jaw=0.0,
                             energy=False)


def touching(world: RigidWorld, first: str, second: str) -> bool:
    a, b = (world.instruments[name].body.body_id for name in (first, second))
    return bool(pybullet.getContactPoints(a, b, physicsClientId=world.client))


def overlap(world: RigidWorld, first: str, second: str) -> float:
    """How deep the two instruments' shapes overlap [m] (0 when apart)."""
    a, b = (world.instruments[name].body.body_id for name in (first, second))
    points = pybullet.getClosestPoints(a, b, 0.0, physicsClientId=world.client)
    return max([0.0] + [-point[8] for point in points])


def drive(world: RigidWorld, ticks: int, **commands) -> tuple[bool, float]:
    """Step with ``commands``: whether the two instruments ever touched, and their deepest overlap [m]."""
    for name, value in commands.items():
        world.instruments[name].command(value)
    touched, deepest = False, 0.0
    for _ in range(ticks):
        world.step()
        touched |= touching(world, *world.instruments)
        deepest = max(deepest, overlap(world, *world.instruments))
    return touched, deepest


def shaft_reaches(instrument, yaw: float, insertion: float) -> float:
    """Distance [m] from where the commanded angles and insertion put the closed jaws' end to the shaft's axis end."""
    trocar = instrument.trocar
    wanted = trocar.pivot + (insertion - instrument.spec.tip_length_m) * trocar.shaft_direction(yaw, 0.0)
    return float(np.linalg.norm(instrument.distal_frame()[0] - wanted))


def test_two_instruments_through_one_port_do_not_jam():
    with RigidWorld() as world:
        a = world.add_instrument("a", "grasper", port_m=(0.0, 0.0, 0.2), aim_m=(0.0, 0.0, 0.0))
        b = world.add_instrument("b", "scissors", port_m=(0.5 * SHARED_PORT_M, 0.0, 0.2), aim_m=(0.0, 0.0, 0.0))
        touched, deepest = drive(world, 800, a=command(0.2, 0.15), b=command(-0.2, 0.15))
        assert not touched and deepest > 0.002  # the shafts overlap at the port, and nothing pushes them apart
        assert shaft_reaches(a, 0.2, 0.15) < 1e-4 and shaft_reaches(b, -0.2, 0.15) < 1e-4


def test_instruments_from_distinct_ports_clash():
    with RigidWorld() as world:
        a = world.add_instrument("a", "probe", port_m=(-0.03, 0.0, 0.2), aim_m=(0.0, 0.0, 0.0))
        b = world.add_instrument("b", "probe", port_m=(0.03, 0.0, 0.2), aim_m=(0.0, 0.0, 0.0))
        assert not drive(world, 600, a=command(0.0, 0.15), b=command(0.0, 0.25))[0]  # b's shaft crosses a's axis
        # a's tip comes down onto b's shaft, exactly on its axis: they meet and push each other aside, not through
        touched, deepest = drive(world, 800, a=command(0.0, 0.25))
        assert touched and deepest < 0.001


def test_a_free_instrument_clashes_with_a_trocar_one():
    with RigidWorld() as world:
        world.add_instrument("lap", "probe", port_m=(0.0, 0.0, 0.2), aim_m=(0.0, 0.0, 0.0))
        free = world.add_free_instrument("open", "probe", position_m=(0.05, 0.0, 0.1), aim_m=(0.05, 0.0, 0.0))
        drive(world, 300, lap=command(0.0, 0.12))
        orientation = list(pybullet.getBasePositionAndOrientation(free.body.body_id, physicsClientId=world.client)[1])
        # swept sideways through the laparoscopic probe's shaft (at x = 0, from z = 0.2 down to 0.08)
        touched, deepest = drive(world, 800, open=FreePoseCommand(position_m=[-0.05, 0.0, 0.1],
                                                                   orientation_xyzw=orientation, jaw=0.0,
                                                                   energy=False))
        assert touched and deepest < 0.001
