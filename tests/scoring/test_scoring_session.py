"""score_session on scripted expert and novice sessions, checked against hand-computed values."""

from __future__ import annotations

import json

import pytest
from scripted_sessions import expert_session, write_scripted_trace

from surgsim.errors import InputError
from surgsim.events import Event
from surgsim.scoring import load_session, score_session


def score(trace_path):
    procedure, trace = load_session(trace_path)
    return score_session(procedure.spec, trace)


def test_expert_passes_with_hand_computed_metrics(expert_trace):
    report = score(expert_trace)
    m = report.metrics
    assert m.time_s == pytest.approx(20.0)
    assert m.instruments["left_grasper"].path_length_mm == pytest.approx(50.0)
    assert m.instruments["right_scissors"].path_length_mm == pytest.approx(30.0 + 20.0 * 2**0.5)
    assert m.path_length_mm == pytest.approx(80.0 + 20.0 * 2**0.5)
    # Straight lines between goal positions: grasper 50 mm in step 1; scissors from (20, 0, 32) to (0, 20, 2) mm.
    scissors_straight = (20**2 + 20**2 + 30**2) ** 0.5
    assert m.economy_of_motion == pytest.approx((50.0 + scissors_straight) / m.path_length_mm)
    assert m.instruments["left_grasper"].economy_of_motion == pytest.approx(1.0)
    assert m.idle_time_s == pytest.approx(10.0)
    assert m.max_force_N == pytest.approx(1.0) and m.mean_contact_force_N == pytest.approx(0.8)
    assert m.time_above_force_limit_s == 0.0
    assert m.cut_deviation_mean_mm == pytest.approx(0.5 / 3) and m.cut_deviation_max_mm == pytest.approx(0.5)
    assert (m.tissue_damage, m.forbidden_contacts, m.goals_completed, m.goals_total) == (0, 0, 2, 2)
    assert report.score == pytest.approx(100.0) and report.passed and report.failures == ()
    assert not report.truncated and report.end_reason == "completed"


def test_novice_fails_for_force_and_forbidden_contact(novice_trace):
    report = score(novice_trace)
    m = report.metrics
    assert m.max_force_N == pytest.approx(4.5)
    assert m.time_above_force_limit_s == pytest.approx(2.0)  # 4.5 N over (8, 10]
    assert m.mean_contact_force_N == pytest.approx((15 * 1.0 + 2 * 3.5 + 10 * 0.5) / 25)
    assert m.forbidden_contacts == 1 and m.forbidden_max_force_N == pytest.approx(0.8)
    assert (m.tears, m.torn_springs, m.cuts_off_target) == (1, 3, 1)
    assert m.cut_deviation_mean_mm == pytest.approx(2.5) and m.goals_completed == 1
    # Points: time and path 1 each but scaled by the goals completed (1/2), force (5 - 4.5) / 4, forbidden 1/2,
    # goals 1/2, deviation (3 - 2.5) / 2.5.
    assert report.score == pytest.approx(100 * (0.5 + 0.5 + 0.125 + 0.5 + 0.5 + 0.2) / 6)
    assert not report.passed
    assert report.failures == (
        "score: 38.8, below the pass mark of 70",
        "maximum force: 4.5 N, more than the 3 N allowed",
        "forbidden-zone contacts: 1, more than the 0 allowed",
        "goals completed: 1, fewer than the 2 required",
    )


def test_steps_split_at_completions_and_add_up_to_the_totals(expert_trace, novice_trace):
    for trace in (expert_trace, novice_trace):
        report = score(trace)
        steps = report.steps
        assert [s.metrics.time_s for s in steps] == pytest.approx([5.0, 15.0])
        assert sum(s.metrics.path_length_mm for s in steps) == pytest.approx(report.metrics.path_length_mm)
        assert sum(s.metrics.idle_time_s for s in steps) == pytest.approx(report.metrics.idle_time_s)
        assert sum(s.metrics.tissue_damage for s in steps) == report.metrics.tissue_damage
    expert = score(expert_trace).steps
    assert expert[0].completed and expert[0].completed_at_s == 5.0 and expert[0].metrics.path_length_mm == 50.0
    assert expert[0].metrics.max_force_N == 0.0 and expert[1].metrics.max_force_N == 1.0
    novice = score(novice_trace).steps
    assert novice[1].started and not novice[1].completed and novice[1].metrics.forbidden_contacts == 1


