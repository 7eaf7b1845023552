"""The metric functions on inputs small enough to check by hand."""

from __future__ import annotations

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
