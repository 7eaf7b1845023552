"""Every shipped procedure has an expert trace that passes and a novice trace that fails for its stated reason.

Scoring reads the recorded samples and events (no re-simulation), so this runs in seconds; `surgsim replay` of the
same traces is exercised in test_replay.py on a short session.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from surgsim.cli import main

ROOT = Path(__file__).resolve().parents[2]
TRACES = ROOT / "procedures" / "traces"
PROCEDURES = sorted(p.stem for p in (ROOT / "procedures").glob("*.yaml"))
# Why each novice fails (procedures/traces/README.md tells the story): a phrase of the report's failure list.
NOVICE_FAILS_BECAUSE = {
    "liver_retraction": "goals completed",
    "gallbladder_dissection": "forbidden-zone contacts",
    "pattern_cutting": "goals completed",
}


def score(trace: Path, tmp_path: Path) -> tuple[int, dict]:
    out = tmp_path / f"{trace.stem}.score.json"
    code = main(["score", str(trace), "--json", str(out)])
    return code, json.loads(out.read_text())


def test_every_procedure_ships_both_traces():
    assert set(NOVICE_FAILS_BECAUSE) == set(PROCEDURES)
    for name in PROCEDURES:
        assert (TRACES / f"{name}.expert.jsonl").is_file(), name
        assert (TRACES / f"{name}.novice.jsonl").is_file(), name


@pytest.mark.parametrize("name", PROCEDURES)
def test_expert_trace_passes(name, tmp_path):
    code, report = score(TRACES / f"{name}.expert.jsonl", tmp_path)
    assert code == 0 and report["passed"], report["failures"]
    assert not report["truncated"]


@pytest.mark.parametrize("name", PROCEDURES)
def test_novice_trace_fails_for_its_stated_reason(name, tmp_path):
    code, report = score(TRACES / f"{name}.novice.jsonl", tmp_path)
    assert code == 1 and not report["passed"]
    assert any(NOVICE_FAILS_BECAUSE[name] in failure for failure in report["failures"]), report["failures"]


def test_scoring_is_byte_identical(tmp_path):
    trace = TRACES / "liver_retraction.expert.jsonl"
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["score", str(trace), "--json", str(first)]) == 0
    assert main(["score", str(trace), "--json", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()