def test_step_over_its_time_limit_fails(tmp_path, box_trainer):
    tips, events = expert_session()
    events = [e if e.detail.get("step") != "grasp_gauze" else Event(12.0, "step_complete", detail=e.detail)
              for e in events]
    events = [e for e in events if not (e.kind == "cut" and e.time_s < 12.0)]
    report = score(write_scripted_trace(tmp_path / "slow.jsonl", box_trainer, tips, events, end_s=20.0))
    assert "step 'grasp_gauze' took 12.0 s, over its time limit of 10 s" in report.failures


def test_json_is_byte_identical_across_runs(expert_trace, novice_trace, tmp_path):
    for trace in (expert_trace, novice_trace):
        first, second = score(trace).json_bytes(), score(trace).json_bytes()
        assert first == second
        parsed = json.loads(first)
        assert list(parsed) == sorted(parsed)
        assert parsed["truncated"] is False
        assert set(parsed["trace"]) == {"recorded_with", "backend", "dt_s", "seed", "end_reason", "truncated"}
    # Written atomically, same bytes as in memory.
    out = score(expert_trace).write_json(tmp_path / "out" / "expert.score.json")
    assert out.read_bytes() == score(expert_trace).json_bytes()


def test_truncated_trace_is_scored_up_to_its_last_record(tmp_path, box_trainer):
    tips, events = expert_session()
    path = write_scripted_trace(tmp_path / "crash.jsonl", box_trainer, tips, events, end_s=20.0, end_reason=None)
    lines = path.read_text().splitlines(keepends=True)
    cut_at = next(i for i, line in enumerate(lines) if '"tick":12000,' in line and '"sample"' in line)
    path.write_text("".join(lines[:cut_at]) + lines[cut_at][:40])  # killed while writing the 12 s sample
    report = score(path)
    assert report.truncated and report.end_reason is None
    assert report.metrics.time_s == pytest.approx(12.0)  # the cut event at 12 s is the last record
    assert report.metrics.goals_completed == 1
    assert json.loads(report.json_bytes())["truncated"] is True


@pytest.mark.parametrize(
    "bad_event, message",
    [
        (Event(3.0, "step_complete", detail={"step": "sew"}), "names step 'sew', which procedure 'box_trainer'"),
        (Event(3.0, "step_complete", detail={"step": "cut_circle"}), "but the step due was 'grasp_gauze'"),
    ],
)
def test_step_events_that_contradict_the_procedure(tmp_path, box_trainer, bad_event, message):
    tips, events = expert_session()
    path = write_scripted_trace(tmp_path / "odd.jsonl", box_trainer, tips, events + [bad_event], end_s=20.0)
    with pytest.raises(InputError, match=message):
        score(path)


def test_samples_with_other_instruments_are_refused(tmp_path, box_trainer):
    tips, events = expert_session()
    tips["right_hook"] = tips.pop("right_scissors")
    path = write_scripted_trace(tmp_path / "odd.jsonl", box_trainer, tips, events, end_s=20.0)
    with pytest.raises(InputError, match="has instruments"):
        score(path)


def test_a_session_quit_at_once_reaches_no_step_and_fails(tmp_path, box_trainer):
    tips, _ = expert_session()
    report = score(write_scripted_trace(tmp_path / "quit.jsonl", box_trainer, tips, [], end_s=0.0, end_reason="quit"))
    assert [(step.started, step.completed) for step in report.steps] == [(True, False), (False, False)]
    assert report.metrics.time_s == 0.0 and report.metrics.path_length_mm == 0.0
    assert report.metrics.economy_of_motion is None and not report.passed
    # Only the safety metrics earn points (force, forbidden contacts): 2 of 6 equal weights.
    assert report.score == pytest.approx(100 * 2 / 6)


