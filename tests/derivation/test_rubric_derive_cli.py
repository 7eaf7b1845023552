"""`surgsim rubric derive` on scripted expert and novice traces of the test procedure."""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

import pytest
import yaml
from scripted_sessions import expert_session, novice_session, write_scripted_trace

from surgsim.cli import main
from surgsim.procedure.schema import Rubric

SCORING_TESTS = Path(__file__).parents[1] / "scoring"


@pytest.fixture
def sessions(tmp_path):
    procedure = Path(shutil.copy(SCORING_TESTS / "box_trainer.yaml", tmp_path / "box_trainer.yaml"))
    experts = []
    for k, end_s in enumerate((20.0, 22.0, 24.0, 26.0)):  # the same work, finished 0-6 s later: time_s = end_s
        tips, events = expert_session()
        experts.append(write_scripted_trace(tmp_path / f"expert{k}.jsonl", procedure, tips, events, end_s=end_s))
    novices = []
    for k, end_s in enumerate((30.0, 40.0)):
        tips, events = novice_session()
        novices.append(write_scripted_trace(tmp_path / f"novice{k}.jsonl", procedure, tips, events, end_s=end_s,
                                            end_reason="quit"))
    return procedure, experts, novices


def test_derive_writes_a_usable_rubric_with_statistics_and_provenance(sessions, tmp_path, capsys):
    procedure, experts, novices = sessions
    out = tmp_path / "derived" / "box.rubric.yaml"
    argv = ["rubric", "derive", str(procedure), "--experts", *map(str, experts), "--novices", *map(str, novices),
            "-o", str(out)]
    assert main(argv) == 0
    data = yaml.safe_load(out.read_text())
    Rubric.model_validate(data["rubric"])  # pastes straight into a procedure
    time_stats = data["derivation"]["metrics"]["time_s"]
    assert time_stats["experts"]["n"] == 4 and time_stats["experts"]["mean"] == 23.0
    assert time_stats["experts"]["sd"] == pytest.approx(statistics.stdev([20, 22, 24, 26]), abs=1e-6)
    assert time_stats["novices"]["mean"] == 35.0
    assert data["rubric"]["metrics"]["time_s"] == {"weight": 1.0, "expert": 23.0, "zero_at": 35.0}
    assert time_stats["contrasting_groups"] == {"cut": 28.0, "sensitivity": 1.0, "specificity": 1.0}
    assert data["rubric"]["metrics"]["forbidden_contacts"]["zero_at"] == 1.0  # the novices touched the plate once
    pass_mark = data["derivation"]["pass_mark"]
    assert pass_mark["sensitivity"] == 1.0 and pass_mark["specificity"] == 1.0
    assert data["rubric"]["pass_thresholds"]["min_score"] == pass_mark["min_score"]
    assert data["rubric"]["pass_thresholds"]["max_force_N"] == 3.0  # the procedure's other thresholds stay
    provenance = data["provenance"]
    assert provenance["experts"]["n"] == 4 and provenance["novices"]["n"] == 2
    assert provenance["procedure"]["name"] == "box_trainer" and len(provenance["procedure"]["sha256"]) == 64
    assert provenance["surgsim_version"] and provenance["derived_at"]
    assert "pass mark (contrasting groups)" in capsys.readouterr().out


def test_a_trace_of_another_procedure_exits_2_and_writes_nothing(sessions, tmp_path, capsys):
    procedure, experts, _ = sessions
    other = tmp_path / "other.yaml"
    other.write_text(procedure.read_text() + "\n# edited\n")
    out = tmp_path / "never.yaml"
    assert main(["rubric", "derive", str(other), "--experts", str(experts[0]), "-o", str(out)]) == 2
    assert "another procedure" in capsys.readouterr().err
    assert not out.exists()
    assert main(["rubric", "derive", str(procedure), "--experts", str(experts[0]), "--novices", str(experts[0]),
                 "-o", str(out)]) == 2
    assert not out.exists()


def test_derive_from_history_groups_matches_derive_from_traces(sessions, tmp_path, monkeypatch):
    monkeypatch.setenv("SURGSIM_HOME", str(tmp_path / "home"))
    procedure, experts, novices = sessions
    assert main(["history", "add", *map(str, experts), "--trainee", "attending"]) == 0
    assert main(["history", "add", *map(str, novices), "--trainee", "intern"]) == 0
    assert main(["history", "cohort", "attending", "faculty"]) == 0
    assert main(["history", "cohort", "intern", "PGY-1"]) == 0
    from_groups, from_traces = tmp_path / "groups.yaml", tmp_path / "traces.yaml"
    assert main(["rubric", "derive", str(procedure), "--expert-group", "faculty", "--novice-group", "PGY-1", "-o",
                 str(from_groups)]) == 0
    assert main(["rubric", "derive", str(procedure), "--experts", *map(str, experts), "--novices",
                 *map(str, novices), "-o", str(from_traces)]) == 0
    groups, traces = yaml.safe_load(from_groups.read_text()), yaml.safe_load(from_traces.read_text())
    assert groups["rubric"] == traces["rubric"] and groups["derivation"] == traces["derivation"]
    assert main(["rubric", "derive", str(procedure), "-o", str(tmp_path / "none.yaml")]) == 2
