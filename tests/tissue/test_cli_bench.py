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
