"""Free (open-surgery) instruments: they follow a commanded 6-DOF pose, jumps become continuous motion, bad poses are
refused naming the instrument, and the same commands give bit-identical states."""

from __future__ import annotations

import math

import numpy as np
import pytest

from surgsim.errors import InputError
from surgsim.instruments import FreeInstrument, RigidWorld
from surgsim.instruments.builder import quaternion_from_matrix
from surgsim.instruments.pose import (FREE_SLEW_LIMITS, PoseTargets, quaternion_about, quaternion_multiply,
                                      rotation_angle)
from surgsim.instrument_command import FreePoseCommand, InstrumentCommand

START = (0.0, 0.0, 0.1)
AIM = (0.0, 0.02, 0.0)


def pose_command(position, orientation, *, jaw: float = 0.0, energy: bool = False) -> FreePoseCommand:
    return FreePoseCommand(position_m=[float(v) for v in position], orientation_xyzw=[float(v) for v in orientation],
                           jaw=jaw, energy=energy)


def unchecked(**fields) -> FreePoseCommand:
    values = dict(position_m=list(START), orientation_xyzw=[0.0, 0.0, 0.0, 1.0], jaw=0.0, energy=False)
    values.update(fields)
    return FreePoseCommand.model_construct(**values)  # as a device would build it, unchecked


def orientation_of(instrument) -> tuple:
    return quaternion_from_matrix(instrument.distal_frame()[1])


def test_it_starts_at_its_position_aimed_at_the_aim_with_the_whole_shaft_in_contact():
    with RigidWorld() as world:
        grasper = world.add_free_instrument("g", "grasper", position_m=START, aim_m=AIM)
        assert isinstance(grasper, FreeInstrument) and grasper.access == "open" and grasper.trocar is None
        origin, rotation = grasper.distal_frame()
        np.testing.assert_allclose(origin, START, atol=1e-12)
        aim = np.subtract(AIM, START) / np.linalg.norm(np.subtract(AIM, START))
        np.testing.assert_allclose(rotation[:, 2], aim, atol=1e-12)
        assert abs(rotation[2, 0]) < 1e-12  # the hinge pin is horizontal, as in a port frame
        shaft, jaw_a, jaw_b = grasper.collision_capsules()
        assert shaft.enabled and shaft.link == grasper.distal_link == -1
        assert np.linalg.norm(shaft.p1 - shaft.p0) == pytest.approx(grasper.spec.shaft_length_m)
        assert grasper.jaw == pytest.approx(0.0, abs=1e-9)  # open
        np.testing.assert_allclose(grasper.tip_position(), origin + grasper.spec.jaw_length_m * aim
                                   * math.cos(grasper.spec.max_jaw_opening_rad / 2), atol=1e-9)
        for _ in range(500):  # it holds its start pose under gravity
            world.step()
        np.testing.assert_allclose(grasper.distal_frame()[0], START, atol=1e-6)


@pytest.mark.parametrize("kind", ["grasper", "hook_cautery", "probe"])
def test_it_follows_a_commanded_pose(kind):
    with RigidWorld() as world:
        tool = world.add_free_instrument("t", kind, position_m=START, aim_m=AIM)
        orientation = quaternion_multiply(quaternion_about((1.0, 0.5, -0.2), 0.7), orientation_of(tool))
        target = np.array([0.03, -0.02, 0.13])
        tool.command(pose_command(target, orientation, jaw=0.4, energy=True))
        for _ in range(800):
            world.step()
        origin, rotation = tool.distal_frame()
        assert np.linalg.norm(origin - target) < 1e-4
        assert rotation_angle(quaternion_from_matrix(rotation), orientation) < 1e-3
        if tool.spec.has_jaws:
            assert tool.jaw == pytest.approx(0.4, abs=1e-3)
        assert tool.energy == tool.spec.energy
        for capsule in tool.collision_capsules()[1:]:  # jaws and tip move with the distal frame
            local = rotation.T @ (capsule.p0 - origin)
            assert np.linalg.norm(local) < 0.01


def test_a_10_cm_jump_becomes_continuous_motion():
    with RigidWorld() as world:
        tool = world.add_free_instrument("p", "probe", position_m=START, aim_m=AIM)
        target = np.add(START, (0.1, 0.0, 0.0))
        tool.command(pose_command(target, orientation_of(tool)))
        path = []
        for _ in range(400):
            world.step()
            path.append(tool.distal_frame()[0].copy())
        path = np.array(path)
        steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
        limit = FREE_SLEW_LIMITS["position"] * world.dt
        assert steps.max() < 1.2 * limit  # never faster than the slew limit (plus the constraint's small lag)
        arrival = int(np.argmax(np.linalg.norm(path - target, axis=1) < 1e-4))
        assert arrival >= 0.1 / limit - 1  # it took the 0.2 s the limit implies, not one tick
        assert np.linalg.norm(path[-1] - target) < 1e-4
        distance = np.linalg.norm(path - target, axis=1)
        assert np.all(np.diff(distance[:arrival]) < 0)  # straight at it


