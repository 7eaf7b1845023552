"""``surgsim bench tick``: argument checking (exit 2) and a short run whose JSON splits the tick by stage."""

from __future__ import annotations

import json

import pytest

from surgsim.cli import main


@pytest.mark.parametrize("args", [
    ["no_such_procedure"],
    ["--ticks", "0"],
    ["--warmup", "soon"],
    ["--resolution", "2"],
    ["--resolution", "auto"],
    ["--arch", "tpu"],
])
def test_bad_arguments_exit_2(args, capsys):
    assert main(["bench", "tick", *args]) == 2
    assert "surgsim: error:" in capsys.readouterr().err


def test_a_short_run_times_every_stage_and_writes_json(taichi_cpu, tmp_path):
    out = tmp_path / "tick.json"
    assert main(["bench", "tick", "pattern_cutting", "--warmup", "20", "--ticks", "60", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["machine"]["backend"] == "cpu" and data["machine"]["cores"] >= 1
    (entry,) = data["procedures"]
    assert entry["procedure"] == "pattern_cutting" and entry["ticks"] == 60 and entry["resolution"] == 1.0
    assert set(entry["stages"]) == {"commands", "instruments", "solver", "contact", "interactions", "goals_zones",
                                    "trace", "other"}
    assert entry["stages"]["solver"] > 0 and entry["stages"]["instruments"] > 0
    # The stages add up to the tick (the rest is "other", never negative).
    assert sum(entry["stages"].values()) == pytest.approx(entry["ms_per_tick"], rel=1e-6)
    assert entry["real_time_factor"] == pytest.approx(1.0 / entry["ms_per_tick"], rel=1e-6)
    # The host's share (all but the tissue's kernels) bounds what a faster tissue computation could reach.
    host = entry["ms_per_tick"] - entry["stages"]["solver"] - entry["stages"]["contact"]
    assert entry["host_ms_per_tick"] == pytest.approx(host, rel=1e-9) and 0 < host < entry["ms_per_tick"]
    assert entry["host_bound_real_time_factor"] == pytest.approx(1.0 / host, rel=1e-6)
    assert entry["host_bound_real_time_factor"] > entry["real_time_factor"]
