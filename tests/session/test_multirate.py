"""Multi-rate physics: instruments every 1 ms tick, the tissue every ``physics.tissue_rate_hz``; the rates and the
resolution are in the trace header, a replay uses them, and a coarser resolution meshes the organs more coarsely."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from surgsim.devices.replay import ReplayDevice
from surgsim.errors import InputError
from surgsim.instrument_command import InstrumentCommand
from surgsim.live import LiveLoop
from surgsim.render.viewer import NullViewer
from surgsim.replay import replay_trace
from surgsim.resolution import choose_resolution, parse_resolution
from surgsim.session import Session
from surgsim.trace import CommandRecord, read_trace

PROCEDURE = "procedures/pattern_cutting.yaml"


def press(tick: int) -> CommandRecord:
    return CommandRecord(tick=tick, instrument="left_grasper", command=InstrumentCommand(
        pivot_yaw_rad=0.0, pivot_pitch_rad=0.0, insertion_m=0.268, roll_rad=0.0, jaw=0.0, energy=False))


def test_the_tissue_steps_every_other_tick_at_500_hz_and_the_instruments_every_tick(taichi_cpu):
    with Session(PROCEDURE, arch=taichi_cpu, tissue_dt_s=2e-3) as session:
        assert session.coupler.tissue_every == 2 and session.solver.options.dt == pytest.approx(2e-3)
        device = ReplayDevice([press(0)], dt_s=session.dt_s)
        tissue_after, tips = [], []
        for _ in range(40):
            session.tick(device.read().commands)
            tissue_after.append(session.coupler.positions().copy())
            tips.append(session.world.instruments["left_grasper"].tip_position().copy())
        # the instrument moves on every tick; the tissue changes only on even ticks (2, 4, ...)
        assert all(np.any(tips[k] != tips[k - 1]) for k in range(1, 40))
        assert all(np.array_equal(tissue_after[k], tissue_after[k - 1]) for k in range(2, 40, 2))
        assert all(np.any(tissue_after[k] != tissue_after[k - 1]) for k in range(1, 40, 2))


def test_rates_and_resolution_are_recorded_and_replayed(tmp_path, taichi_cpu):
    trace = tmp_path / "session.jsonl"
    session = Session(PROCEDURE, arch=taichi_cpu, trace_path=trace, tissue_dt_s=2e-3,
                      solver_options={"iterations": 6})
    LiveLoop(session, ReplayDevice([press(0)], dt_s=session.dt_s), NullViewer(), realtime=False,
             max_ticks=600).run()
    header = read_trace(trace).header
    assert (header.dt_s, header.tissue_dt_s, header.tissue_iterations, header.resolution) == (1e-3, 2e-3, 6, 1.0)
    result = replay_trace(trace, tmp_path / "replayed.jsonl", arch=taichi_cpu)
    assert result.matches, [m.describe() for m in result.mismatches]
    assert result.replayed.header.tissue_dt_s == 2e-3 and result.replayed.header.tissue_iterations == 6


def test_a_tissue_step_that_is_not_a_whole_number_of_ticks_is_refused(taichi_cpu):
    with pytest.raises(InputError, match="whole multiple"):
        Session(PROCEDURE, arch=taichi_cpu, tissue_dt_s=1.5e-3)


def test_the_procedure_sets_its_tissue_rate_and_iterations(taichi_cpu):
    liver = Session("procedures/liver_retraction.yaml", arch=taichi_cpu)
    try:
        assert liver.spec.physics.tissue_rate_hz == 250 and liver.tissue_dt_s == pytest.approx(4e-3)
        assert liver.solver.options.iterations == liver.spec.physics.solver_iterations
    finally:
        liver.finish("quit")


def test_a_coarser_resolution_meshes_the_imported_organs_more_coarsely(taichi_cpu):
    full = Session("procedures/liver_retraction.yaml", arch=taichi_cpu)
    coarse = Session("procedures/liver_retraction.yaml", arch=taichi_cpu, resolution=0.35)
    try:
        ratio = coarse.scene.model.node_count / full.scene.model.node_count
        assert 0.2 < ratio < 0.5, ratio
        assert set(coarse.scene.regions) == set(full.scene.regions)
    finally:
        full.finish("quit")
        coarse.finish("quit")


@pytest.mark.parametrize("text, expected", [("auto", None), ("full", 1.0), ("0.5", 0.5), ("1", 1.0)])
def test_resolution_option_values(text, expected):
    assert parse_resolution(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "1.5", "half", "nan"])
def test_bad_resolution_values_are_refused(text):
    with pytest.raises(InputError):
        parse_resolution(text)


def test_the_finest_resolution_that_holds_real_time_is_chosen_and_remembered(tmp_path, monkeypatch):
    monkeypatch.setenv("SURGSIM_CACHE_DIR", str(tmp_path))
    probed = []

    def fake_probe(procedure_path, *, arch, resolution, ticks=0):
        probed.append(resolution)
        return 2.0 * resolution ** -1 / 4.0, int(4000 * resolution)  # 0.5x at full, 1.43x at 0.35

    monkeypatch.setattr("surgsim.resolution.probe", fake_probe)
    choice = choose_resolution("procedures/liver_retraction.yaml", arch="cpu", procedure_sha256="a" * 64,
                               backend="cpu")
    assert choice.resolution == 0.35 and choice.full_real_time_factor == pytest.approx(0.5)
    assert probed[0] == 1.0 and 0.7 not in probed  # the rungs that cannot reach real time are skipped
    assert "35 %" in choice.describe("liver_retraction")
    again = choose_resolution("procedures/liver_retraction.yaml", arch="cpu", procedure_sha256="a" * 64,
                              backend="cpu")
    assert again.remembered and again.resolution == 0.35 and len(probed) == 2
    # The same CPU name of another generation (a home folder shared by two machines): measured afresh.
    monkeypatch.setattr("surgsim.hostinfo.cpu_label", lambda: "AMD EPYC (family 25 model 17: avx2 fma, avx512f)")
    elsewhere = choose_resolution("procedures/liver_retraction.yaml", arch="cpu", procedure_sha256="a" * 64,
                                  backend="cpu")
    assert not elsewhere.remembered and len(probed) == 4


def test_the_cpu_is_described_by_generation_not_only_by_name():
    from surgsim.hostinfo import _ISA_FLAGS, cpu_description, cpu_label

    cpu = cpu_description()
    assert cpu["name"] and cpu["cores"] >= 1
    if Path("/proc/cpuinfo").exists():
        assert cpu["family"] is not None and set(cpu["isa"]) <= set(_ISA_FLAGS)
        assert f"family {cpu['family']} model {cpu['model']}" in cpu_label()
        assert ("no avx512f" in cpu_label()) == ("avx512f" not in cpu["isa"])


def test_a_session_settles_and_runs_on_one_solver(taichi_cpu, monkeypatch):
    """Settling uses a heavily damped control of the session's solver, not a second solver; the coupler steps the
    same solver with the session's control, which holds the scene's anchors."""
    from surgsim.tissue.solver import TissueSolver

    built = []
    original = TissueSolver.__init__

    def counting(self, *args, **kwargs):
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(TissueSolver, "__init__", counting)
    with Session(PROCEDURE, arch=taichi_cpu, use_cache=False) as session:
        assert built == [session.solver] and session.coupler.solver is session.solver
        assert session.coupler.control.anchored[session.scene.anchor_nodes].all()
