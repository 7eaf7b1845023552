"""A live session compiles its physics kernels before its clock starts (``Session.warm_up``); doing so changes
nothing it simulates: a session recorded after a warm-up replays bit for bit in one that had none."""

from __future__ import annotations

import numpy as np

from surgsim.devices.replay import ReplayDevice
from surgsim.instrument_command import InstrumentCommand
from surgsim.live import LiveLoop
from surgsim.render.viewer import NullViewer
from surgsim.replay import replay_trace
from surgsim.session import Session
from surgsim.trace import CommandRecord

PROCEDURE = "procedures/pattern_cutting.yaml"


def press(tick: int) -> CommandRecord:
    return CommandRecord(tick=tick, instrument="left_grasper", command=InstrumentCommand(
        pivot_yaw_rad=0.0, pivot_pitch_rad=0.0, insertion_m=0.268, roll_rad=0.0, jaw=0.0, energy=False))


def test_a_warmed_up_session_compiles_its_kernels_and_replays_bit_for_bit_without_a_warm_up(tmp_path, taichi_cpu):
    from surgsim.tissue import kernels_tool_contact

    trace = tmp_path / "session.jsonl"
    session = Session(PROCEDURE, arch=taichi_cpu, trace_path=trace)
    state = session.coupler.state
    before = [getattr(state, name).to_numpy() for name in ("positions", "velocities", "accelerations", "forces")]
    session.warm_up()
    after = [getattr(state, name).to_numpy() for name in ("positions", "velocities", "accelerations", "forces")]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert session.tick_count == 0 and session.coupler.contact._passes == 0
    contact_kernel = kernels_tool_contact.post_step_kernel(bool(session.solver.serial))
    assert contact_kernel._primal.compiled_kernels  # compiled before the first tick
    LiveLoop(session, ReplayDevice([press(0)], dt_s=session.dt_s), NullViewer(), realtime=False,
             max_ticks=1500).run()
    result = replay_trace(trace, tmp_path / "replayed.jsonl", arch=taichi_cpu)
    assert result.matches, [m.describe() for m in result.mismatches]
    assert any(e.kind == "contact_start" for e in result.replayed.events)  # the press reached the gauze
