"""The metric functions on inputs small enough to check by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from surgsim.errors import InputError
from surgsim.events import Event
from surgsim.procedure import load_procedure
from surgsim.procedure.schema import Benchmark, CircleLine, Landmark, LandmarkLine, PolylineLine, RubricMetrics
from surgsim.scoring.geometry import distance_to_line_mm
from surgsim.scoring.incidents import incidents_in
from surgsim.scoring.motion import SampleSeries, economy_of_motion, motion_in
from surgsim.scoring.rubric import benchmark_points, score_components, weighted_score


def series(times, tips_mm, forces_n) -> SampleSeries:
    """One instrument, ``tips_mm`` [K, 3] in millimetres, force magnitudes [K]."""
    tips = np.asarray(tips_mm, dtype=float)[None] / 1000.0
    return SampleSeries(("tool",), np.asarray(times, dtype=float), tips, np.asarray(forces_n, dtype=float)[None])


def test_path_length_of_a_known_polyline():
    # Around a 10 mm square and back to the start: 40 mm travelled, 0 mm from start to end.
    square = [[0, 0, 0], [10, 0, 0], [10, 10, 0], [0, 10, 0], [0, 0, 0]]
    motion = motion_in(series(range(5), square, [0] * 5), np.ones(4, bool), force_limit_n=3.0)
    assert motion.instruments["tool"].path_length_mm == pytest.approx(40.0)
    assert motion.instruments["tool"].straight_line_mm == pytest.approx(0.0)
    # A 3-4-5 triangle's two legs: 7 mm travelled, 5 mm straight.
    legs = motion_in(series(range(3), [[0, 0, 0], [3, 0, 0], [3, 4, 0]], [0] * 3), np.ones(2, bool), 3.0)
    assert legs.instruments["tool"].path_length_mm == pytest.approx(7.0)
    assert economy_of_motion(legs.instruments["tool"].straight_line_mm, 7.0) == pytest.approx(5 / 7)


def test_time_above_force_limit_for_a_known_profile():
    # Samples 0.1 s apart; each stands for the 0.1 s before it. Above 3 N at t = 0.2, 0.3 and 0.5 s.
    forces = [0.0, 2.0, 4.0, 4.0, 2.0, 5.0]
    motion = motion_in(series(np.arange(6) * 0.1, np.zeros((6, 3)), forces), np.ones(5, bool), force_limit_n=3.0)
    assert motion.time_above_force_limit_s == pytest.approx(0.3)
    assert motion.max_force_N == 5.0
    assert motion.mean_contact_force_N == pytest.approx((2 + 4 + 4 + 2 + 5) / 5)


def test_idle_time_counts_gaps_where_every_tip_is_slow():
    # 1 s gaps: moves 10 mm (10 mm/s), then 2 mm (idle), then 0 (idle), then 6 mm (6 mm/s).
    tips = [[0, 0, 0], [10, 0, 0], [12, 0, 0], [12, 0, 0], [18, 0, 0]]
    motion = motion_in(series(range(5), tips, [0] * 5), np.ones(4, bool), 3.0)
    assert motion.idle_time_s == pytest.approx(2.0)
    assert motion.mean_contact_force_N is None


def test_windows_take_the_gaps_that_end_inside_them():
    s = series([0.0, 1.0, 2.0, 3.0], np.zeros((4, 3)), [0] * 4)
    assert s.gaps_ending_in(None, 1.0).tolist() == [True, False, False]
    assert s.gaps_ending_in(1.0, 3.0).tolist() == [False, True, True]
    assert s.gaps_ending_in(1.5, 2.5).tolist() == [False, True, False]


def test_distance_to_cut_lines():
    circle = CircleLine(kind="circle", center_mm=[0, 0, 0], radius_mm=20)
    assert distance_to_line_mm([20, 0, 0], circle, {}) == pytest.approx(0.0)
    assert distance_to_line_mm([0, 25, 0], circle, {}) == pytest.approx(5.0)
    assert distance_to_line_mm([0, 20, 3], circle, {}) == pytest.approx(3.0)
    assert distance_to_line_mm([0, 0, 0], circle, {}) == pytest.approx(20.0)  # the centre is not on the line
    landmarks = {"a": Landmark(organ="x", position_mm=[0, 0, 0]), "b": Landmark(organ="x", position_mm=[10, 0, 0])}
    segment = LandmarkLine(kind="landmarks", from_landmark="a", to_landmark="b")
    assert distance_to_line_mm([5, 3, 4], segment, landmarks) == pytest.approx(5.0)
    assert distance_to_line_mm([13, 4, 0], segment, landmarks) == pytest.approx(5.0)  # past the end
    bend = PolylineLine(kind="polyline", points_mm=[[0, 0, 0], [10, 0, 0], [10, 10, 0]])
    assert distance_to_line_mm([12, 5, 0], bend, {}) == pytest.approx(2.0)


def test_benchmark_points_are_linear_and_clamped_either_way():
    lower_better = Benchmark(weight=1, expert=10, zero_at=30)
    assert [benchmark_points(v, lower_better) for v in (5, 10, 20, 30, 40)] == [1.0, 1.0, 0.5, 0.0, 0.0]
    higher_better = Benchmark(weight=1, expert=0.8, zero_at=0.2)
    assert benchmark_points(0.5, higher_better) == pytest.approx(0.5)
    assert benchmark_points(None, higher_better) == 0.0


def test_weighted_score_scales_efficiency_by_the_goals_completed():
    rubric = RubricMetrics(time_s=Benchmark(weight=3, expert=10, zero_at=30),
                           max_force_N=Benchmark(weight=1, expert=1, zero_at=5))
    finished = score_components({"time_s": 20.0, "max_force_N": 1.0, "goals_completed_fraction": 1.0}, rubric)
    assert weighted_score(finished) == pytest.approx(100 * (3 * 0.5 + 1 * 1.0) / 4)
    # Stopping at once is fast but earns no time points: none of the work was done.
    stopped = score_components({"time_s": 0.0, "max_force_N": 0.0, "goals_completed_fraction": 0.0}, rubric)
    assert weighted_score(stopped) == pytest.approx(100 * (3 * 0.0 + 1 * 1.0) / 4)


@pytest.fixture
def box(box_trainer):
    return load_procedure(box_trainer).spec


def test_incidents_classify_cuts_burns_tears_and_forbidden_contacts(box):
    cut_goal = box.steps[1].goal
    events = [
        Event(1.0, "cut", position_m=(0.0201, 0.0, 0.002)),  # 0.1 mm off: on target
        Event(2.0, "cut", position_m=(0.03, 0.0, 0.002), detail={"rest_position_m": [0.0, 0.023, 0.002]}),  # 3 mm
        Event(3.0, "cut"),  # no position: neither
        Event(4.0, "burn", region="centre"),  # no cauterize goal: damage
        Event(5.0, "tear", detail={"springs": 4}),
        Event(6.0, "tear"),
        Event(7.0, "forbidden_contact", region="base_plate", force_n=0.2),
    ]
    incidents = incidents_in(events, cut_goal, box, "trace")
    assert incidents.cut_deviations_mm == pytest.approx((0.1, 3.0))
    assert (incidents.cuts_off_target, incidents.burns_off_target, incidents.tears) == (1, 1, 2)
    assert incidents.torn_springs == 5 and incidents.tissue_damage == 4
    assert incidents.forbidden_contacts == 1 and incidents.forbidden_max_force_N == 0.2
    # The same cut while grasping is cutting outside the target.
    assert incidents_in(events[:1], box.steps[0].goal, box, "trace").cuts_off_target == 1


def test_force_limited_zone_counts_only_contacts_above_its_limit(box):
    limited = box.model_copy(update={"forbidden": [box.forbidden[0].model_copy(update={"max_force_N": 1.0})]})
    events = [Event(1.0, "forbidden_contact", region="base_plate", force_n=0.5),
              Event(2.0, "forbidden_contact", region="base_plate", force_n=1.5)]
    incidents = incidents_in(events, None, limited, "trace")
    assert incidents.forbidden_contacts == 1 and incidents.forbidden_max_force_N == 1.5


def test_contact_with_a_zone_the_procedure_lacks_is_an_input_error(box):
    with pytest.raises(InputError, match="'aorta', which is not a forbidden zone"):
        incidents_in([Event(1.0, "forbidden_contact", region="aorta")], None, box, "trace.jsonl")


def test_every_rubric_metric_and_threshold_refers_to_a_reported_metric():
    from surgsim.scoring.report import SessionMetrics
    from surgsim.scoring.rubric import _THRESHOLDS

    reported = set(SessionMetrics.__dataclass_fields__)
    assert set(RubricMetrics.model_fields) <= reported
    assert {metric for _, metric, *_ in _THRESHOLDS} <= reported


# -- forces at every tick ----------------------------------------------------------------------------------------------
def _trace_with_tick_forces(per_sample: list[list[float]], dt_s: float = 0.001, *, legacy: bool = False):
    """A trace of one instrument 'tool' whose samples (every len(values) ticks) carry these per-tick forces, the
    sample's own force being the last of them; ``legacy``: samples without per-tick forces, as before them."""
    from surgsim.trace import EndRecord, InstrumentSample, SampleRecord, Trace, TraceHeader

    header = TraceHeader(surgsim_version="test", procedure="p.yaml", procedure_sha256="0" * 64, backend="cpu",
                         dt_s=dt_s, seed=0)
    samples, tick = [], 0
    for values in per_sample:
        tick += len(values)
        samples.append(SampleRecord(tick=tick, instruments={"tool": InstrumentSample(
            tip_m=[0.0, 0.0, 0.0], force_n=[0.0, 0.0, values[-1]], jaw=0.0, energy=False, tick_forces_n=None if legacy else values)}))
    return Trace(Path("t.jsonl"), header, (), tuple(samples), (), EndRecord(tick=tick, reason="quit"))


