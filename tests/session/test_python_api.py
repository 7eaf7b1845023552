"""The public Python API (README "Python API"): root exports, command defaults, Session.from_procedure and its
read-only properties, and the README's example run as it is written there."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydantic
import pytest

import surgsim
from surgsim.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
TISSUE_LIFT = ROOT / "procedures" / "examples" / "tissue_lift.yaml"


# -- the command types ------------------------------------------------------------------------------------------------
def test_commands_default_to_zeros_jaws_open_energy_off():
    command = surgsim.InstrumentCommand()
    assert command.model_dump() == {"pivot_yaw_rad": 0.0, "pivot_pitch_rad": 0.0, "insertion_m": 0.0, "roll_rad": 0.0,
                                    "jaw": 0.0, "energy": False}
    free = surgsim.FreePoseCommand()
    assert free.model_dump() == {"position_m": [0.0, 0.0, 0.0], "orientation_xyzw": [0.0, 0.0, 0.0, 1.0], "jaw": 0.0,
                                 "energy": False}
    assert surgsim.InstrumentCommand(insertion_m=0.1).insertion_m == 0.1
    assert surgsim.FreePoseCommand().position_m is not free.position_m  # no default shared between commands


def test_commands_are_immutable_and_check_the_jaw_and_their_field_names():
    command = surgsim.InstrumentCommand(jaw=0.5)
    with pytest.raises(pydantic.ValidationError):
        command.jaw = 1.0
    with pytest.raises(pydantic.ValidationError):
        surgsim.InstrumentCommand(jaw=1.5)
    with pytest.raises(pydantic.ValidationError):
        surgsim.InstrumentCommand(insertion=0.1)  # a misspelt field is refused, not ignored
    assert command.model_copy(update={"jaw": 1.0}).jaw == 1.0


def test_the_trace_format_uses_the_command_module_types():
    from surgsim import instrument_command, trace

    assert trace.InstrumentCommand is instrument_command.InstrumentCommand is surgsim.InstrumentCommand
    assert trace.FreePoseCommand is instrument_command.FreePoseCommand is surgsim.FreePoseCommand


# -- the package root -------------------------------------------------------------------------------------------------
def test_root_exports_load_on_first_use_and_import_surgsim_stays_light():
    probe = ("import sys, surgsim; heavy = [m for m in ('taichi', 'pybullet', 'surgsim.session') if m in sys.modules];"
             "print(heavy); surgsim.InstrumentCommand; print('surgsim.session' in sys.modules);"
             "surgsim.Session; print('surgsim.session' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True,
                            env={**_env(), "PYTHONPATH": str(ROOT)})
    assert result.stdout.split() == ["[]", "False", "True"]
    from surgsim.session import Session

    assert surgsim.Session is Session
    assert {"Session", "InstrumentCommand", "FreePoseCommand", "InputError"} <= set(surgsim.__all__) & set(dir(surgsim))
    with pytest.raises(AttributeError, match="no attribute 'Sesion'"):
        surgsim.Sesion


def test_the_package_ships_its_type_marker():
    assert (Path(surgsim.__file__).parent / "py.typed").is_file()
    assert 'surgsim = ["py.typed"]' in (ROOT / "pyproject.toml").read_text()


# -- sessions ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def session():
    with surgsim.Session.from_procedure(TISSUE_LIFT, arch="cpu") as session:
        yield session


def test_properties_report_the_scene_in_si_units(session):
    positions = session.node_positions
    assert positions.shape == (session.scene.model.node_count, 3) and positions.dtype == np.float64
    assert np.all(np.abs(positions) < 0.1)  # a 60 mm pad: metres, not millimetres
    assert set(session.instrument_tips) == set(session.instrument_forces) == {"grasper"}
    # the grasper starts with its tip at its port, [40, -100, 120] mm
    np.testing.assert_allclose(session.instrument_tips["grasper"], [0.04, -0.1, 0.12], atol=0.003)
    assert session.instrument_forces["grasper"].shape == (3,)
    assert session.goal_progress == {"grasp_flap": False, "lift_flap": False}
    assert session.current_step == "grasp_flap"


def test_properties_are_read_only_and_hand_out_copies(session):
    for name in ("node_positions", "instrument_tips", "instrument_forces", "events", "current_step", "goal_progress",
                 "time_s"):
        with pytest.raises(AttributeError):
            setattr(session, name, None)
    session.node_positions[:] = 1.0
    session.instrument_tips["grasper"][:] = 1.0
    assert np.all(np.abs(session.node_positions) < 0.1)
    assert np.all(session.instrument_tips["grasper"] < 0.5)
    assert isinstance(session.events, tuple)


def test_step_holds_the_commands_for_the_time_asked(session):
    start_tick, start_insertion = session.tick_count, session.instrument_tips["grasper"]
    events = session.step({"grasper": surgsim.InstrumentCommand(insertion_m=0.05)}, seconds=0.05)
    assert session.tick_count - start_tick == round(0.05 / session.dt_s)
    assert list(session.events[len(session.events) - len(events):]) == events
    moved = np.linalg.norm(session.instrument_tips["grasper"] - start_insertion)
    assert 0.01 < moved < 0.03  # insertion slews at 0.5 m/s: 25 mm in 50 ms, less the joints' lag
    session.step([surgsim.InstrumentCommand(insertion_m=0.05)])  # a list: one per instrument, in order
    assert session.tick_count - start_tick == round(0.05 / session.dt_s) + 1


def test_step_names_bad_commands(session):
    with pytest.raises(InputError, match="instrument 'scalpel'.*instruments: grasper"):
        session.step({"scalpel": surgsim.InstrumentCommand()})
    with pytest.raises(InputError, match="one per instrument.*got 2"):
        session.step([surgsim.InstrumentCommand(), surgsim.InstrumentCommand()])
    for seconds in (-0.1, float("nan"), "1"):
        with pytest.raises(InputError, match="not a duration"):
            session.step(seconds=seconds)


def test_from_yaml_text_builds_the_same_scene_as_from_the_file(session, tmp_path):
    text = TISSUE_LIFT.read_text()
    trace = tmp_path / "lift.jsonl"
    with surgsim.Session.from_procedure(text, arch="cpu", trace=trace) as from_text:
        assert from_text.scene.model.node_count == session.scene.model.node_count
        np.testing.assert_array_equal(from_text.scene.model.positions, session.scene.model.positions)
        from_text.step(seconds=0.02)
    from surgsim.trace import read_trace

    recorded = read_trace(trace)
    written = recorded.header.procedure_path(trace)
    assert written == tmp_path / "lift.procedure.yaml" and written.read_text() == text
    assert recorded.end is not None and recorded.end.tick == 20
    # without a trace the text lives in a temporary folder, which goes with the session
    with surgsim.Session.from_procedure(text, arch="cpu") as untraced:
        folder = untraced.procedure_file.path.parent
        assert folder.is_dir() and folder != ROOT
    del untraced
    import gc

    gc.collect()
    assert not folder.exists()


def test_bad_procedures_raise_input_error_naming_them(tmp_path):
    with pytest.raises(InputError, match="no such file") as caught:
        surgsim.Session.from_procedure(tmp_path / "missing.yaml", arch="cpu")
    assert caught.value.source == str(tmp_path / "missing.yaml")
    with pytest.raises(InputError, match="line 3, column 1: not valid YAML") as caught:
        surgsim.Session.from_procedure("format_version: 1\nname: [unclosed\n", arch="cpu")
    assert caught.value.source == "the procedure's YAML text"
    trace = tmp_path / "bad.jsonl"
    with pytest.raises(InputError):
        surgsim.Session.from_procedure("format_version: 1\nname: nothing_else\n", arch="cpu", trace=trace)
    assert list(tmp_path.iterdir()) == []  # no procedure file left without its trace
    with pytest.raises(InputError, match="expected a path or YAML text"):
        surgsim.Session.from_procedure(42, arch="cpu")


# -- the README's example ---------------------------------------------------------------------------------------------
def _env() -> dict:
    import os

    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


def _readme_example() -> tuple[str, str]:
    """The README's "Python API" example: its code block and the output block pasted after it."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    code, output = re.findall(r"```python\n(.*?)```\n\n```\n(.*?)```", section, re.S)[0]
    return code, output


def _numbers_and_words(text: str) -> tuple[list[float], str]:
    number = r"-?\d+\.\d+|-?\d+"
    return [float(value) for value in re.findall(number, text)], re.sub(number, "#", re.sub(r" +", " ", text))


def test_the_readme_example_runs_and_prints_what_the_readme_shows(tmp_path):
    code, shown = _readme_example()
    assert len(code.strip().splitlines()) <= 25
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                            env={**_env(), "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    printed_numbers, printed_text = _numbers_and_words(result.stdout)
    shown_numbers, shown_text = _numbers_and_words(shown)
    assert printed_text == shown_text  # the same lines, steps and events
    # the same numbers within what another machine's floating point may change in the printed digits
    np.testing.assert_allclose(printed_numbers, shown_numbers, rtol=0.05, atol=0.01)
