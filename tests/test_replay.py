"""The scripted controller's geometry, and `surgsim replay --check` on a scripted session (tests/session/test_replay.py
covers replay_trace itself: bit-identical events, samples and tissue, an edited procedure, a truncated trace)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from surgsim.cli import main
from surgsim.instruments.trocar import Trocar
from surgsim.script import aim, opening_roll, run_script, shaft_frame

PROCEDURE = "procedures/pattern_cutting.yaml"


def test_aim_inverts_the_port_frame():
    trocar = Trocar((0.11, -0.13, 0.2), (0.0, 0.0, 0.0))
    rng = np.random.default_rng(1)
    for _ in range(50):
        yaw, pitch = rng.uniform(-1.0, 1.0, 2)
        insertion = rng.uniform(0.05, 0.3)
        tip = trocar.pivot + insertion * trocar.shaft_direction(yaw, pitch)
        assert np.allclose(aim(trocar, tip), (yaw, pitch, insertion), atol=1e-12)
        frame = shaft_frame(trocar, yaw, pitch)
        assert np.allclose(frame[:, 2], trocar.shaft_direction(yaw, pitch), atol=1e-12)
        assert np.allclose(frame.T @ frame, np.eye(3), atol=1e-12)


def test_opening_roll_opens_the_jaws_along_the_direction_asked(taichi_cpu):
    from surgsim.instruments import RigidWorld

    with RigidWorld() as world:
        grasper = world.add_instrument("g", "grasper", port_m=(0.0, -0.1, 0.1), aim_m=(0.0, 0.0, 0.0))
        yaw, pitch, _ = aim(grasper.trocar, (0.02, 0.01, 0.0))
        wanted = np.array([1.0, 0.0, 0.0])
        roll = opening_roll(grasper.trocar, yaw, pitch, wanted, near=2.0)
        assert abs(roll - 2.0) <= math.pi / 2 + 1e-9  # of the two equivalent rolls, the one nearer 2 rad
        from surgsim.instrument_command import InstrumentCommand

        grasper.command(InstrumentCommand(pivot_yaw_rad=yaw, pivot_pitch_rad=pitch, insertion_m=0.1,
                                          roll_rad=roll, jaw=0.0, energy=False))
        for _ in range(800):
            world.step()
        _, rotation = grasper.distal_frame()
        opening = rotation[:, 1]
        across = wanted - (wanted @ rotation[:, 2]) * rotation[:, 2]
        assert abs(opening @ across / np.linalg.norm(across)) > 0.999


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, taichi_cpu):
    """A 0.6 s scripted session on the gauze: the grasper comes down on the middle of it and closes."""
    from surgsim.session import Session

    path = tmp_path_factory.mktemp("replay") / "scripted.jsonl"

    def script(ctl):
        arm = ctl.arms["left_grasper"]
        target = ctl.positions()[ctl.session.scene.regions["inside_circle"].nodes].mean(axis=0)
        approach = target + 0.02 * (arm.trocar.pivot - target) / np.linalg.norm(arm.trocar.pivot - target)
        arm.set_point(approach)  # the slew limits make this jump a fast, continuous move
        yield from ctl.wait(0.35)
        yield from ctl.move("left_grasper", target, speed=0.2)
        yield from ctl.close("left_grasper", seconds=0.1)

    with Session(PROCEDURE, arch=taichi_cpu, trace_path=path) as session:
        run_script(session, script)
    return path


def test_replay_check_reproduces_a_scripted_session(recorded, capsys):
    assert main(["replay", str(recorded), "--check"]) == 0
    captured = capsys.readouterr()
    assert "replay reproduces" in captured.err and "bit for bit" in captured.err
    assert "largest deviations: tip position 0 m, force 0 N" in captured.err
    assert "score" not in captured.out.lower()  # --check prints no score table


def _with_tip_moved(recorded, name: str, metres: float):
    """A copy of ``recorded`` with one sample's first instrument tip moved by ``metres`` along x."""
    lines = recorded.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if '"type":"sample"' in line and i > len(lines) // 2)
    sample = json.loads(lines[index])
    instrument = next(iter(sample["instruments"]))
    sample["instruments"][instrument]["tip_m"][0] += metres
    lines[index] = json.dumps(sample, sort_keys=True, separators=(",", ":"))
    tampered = recorded.parent / name
    tampered.write_text("\n".join(lines) + "\n")
    return tampered, sample["tick"] * 0.001


def test_replay_accepts_last_bit_differences_and_says_they_are_not_bit_identical(recorded, capsys):
    tampered, _ = _with_tip_moved(recorded, "last_bits.jsonl", 1e-12)  # what another CPU's JIT code may give
    assert main(["replay", str(tampered), "--check"]) == 0
    err = capsys.readouterr().err
    assert "within tolerance, not bit for bit (first differences in samples)" in err
    assert "tip position 1e-12 m at" in err


def test_replay_refuses_a_recording_outside_tolerance_naming_what_differs(recorded, capsys):
    tampered, time_s = _with_tip_moved(recorded, "moved.jsonl", 1e-3)
    assert main(["replay", str(tampered), "--check"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"the trace has the left grasper's tip 1 mm from where the re-simulation puts it at {time_s:.2f} s" in err
    assert "Traceback" not in err


def test_a_command_the_instrument_cannot_take_names_the_trace_and_tick(recorded, capsys):
    lines = recorded.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if '"type":"command"' in line and i > 2)
    record = json.loads(lines[index])
    free = {"type": "command", "tick": record["tick"], "instrument": record["instrument"],
            "position_m": [0.0, 0.0, 0.1], "orientation_xyzw": [0.0, 0.0, 0.0, 1.0], "jaw": 0.0, "energy": False}
    lines[index] = json.dumps(free, sort_keys=True, separators=(",", ":"))
    wrong = recorded.parent / "wrong_kind.jsonl"
    wrong.write_text("\n".join(lines) + "\n")
    assert main(["replay", str(wrong)]) == 2
    err = capsys.readouterr().err
    assert "wrong_kind.jsonl" in err and f"tick {record['tick']}" in err and "FreePoseCommand" in err
    assert "Traceback" not in err