def test_pose_targets_turn_at_most_the_angular_slew_limit():
    start = PoseTargets()
    goal = PoseTargets(orientation=quaternion_about((0.0, 1.0, 0.0), 2.0), jaw=1.0)
    step = start.approach(goal, 1e-3)
    assert rotation_angle(start.orientation, step.orientation) == pytest.approx(FREE_SLEW_LIMITS["rotation"] * 1e-3)
    assert rotation_angle(step.orientation, goal.orientation) == pytest.approx(2.0 - FREE_SLEW_LIMITS["rotation"] * 1e-3)
    assert step.jaw == pytest.approx(FREE_SLEW_LIMITS["jaw"] * 1e-3)
    flipped = PoseTargets(orientation=tuple(-v for v in goal.orientation))  # -q is q: no turn the long way round
    assert flipped.approach(goal, 1e-3).orientation == goal.orientation


@pytest.mark.parametrize("field, value", [
    ("position_m", [0.0, math.nan, 0.1]),
    ("position_m", [math.inf, 0.0, 0.1]),
    ("orientation_xyzw", [math.nan, 0.0, 0.0, 1.0]),
    ("jaw", math.nan),
])
def test_non_finite_values_are_refused_naming_instrument_and_field(field, value):
    with RigidWorld() as world:
        tool = world.add_free_instrument("right_forceps", "grasper", position_m=START, aim_m=AIM)
        with pytest.raises(InputError, match=rf"instrument 'right_forceps'.*'{field}'.*finite"):
            tool.command(unchecked(**{field: value}))


def test_a_non_unit_quaternion_is_refused_and_a_nearly_unit_one_normalised():
    with RigidWorld() as world:
        tool = world.add_free_instrument("right_forceps", "grasper", position_m=START, aim_m=AIM)
        for bad in ([0.0, 0.0, 0.0, 0.5], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]):
            with pytest.raises(InputError, match=r"instrument 'right_forceps'.*'orientation_xyzw'.*unit quaternion"):
                tool.command(unchecked(orientation_xyzw=bad))
        tool.command(unchecked(orientation_xyzw=[0.0, 0.0, 0.0, 1.0005]))
        for _ in range(1000):  # a turn of nearly π at the angular slew limit
            world.step()
        np.testing.assert_allclose(tool.distal_frame()[1], np.eye(3), atol=1e-9)


def test_a_command_of_the_other_kind_is_refused_naming_the_instrument():
    with RigidWorld() as world:
        free = world.add_free_instrument("forceps", "grasper", position_m=START, aim_m=AIM)
        trocar = world.add_instrument("lap", "grasper", port_m=(0.1, 0.0, 0.2), aim_m=(0.0, 0.0, 0.0))
        with pytest.raises(InputError, match="instrument 'forceps'.*access: open.*not a InstrumentCommand"):
            free.command(InstrumentCommand(pivot_yaw_rad=0, pivot_pitch_rad=0, insertion_m=0.1, roll_rad=0, jaw=0,
                                           energy=False))
        with pytest.raises(InputError, match="instrument 'lap'.*access: trocar.*not a FreePoseCommand"):
            trocar.command(pose_command(START, (0.0, 0.0, 0.0, 1.0)))


def test_jaw_is_clamped_and_energy_only_where_the_instrument_has_it():
    with RigidWorld() as world:
        grasper = world.add_free_instrument("g", "grasper", position_m=START, aim_m=AIM)
        grasper.command(unchecked(jaw=3.0, energy=True))
        for _ in range(200):
            world.step()
        assert grasper.jaw == pytest.approx(1.0, abs=1e-3) and not grasper.energy


def test_bad_start_poses_are_refused():
    with RigidWorld() as world:
        with pytest.raises(InputError, match="'t'.*1 µm"):
            world.add_free_instrument("t", "probe", position_m=START, aim_m=START)
        with pytest.raises(InputError, match="'t'.*finite"):
            world.add_free_instrument("t", "probe", position_m=(0.0, math.nan, 0.0), aim_m=AIM)
        world.add_free_instrument("t", "probe", position_m=START, aim_m=AIM)
        with pytest.raises(InputError, match="already exists"):
            world.add_free_instrument("t", "probe", position_m=START, aim_m=AIM)


def test_same_free_commands_give_bit_identical_rigid_states():
    def run():
        with RigidWorld() as world:
            g = world.add_free_instrument("g", "grasper", position_m=START, aim_m=AIM)
            h = world.add_free_instrument("h", "hook_cautery", position_m=(0.05, 0.0, 0.1), aim_m=(0.05, 0.0, 0.0))
            world.add_box("table", (0.0, 0.0, -0.01), (0.2, 0.2, 0.01))
            base = orientation_of(g)
            states = []
            for k in range(6):
                turn = quaternion_multiply(quaternion_about((0.3, 1.0, 0.0), 0.2 * k), base)
                g.command(pose_command((0.01 * k, 0.0, 0.1 - 0.02 * k), turn, jaw=0.2 * k % 1.0))
                h.command(pose_command((0.05, 0.0, 0.05 - 0.01 * k), orientation_of(h), energy=k % 2 == 0))
                for _ in range(100):
                    world.step()
                    h.push(-1, [0.0, 0.0, 2.0], h.tip_position())
                states += [np.concatenate([c.p0, c.p1]) for i in world.instruments.values()
                           for c in i.collision_capsules()]
            return np.array(states)

    assert np.array_equal(run(), run())
