"""Open-surgery instruments in procedure files: ``access: open`` with a start and an aim, clear line-numbered errors
when the keys do not fit the access, and sessions that build, record and replay them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from surgsim.cli import main
from surgsim.procedure import check_procedure, load_procedure
from surgsim.procedure.scene_builder import build_scene

TROCAR_SCISSORS = "{name: right_scissors, type: scissors, port_mm: [100, -80, 100], hand: right}"
MIDDLE_WITH_NODES = ("center_mm: [25, 25, 1], radius_mm: 5", "center_mm: [25, 25, 1], radius_mm: 8")  # buildable
OPEN_SCISSORS = ("{name: right_scissors, type: scissors, access: open, start_mm: [25, 25, 40], aim_mm: [25, 25, 0], "
                 "hand: right}")


def messages(path) -> list[str]:
    procedure, issues = check_procedure(path)
    assert procedure is None
    return [str(issue) for issue in issues]


def test_an_open_instrument_loads_and_builds(write_procedure):
    procedure = load_procedure(write_procedure([(TROCAR_SCISSORS, OPEN_SCISSORS), MIDDLE_WITH_NODES]))
    grasper, scissors = procedure.spec.instruments
    assert grasper.access == "trocar" and scissors.access == "open" and scissors.port_mm is None
    scene = build_scene(procedure)
    built = {instrument.name: instrument for instrument in scene.instruments}
    assert built["left_grasper"].access == "trocar" and built["left_grasper"].start_m is None
    assert built["right_scissors"].access == "open" and built["right_scissors"].port_m is None
    np.testing.assert_allclose(built["right_scissors"].start_m, (0.025, 0.025, 0.04))
    np.testing.assert_allclose(built["right_scissors"].aim_m, (0.025, 0.025, 0.0))


@pytest.mark.parametrize("instrument, expected", [
    ("{name: right_scissors, type: scissors, access: open, aim_mm: [25, 25, 0], hand: right}",
     "instruments[1]: an open instrument (access: open) needs start_mm"),
    ("{name: right_scissors, type: scissors, access: open, start_mm: [25, 25, 40], hand: right}",
     "instruments[1]: an open instrument (access: open) needs aim_mm"),
    ("{name: right_scissors, type: scissors, hand: right}",
     "instruments[1]: a trocar instrument needs port_mm"),
    ("{name: right_scissors, type: scissors, access: trocar, port_mm: [1, 2, 3], start_mm: [1, 2, 3], hand: right}",
     "instruments[1]: start_mm apply to access: open instruments only"),
    ("{name: right_scissors, type: scissors, access: open, port_mm: [1, 2, 3], start_mm: [25, 25, 40], "
     "aim_mm: [25, 25, 0], hand: right}", "instruments[1]: port_mm applies to access: trocar instruments only"),
    ("{name: right_scissors, type: scissors, access: open, start_mm: [1, 2, 3], aim_mm: [1, 2, 3], hand: right}",
     "instruments[1]: aim_mm must differ from start_mm"),
    ("{name: right_scissors, type: scissors, access: opne, port_mm: [1, 2, 3], hand: right}",
     "instruments[1].access: expected 'trocar' or 'open'; got 'opne'. Did you mean 'open'?"),
])
def test_keys_that_do_not_fit_the_access_are_line_numbered_errors(write_procedure, instrument, expected):
    path = write_procedure([(TROCAR_SCISSORS, instrument)])
    [message] = messages(path)
    assert message.startswith(f"{path}:22:") and expected in message, message


def test_block_style_entries_point_at_the_instrument(write_procedure):
    path = write_procedure([(f"  - {TROCAR_SCISSORS}", "  - name: right_scissors\n    type: scissors\n"
                                                       "    access: open\n    start_mm: [25, 25, 40]\n"
                                                       "    hand: right")])
    assert messages(path) == [f"{path}:22:5: instruments[1]: an open instrument (access: open) needs aim_mm (a point "
                              "its shaft points at)."]


def test_validate_exits_2_for_an_open_instrument_without_its_start(write_procedure, capsys):
    # (with the shared procedure's 'middle' sphere wide enough to hold nodes of its sheet: validate builds the scene)
    good = write_procedure([(TROCAR_SCISSORS, OPEN_SCISSORS),
                            ("center_mm: [25, 25, 1], radius_mm: 5", "center_mm: [25, 25, 1], radius_mm: 8")],
                           name="good.yaml")
    bad = write_procedure([(TROCAR_SCISSORS, OPEN_SCISSORS.replace("start_mm: [25, 25, 40], ", ""))], name="bad.yaml")
    no_port = write_procedure([(TROCAR_SCISSORS, TROCAR_SCISSORS.replace("port_mm: [100, -80, 100], ", ""))],
                              name="no_port.yaml")
    assert main(["validate", str(good)]) == 0
    assert main(["validate", str(good), str(bad), str(no_port)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith(f"{bad}:22:5: instruments[1]: an open instrument") for line in err), err
    assert any(line.startswith(f"{no_port}:22:5: instruments[1]: a trocar instrument needs port_mm") for line in err)


def test_a_session_drives_records_and_replays_an_open_instrument(write_procedure, tmp_path, taichi_cpu):
    from surgsim.instrument_command import FreePoseCommand
    from surgsim.instruments import FreeInstrument, Instrument
    from surgsim.instruments.builder import quaternion_from_matrix
    from surgsim.replay import replay_trace
    from surgsim.session import Session
    from surgsim.trace import read_trace

    path = write_procedure([(TROCAR_SCISSORS, OPEN_SCISSORS), MIDDLE_WITH_NODES])
    trace_path = tmp_path / "open.jsonl"
    with Session(path, arch=taichi_cpu, trace_path=trace_path) as session:
        scissors = session.world.instruments["right_scissors"]
        assert isinstance(scissors, FreeInstrument) and isinstance(session.world.instruments["left_grasper"],
                                                                   Instrument)
        np.testing.assert_allclose(scissors.distal_frame()[0], (0.025, 0.025, 0.04), atol=1e-12)
        orientation = list(quaternion_from_matrix(scissors.start_rotation))
        for tick in range(300):
            session.tick({"right_scissors": FreePoseCommand(position_m=[0.025, 0.025, 0.04 - 0.1 * tick / 1000],
                                                            orientation_xyzw=orientation, jaw=0.0, energy=False)})
        assert scissors.distal_frame()[0][2] < 0.013
    trace = read_trace(trace_path)
    assert len(trace.commands) == 300 and isinstance(trace.commands[0].command, FreePoseCommand)
    result = replay_trace(trace_path, tmp_path / "replayed.jsonl", arch=taichi_cpu)
    assert result.matches, [m.describe() for m in result.mismatches]


def test_the_live_loop_drives_an_open_instrument_with_a_haptic_stylus(write_procedure, tmp_path, taichi_cpu):
    from surgsim.devices.simulated import SimulatedHaptic
    from surgsim.instrument_command import FreePoseCommand
    from surgsim.live import LiveLoop
    from surgsim.render.viewer import NullViewer
    from surgsim.session import Session
    from surgsim.trace import read_trace

    path = write_procedure([(TROCAR_SCISSORS, OPEN_SCISSORS), MIDDLE_WITH_NODES])
    session = Session(path, arch=taichi_cpu, trace_path=tmp_path / "haptic.jsonl")
    stylus = SimulatedHaptic(np.linspace((0.0, 0.0, 0.0), (0.02, 0.0, 0.0), 100))  # 2 cm to the right
    loop = LiveLoop(session, stylus, NullViewer(), realtime=False, max_ticks=400)
    loop.active_instrument = "right_scissors"
    tool = loop.free_tools["right_scissors"]
    loop.run()
    scissors = session.world.instruments["right_scissors"]
    np.testing.assert_allclose(scissors.distal_frame()[0], tool.position_m + 0.02 * tool.view[:, 0], atol=1e-4)
    assert len(stylus.forces_array()) >= 400  # the force on the free tool, every tick
    commands = [record.command for record in read_trace(tmp_path / "haptic.jsonl").commands]
    assert commands and all(isinstance(command, FreePoseCommand) for command in commands)


def test_a_script_moves_an_open_instrument_tip_along_a_line(write_procedure, taichi_cpu):
    from surgsim.script import FreeArm, run_script
    from surgsim.session import Session

    path = write_procedure([(TROCAR_SCISSORS, OPEN_SCISSORS), MIDDLE_WITH_NODES])
    target = np.array([0.035, 0.02, 0.03])

    def script(ctl):
        assert isinstance(ctl.arms["right_scissors"], FreeArm)
        yield from ctl.move("right_scissors", target, speed=0.05, roll=0.5)
        yield from ctl.wait(0.3)

    with Session(path, arch=taichi_cpu) as session:
        ctl = run_script(session, script)
        scissors = session.world.instruments["right_scissors"]
        origin, rotation = scissors.distal_frame()
        # the script's tip is the closed blades' end on the shaft axis
        np.testing.assert_allclose(origin + scissors.spec.tip_length_m * rotation[:, 2], target, atol=1e-4)
        np.testing.assert_allclose(rotation[:, 2], scissors.start_rotation[:, 2], atol=1e-6)  # the shaft kept its aim
        start = scissors.start_rotation
        assert math.isclose(math.atan2(start[:, 1] @ rotation[:, 0], start[:, 0] @ rotation[:, 0]), 0.5, abs_tol=1e-3)