def test_force_metrics_come_from_every_tick_not_only_the_samples():
    from surgsim.scoring.motion import ForceSeries, force_stats

    # Three samples 4 ticks apart; a 6 N peak on tick 6 falls between samples (whose forces are 0, 1 and 2 N).
    trace = _trace_with_tick_forces([[0.0, 0.0, 0.0, 0.0], [0.0, 6.0, 2.0, 1.0], [2.0, 2.0, 2.0, 2.0]])
    sampled = SampleSeries.from_trace(trace, ("tool",))
    assert sampled.forces_n.max() == 2.0
    forces = ForceSeries.from_trace(trace, sampled)
    assert forces.every_tick and forces.times_s.tolist() == pytest.approx([0.001 * t for t in range(1, 13)])
    stats = force_stats(forces, forces.within(None, math.inf), force_limit_n=3.0)
    assert stats.max_force_N == 6.0 and stats.max_force_by_instrument == {"tool": 6.0}
    assert stats.time_above_force_limit_s == pytest.approx(0.001)  # the one tick at 6 N
    contact = [6.0, 2.0, 1.0, 2.0, 2.0, 2.0, 2.0]  # seven ticks in contact
    assert stats.mean_contact_force_N == pytest.approx(sum(contact) / 7)
    assert stats.force_rms_N == pytest.approx(math.sqrt(sum(f * f for f in contact) / 7))
    assert stats.force_p95_N == 6.0  # 6/7 of the contact time is at 2 N or less: the top 5 % is the peak
    # A window: ticks 5-8 only.
    window = force_stats(forces, forces.within(0.004, 0.008), force_limit_n=1.5)
    assert window.max_force_N == 6.0 and window.time_above_force_limit_s == pytest.approx(0.002)