def test_a_trace_without_samples_scores(tmp_path, box_trainer):
    from surgsim.procedure import load_procedure
    from surgsim.trace import TraceHeader, TraceWriter

    procedure = load_procedure(box_trainer)
    path = tmp_path / "blank.jsonl"
    header = TraceHeader.for_session(trace_path=path, procedure_path=box_trainer, procedure_sha256=procedure.sha256,
                                     backend="cpu", dt_s=0.001, seed=0)
    with TraceWriter(path, header) as writer:
        writer.write_end(0, "quit")
    report = score(path)
    assert report.metrics.path_length_mm == 0.0 and report.metrics.max_force_N == 0.0 and not report.passed


def test_cuts_within_2mm_and_the_gate_on_every_cut(expert_trace, novice_trace, tmp_path, box_trainer):
    assert score(expert_trace).metrics.cut_within_2mm_fraction == 1.0  # 0, 0 and 0.5 mm off
    assert score(novice_trace).metrics.cut_within_2mm_fraction == 0.5  # 5 mm and 0 mm off
    gated = tmp_path / "gated"
    gated.mkdir()
    (gated / "box_trainer.yaml").write_text(
        box_trainer.read_text().replace("    max_forbidden_contacts: 0", "    max_forbidden_contacts: 0\n"
                                                                          "    max_cut_deviation_max_mm: 0.4"))
    tips, events = expert_session()
    report = score(write_scripted_trace(gated / "expert.jsonl", gated / "box_trainer.yaml", tips, events,
                                        end_s=20.0))
    assert report.failures == ("largest cut deviation: 0.5 mm, more than the 0.4 mm allowed",)


def test_a_steps_own_force_limit_applies_within_it(tmp_path, box_trainer):
    tips, events = expert_session()
    plain = score(write_scripted_trace(tmp_path / "plain.jsonl", box_trainer, tips, events, end_s=20.0))
    assert plain.metrics.time_above_force_limit_s == 0.0
    strict = tmp_path / "strict"
    strict.mkdir()
    (strict / "box_trainer.yaml").write_text(
        box_trainer.read_text().replace("    instructions: Cut along the circle.",
                                        "    instructions: Cut along the circle.\n    force_limit_N: 0.8"))
    report = score(write_scripted_trace(strict / "expert.jsonl", strict / "box_trainer.yaml", tips, events,
                                        end_s=20.0))
    # The grasper holds with 1 N through the cut step (5, 20]: above its 0.8 N limit for 15 s; not in step 1.
    assert report.metrics.time_above_force_limit_s == pytest.approx(15.0)
    assert [s.metrics.time_above_force_limit_s for s in report.steps] == pytest.approx([0.0, 15.0])


def test_torn_and_off_target_cut_areas_add_up_from_the_events(tmp_path, box_trainer):
    """The novice's tear (2.5 mm²) and its cut 5 mm off the line (1.25 mm²) are damage; its cut on the line is not."""
    from scripted_sessions import novice_session

    tips, events = novice_session()
    areas = {"tear": 2.5, 14.0: 1.25, 16.0: 4.0}
    with_areas = [Event(e.time_s, e.kind, e.instrument, e.region, e.force_n, e.position_m,
                        {**e.detail, "area_mm2": areas.get(e.kind, areas.get(e.time_s))})
                  if e.kind in ("tear", "cut") else e for e in events]
    report = score(write_scripted_trace(tmp_path / "areas.jsonl", box_trainer, tips, with_areas, end_s=20.0))
    assert report.metrics.torn_area_mm2 == pytest.approx(2.5)
    assert report.metrics.cut_off_target_area_mm2 == pytest.approx(1.25)
    assert sum(step.metrics.torn_area_mm2 for step in report.steps) == pytest.approx(2.5)
    # A trace from before the areas were recorded: unknown, not zero.
    old = score(write_scripted_trace(tmp_path / "old.jsonl", box_trainer, tips, events, end_s=20.0))
    assert old.metrics.torn_area_mm2 is None and old.metrics.cut_off_target_area_mm2 is None
    assert "torn_area_mm2" in json.loads(old.json_bytes())["metric_definitions"]
