"""Instrument specifications: the shipped ones load, have real laparoscopic dimensions, and bad ones are refused."""

from __future__ import annotations

import json
import math

import pytest

from surgsim.errors import InputError
from surgsim.instruments import INSTRUMENT_KINDS, load_spec
from surgsim.procedure.schema import InstrumentType


@pytest.mark.parametrize("kind", INSTRUMENT_KINDS)
def test_shipped_specs_have_standard_5_mm_laparoscopic_dimensions(kind):
    spec = load_spec(kind)
    assert spec.kind == kind
    assert 2 * spec.shaft_radius_m == pytest.approx(0.005)
    assert 0.30 <= spec.working_length_m <= 0.36
    if spec.has_jaws:
        assert 0.01 <= spec.jaw_length_m <= 0.02
        assert 0 < spec.max_jaw_opening_rad <= math.radians(60) + 1e-3
        assert 2 * spec.jaw_radius_m <= 2 * spec.shaft_radius_m
    assert spec.shaft_length_m + spec.tip_length_m == pytest.approx(spec.working_length_m)


def test_every_procedure_instrument_type_has_a_spec():
    assert set(InstrumentType.__args__) <= set(INSTRUMENT_KINDS)


def test_abilities():
    grasper = load_spec("grasper")
    assert grasper.jaw_action == "grasp" and grasper.pinch_force_n > 0 and grasper.grip_coefficient > 0
    assert load_spec("scissors").jaw_action == "cut"
    assert load_spec("clip_applier").jaw_action == "clip"
    hook = load_spec("hook_cautery")
    assert hook.energy and not hook.has_jaws and hook.tip_length_m > 0
    assert not load_spec("probe").energy and load_spec("probe").tip_length_m == 0


def test_unknown_kind_lists_the_known_ones():
    with pytest.raises(InputError, match="unknown instrument kind 'stapler'.*grasper"):
        load_spec("stapler")


def test_a_spec_with_unknown_keys_or_inconsistent_jaws_is_refused(tmp_path):
    good = json.loads((load_spec.__globals__["SPEC_FOLDER"] / "grasper.json").read_text())
    (tmp_path / "grasper.json").write_text(json.dumps({**good, "colour": "red"}))
    with pytest.raises(InputError, match="not a valid instrument specification"):
        load_spec("grasper", folder=tmp_path)
    (tmp_path / "grasper.json").write_text(json.dumps({**good, "jaw_action": "none"}))
    with pytest.raises(InputError, match="jaws"):
        load_spec("grasper", folder=tmp_path)