def test_an_older_trace_without_tick_forces_falls_back_to_the_samples():
    from surgsim.scoring.motion import ForceSeries

    s = series(np.arange(4) * 0.1, np.zeros((4, 3)), [0.0, 1.0, 4.0, 2.0])
    forces = ForceSeries.from_trace(_trace_with_tick_forces([[0.0]], legacy=True), s)
    assert not forces.every_tick and forces.forces_n.tolist() == [[1.0, 4.0, 2.0]]
    assert forces.durations_s.tolist() == pytest.approx([0.1, 0.1, 0.1])


def test_weighted_percentile_inverts_the_weighted_distribution():
    from surgsim.scoring.motion import weighted_percentile

    values, weights = np.array([3.0, 1.0, 2.0]), np.array([1.0, 8.0, 1.0])
    assert weighted_percentile(values, weights, 50.0) == 1.0
    assert weighted_percentile(values, weights, 85.0) == 2.0
    assert weighted_percentile(values, weights, 95.0) == 3.0


# -- damage in episodes, holds, cuts within 2 mm -----------------------------------------------------------------------
def test_a_tear_going_on_over_consecutive_ticks_is_one_episode(box):
    from surgsim.scoring.incidents import EPISODE_GAP_S, EpisodeClock

    burst = [Event(3.0 + 0.01 * k, "tear", region="gauze", detail={"springs": 1}) for k in range(20)]
    later = [Event(3.19 + EPISODE_GAP_S + 0.01, "tear", region="gauze")]
    incidents = incidents_in(burst + later, None, box, "trace")
    assert (incidents.tears, incidents.torn_springs, incidents.tissue_damage) == (2, 21, 2)
    # An episode going on across a step's completion counts once.
    clock = EpisodeClock()
    first = incidents_in(burst[:10], box.steps[0].goal, box, "trace", clock)
    second = incidents_in(burst[10:], box.steps[1].goal, box, "trace", clock)
    assert (first + second).tears == 1


