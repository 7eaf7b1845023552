"""Commands: non-finite values are refused naming instrument and field; out-of-range ones are clamped."""

from __future__ import annotations

import math

import numpy as np
import pytest

from surgsim.errors import InputError
from surgsim.instrument_command import InstrumentCommand
from surgsim.instruments import RigidWorld, Trocar, load_spec
from surgsim.instruments.commands import SLEW_LIMITS, approach, validate_command

TROCAR = Trocar((0.0, 0.0, 0.2), (0.0, 0.0, 0.0), math.radians(60))


def command(**fields) -> InstrumentCommand:
    values = dict(pivot_yaw_rad=0.0, pivot_pitch_rad=0.0, insertion_m=0.1, roll_rad=0.0, jaw=0.0, energy=False)
    values.update(fields)
    return InstrumentCommand.model_construct(**values)  # as a device would build it, unchecked


@pytest.mark.parametrize("field", ["pivot_yaw_rad", "pivot_pitch_rad", "insertion_m", "roll_rad", "jaw"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_refused_naming_instrument_and_field(field, value):
    with pytest.raises(InputError, match=rf"instrument 'left_grasper'.*'{field}'.*finite"):
        validate_command("left_grasper", command(**{field: value}), load_spec("grasper"), TROCAR)


def test_out_of_range_values_are_clamped_and_reported():
    spec = load_spec("grasper")
    targets, clamped = validate_command("g", command(insertion_m=1.0, pivot_yaw_rad=2.0, pivot_pitch_rad=-3.0,
                                                     jaw=1.5), spec, TROCAR)
    assert targets.insertion_m == spec.working_length_m
    assert targets.pivot_yaw_rad == pytest.approx(math.radians(60))
    assert targets.pivot_pitch_rad == pytest.approx(-math.radians(60))
    assert targets.jaw == 1.0
    assert set(clamped) == {"insertion_m", "pivot_yaw_rad", "pivot_pitch_rad", "jaw"}
    targets, clamped = validate_command("g", command(insertion_m=-0.05), spec, TROCAR)
    assert targets.insertion_m == 0.0 and clamped == ("insertion_m",)
    assert validate_command("g", command(), spec, TROCAR)[1] == ()


def test_energy_only_on_instruments_that_have_it():
    assert validate_command("h", command(energy=True), load_spec("hook_cautery"), TROCAR)[0].energy
    assert not validate_command("g", command(energy=True), load_spec("grasper"), TROCAR)[0].energy


def test_targets_move_at_most_the_slew_limits_per_tick():
    start = InstrumentCommand()
    goal = InstrumentCommand(pivot_yaw_rad=1.0, pivot_pitch_rad=-1.0, insertion_m=0.3, roll_rad=5.0, jaw=1.0,
                             energy=True)
    step = approach(start, goal, 1e-3)
    assert step.pivot_yaw_rad == pytest.approx(SLEW_LIMITS["pivot_yaw_rad"] * 1e-3)
    assert step.pivot_pitch_rad == pytest.approx(-SLEW_LIMITS["pivot_pitch_rad"] * 1e-3)
    assert step.insertion_m == pytest.approx(SLEW_LIMITS["insertion_m"] * 1e-3)
    assert step.roll_rad == pytest.approx(SLEW_LIMITS["roll_rad"] * 1e-3)
    assert step.jaw == pytest.approx(SLEW_LIMITS["jaw"] * 1e-3)
    assert step.energy  # energy switches at once
    close = InstrumentCommand(insertion_m=0.3 - 1e-6)
    assert approach(close, goal, 1e-3).insertion_m == 0.3


def test_an_insertion_beyond_the_shaft_stops_the_handle_at_the_trocar():
    with RigidWorld() as world:
        probe = world.add_instrument("probe", "probe", port_m=(0.0, 0.0, 0.2), aim_m=(0.0, 0.0, 0.0))
        probe.command(command(insertion_m=5.0))
        for _ in range(1500):
            world.step()
        tip = probe.tip_position()
        assert np.linalg.norm(tip - [0.0, 0.0, 0.2]) == pytest.approx(probe.spec.working_length_m, abs=1e-4)
        with pytest.raises(InputError, match="'probe'.*'roll_rad'"):
            probe.command(command(roll_rad=math.nan))
