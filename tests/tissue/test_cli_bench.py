"""``surgsim bench solver``: argument checking (exit 2) and a tiny run that writes the JSON."""

from __future__ import annotations

import json

import pytest

from surgsim.cli import main


@pytest.mark.parametrize("args", [
    ["--sizes", "huge"],
    ["--sizes", "10"],
    ["--sizes", ""],
    ["--steps", "-3"],
    ["--steps", "many"],
    ["--peers", "sofa"],
    ["--arch", "tpu"],
    ["--volume-term", "maybe"],
])
def test_bad_arguments_exit_2(args, capsys):
    assert main(["bench", "solver", *args]) == 2
    assert "surgsim: error:" in capsys.readouterr().err


def test_bench_without_subcommand_exits_2(capsys):
    assert main(["bench"]) == 2


def test_tiny_benchmark_writes_json(taichi_cpu, tmp_path):
    out = tmp_path / "bench.json"
    assert main(["bench", "solver", "--sizes", "216", "--steps", "3", "--peers", "numpy", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    entry = data["block_216"]
    assert entry["nodes"] == 216
    for key in ("time_per_step_s", "real_time_factor", "spring_updates_per_s", "roofline_fraction",
                "speedup_vs_numpy"):
        assert entry[key] > 0
    assert entry["stable"] is True and entry["numpy"]["stable"] is True
    assert data["machine"]["backend"] == "cpu"
    volume = entry["volume_term"]
    assert volume["springs"]["stable"] and volume["volume"]["stable"]
    assert entry["volume_term_cost_ratio"] == volume["volume"]["time_per_step_s"] / volume["springs"]["time_per_step_s"]


@pytest.mark.parametrize("args", [["--ticks", "0"], ["--ticks", "lots"], ["--repeats", "-1"], ["--arch", "tpu"]])
def test_coupling_benchmark_bad_arguments_exit_2(args, capsys):
    assert main(["bench", "coupling", *args]) == 2
    assert "surgsim: error:" in capsys.readouterr().err


def test_tiny_coupling_benchmark_splits_the_tick_and_writes_json(taichi_cpu, tmp_path, capsys):
    out = tmp_path / "coupling.json"
    code = main(["bench", "coupling", "--ticks", "20", "--repeats", "1", "--arch", "cpu", "--json", str(out)])
    data = json.loads(out.read_text())
    assert code == (0 if data["coupling_share"] <= 0.30 else 1)
    median = data["median"]
    assert median["coupled_ms"] > median["solver_in_coupled_ms"] > 0
    assert 0 < data["coupling_share"] < 1
    run = data["runs"][0]
    assert run["holding"] == ["grasper"] and run["forces_n"]["probe"] > 0  # both instruments in contact
    assert "coupling share of the tick" in capsys.readouterr().out
