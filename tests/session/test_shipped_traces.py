"""Every shipped procedure has an expert trace that passes and a novice trace that fails for its stated reason, with a
0-100 score below the pass mark, when verified (re-simulated and compared, as `surgsim score` does by default).

Re-simulating a shipped trace takes a minute or two on a 2-core CPU, so the verified checks are `slow` except for the
shortest trace; scoring the recorded outcome (--no-verify) runs in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from surgsim.cli import main
from surgsim.procedure.loader import file_sha256
from surgsim.trace import read_trace

ROOT = Path(__file__).resolve().parents[2]
TRACES = ROOT / "procedures" / "traces"
PROCEDURES = sorted(p.stem for p in (ROOT / "procedures").glob("*.yaml"))
# Why each novice fails (procedures/traces/README.md tells the story): a phrase of the report's failure list.
NOVICE_FAILS_BECAUSE = {
    "liver_retraction": "goals completed",
    "gallbladder_dissection": "forbidden-zone contacts",
    "pattern_cutting": "goals completed",
}
SHORTEST = "liver_retraction"  # its traces re-simulate fastest: verified in the quick suite


def score(trace: Path, tmp_path: Path, *options: str) -> tuple[int, dict | None]:
    out = tmp_path / f"{trace.stem}.score.json"
    code = main(["score", str(trace), "--json", str(out), *options])
    return code, json.loads(out.read_text()) if out.exists() else None


def test_every_procedure_ships_both_traces():
    assert set(NOVICE_FAILS_BECAUSE) == set(PROCEDURES)
    for name in PROCEDURES:
        assert (TRACES / f"{name}.expert.jsonl").is_file(), name
        assert (TRACES / f"{name}.novice.jsonl").is_file(), name


def _check_expert(code: int, report: dict) -> None:
    assert code == 0 and report["passed"], report["failures"]
    assert report["procedure"]["in_library"] is True
    assert not report["truncated"]


def _check_novice(name: str, code: int, report: dict) -> None:
    assert code == 1 and not report["passed"]
    reasons = [failure for failure in report["failures"] if not failure.startswith("score:")]
    assert len(reasons) == 1 and NOVICE_FAILS_BECAUSE[name] in reasons[0], report["failures"]
    assert any(failure.startswith("score:") for failure in report["failures"]), "the score alone must fail it too"


@pytest.mark.parametrize("kind", ["expert", "novice"])
@pytest.mark.parametrize("name", PROCEDURES)
def test_the_recorded_outcome_scores_as_intended_or_is_refused_unverified(name, kind, tmp_path, capsys):
    """Unverified scoring trusts the trace, so it needs the trace's procedure hashes to vouch for the rubric: a trace
    from before the split hashes whose procedure file changed since is refused (a verified score accepts it)."""
    trace = TRACES / f"{name}.{kind}.jsonl"
    code, report = score(trace, tmp_path, "--no-verify")
    header = read_trace(trace).header
    if header.has_part_hashes or header.procedure_sha256 == file_sha256(ROOT / "procedures" / f"{name}.yaml"):
        assert report["verified"] is False
        _check_expert(code, report) if kind == "expert" else _check_novice(name, code, report)
    else:
        err = " ".join(capsys.readouterr().err.split())
        assert code == 2 and report is None and "only a verified score (without --no-verify)" in err, err


def _verified(name: str, kind: str, tmp_path: Path) -> None:
    code, report = score(TRACES / f"{name}.{kind}.jsonl", tmp_path)
    assert report["verified"] is True
    # The re-simulation measures the surface its tears open, even for a trace recorded before areas were.
    tears = sum(event.kind == "tear" for event in read_trace(TRACES / f"{name}.{kind}.jsonl").events)
    assert report["metrics"]["torn_area_mm2"] is not None
    assert (report["metrics"]["torn_area_mm2"] > 0) == (tears > 0)
    _check_expert(code, report) if kind == "expert" else _check_novice(name, code, report)


@pytest.mark.parametrize("kind", ["expert", "novice"])
@pytest.mark.parametrize("name", [SHORTEST])
def test_verified_score_of_the_shortest_traces(name, kind, tmp_path):
    _verified(name, kind, tmp_path)


# Not marked slow: CI's fresh machine re-simulates every shipped trace (~2 min with -n 2), the check that a
# recording verifies on a machine other than the one that made it (issue 11).
@pytest.mark.parametrize("kind", ["expert", "novice"])
@pytest.mark.parametrize("name", [name for name in PROCEDURES if name != SHORTEST])
def test_verified_score(name, kind, tmp_path):
    _verified(name, kind, tmp_path)


@pytest.mark.parametrize("name", PROCEDURES)
def test_replay_of_the_expert_reproduces_and_passes(name, capsys):
    assert main(["replay", str(TRACES / f"{name}.expert.jsonl")]) == 0
    assert "replay reproduces" in capsys.readouterr().err