def test_instructed_holds_are_not_idle_time():
    tips = [[0, 0, 0], [10, 0, 0], [10, 0, 0], [10, 0, 0], [18, 0, 0]]  # still over the 2nd and 3rd gaps
    s = series(range(5), tips, [0] * 5)
    assert motion_in(s, np.ones(4, bool), 3.0).idle_time_s == pytest.approx(2.0)
    holding = np.array([False, False, True, False])
    assert motion_in(s, np.ones(4, bool), 3.0, holding).idle_time_s == pytest.approx(1.0)


def test_over_retraction_and_over_indentation_are_damage_with_their_overshoot(tmp_path):
    text = (Path(__file__).parent / "box_trainer.yaml").read_text()
    text = text.replace("goal: {kind: grasp, region: centre, instrument: left_grasper}",
                        "goal: {kind: retract, region: centre, distance_mm: 10, direction: cranial, "
                        "max_distance_mm: 15, instrument: left_grasper}")
    text = text.replace("      kind: cut\n      line: {kind: circle, center_mm: [0, 0, 2], radius_mm: 20}\n"
                        "      tolerance_mm: 2", "      {kind: touch, region: centre, max_depth_mm: 4}")
    text = text.replace("    goal:\n      {kind: touch", "    goal: {kind: touch")
    path = tmp_path / "limits.yaml"
    path.write_text(text)
    procedure = load_procedure(path).spec
    events = [
        Event(1.0, "over_retraction", instrument="left_grasper", region="centre", detail={"distance_mm": 15.1}),
        Event(1.5, "over_retraction_end", instrument="left_grasper", region="centre", detail={"peak_mm": 18.0}),
        Event(3.0, "over_indentation", instrument="right_scissors", region="centre", detail={"depth_mm": 4.2}),
        Event(3.2, "over_indentation_end", instrument="right_scissors", region="centre", detail={"peak_mm": 9.5}),
    ]
    incidents = incidents_in(events, None, procedure, "trace")
    assert (incidents.over_retractions, incidents.over_indentations, incidents.tissue_damage) == (1, 1, 2)
    assert incidents.max_retraction_over_mm == pytest.approx(3.0)
    assert incidents.max_indentation_over_mm == pytest.approx(5.5)
