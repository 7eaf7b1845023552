"""Each goal kind completes on exactly the tick its condition is met, never before (synthetic ticks, no physics)."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest

from surgsim.events import Event
from surgsim.procedure import load_procedure
from surgsim.procedure.goals import CUT_COVERAGE_FRACTION, CUT_LINE_SAMPLE_SPACING_M, cut_line_samples_m
from surgsim.procedure.runtime import InstrumentView, ProcedureRuntime, TickView
from surgsim.procedure.scene_builder import build_scene
from surgsim.procedure.schema import CircleLine, PolylineLine

MM = 1e-3
DT_S = 0.1
# A 50 × 50 × 2 mm sheet with nodes every 5 mm in x and y, on two layers (z = 0 and 2 mm).
PROCEDURE = textwrap.dedent("""\
    format_version: 1
    name: goals
    title: Goal checks
    time_limit_s: 100
    force_limit_N: 3.0
    scene:
      organs:
        - name: sheet
          source: {kind: block, size_mm: [50, 50, 2], divisions: [10, 10, 1]}
          material: skin
      regions:
        middle: {kind: sphere, organ: sheet, center_mm: [25, 25, 1], radius_mm: 6}
        corner: {kind: box, organ: sheet, min_mm: [-1, -1, -1], max_mm: [6, 6, 3]}
      landmarks:
        a: {organ: sheet, position_mm: [10, 25, 1]}
        b: {organ: sheet, position_mm: [40, 25, 1]}
      camera: {port_mm: [0, -100, 100], look_at_mm: [25, 25, 0]}
    instruments:
      - {name: grasper, type: grasper, port_mm: [-50, -80, 100], hand: left}
      - {name: dissector, type: dissector, port_mm: [-50, 80, 100], hand: left}
      - {name: scissors, type: scissors, port_mm: [100, -80, 100], hand: right}
      - {name: hook, type: hook_cautery, port_mm: [100, 80, 100], hand: right}
      - {name: clipper, type: clip_applier, port_mm: [100, 0, 100], hand: right}
    steps:
      - name: only
        instructions: Meet the goal.
        goal: GOAL
    rubric:
      metrics:
        time_s: {weight: 1, expert: 10, zero_at: 60}
      pass_thresholds: {min_score: 50}
    """)
INSTRUMENTS = ("grasper", "dissector", "scissors", "hook", "clipper")
PARKED_TIP_M = np.array([0.025, 0.025, 0.1])  # 10 cm above the sheet


def make_runtime(tmp_path, goal: str) -> ProcedureRuntime:
    path = tmp_path / "goals.yaml"
    path.write_text(PROCEDURE.replace("GOAL", goal))
    procedure = load_procedure(path)
    return ProcedureRuntime(procedure.spec, build_scene(procedure))


def parked(tip_m=PARKED_TIP_M, **fields) -> InstrumentView:
    """An instrument whose jaw is a 2 mm radius capsule from ``tip_m`` 10 mm up, its shaft above that."""
    tip = np.asarray(tip_m, dtype=float)
    capsules = ((tip, tip + [0, 0, 0.01], 0.002), (tip + [0, 0, 0.01], tip + [0, 0, 0.3], 0.003))
    return InstrumentView(tip_m=tip, capsules=capsules, **fields)


def tick(runtime: ProcedureRuntime, number: int, *, positions=None, events=(), **instruments) -> list[Event]:
    views = {name: instruments.get(name, parked()) for name in INSTRUMENTS}
    view = TickView(
        tick=number, time_s=number * DT_S, dt_s=DT_S,
        positions=runtime.scene.model.positions if positions is None else positions,
        instruments=views, events=tuple(events),
    )
    return runtime.update(view)


def completions(events: list[Event]) -> list[tuple[str, str]]:
    return [(event.detail["step"], event.instrument) for event in events if event.kind == "step_complete"]


# -- grasp -----------------------------------------------------------------------------------------------------------
def test_grasp_needs_a_node_of_the_region_in_a_capable_instruments_jaws(tmp_path):
    runtime = make_runtime(tmp_path, "{kind: grasp, region: middle}")
    middle = runtime.scene.regions["middle"].nodes
    outside = np.setdiff1d(np.arange(runtime.scene.model.node_count), middle)[:3]
    assert completions(tick(runtime, 1)) == []
    assert completions(tick(runtime, 2, grasper=parked(grasped_nodes=outside))) == []
    # Scissors are not a grasping instrument, whatever they hold.
    assert completions(tick(runtime, 3, scissors=parked(grasped_nodes=middle[:1]))) == []
    assert completions(tick(runtime, 4, dissector=parked(grasped_nodes=middle[:1]))) == [("only", "dissector")]
    assert runtime.finished


def test_grasp_with_a_named_instrument_ignores_the_others(tmp_path):
    runtime = make_runtime(tmp_path, "{kind: grasp, region: middle, instrument: grasper}")
    middle = runtime.scene.regions["middle"].nodes
    assert completions(tick(runtime, 1, dissector=parked(grasped_nodes=middle))) == []
    assert completions(tick(runtime, 2, grasper=parked(grasped_nodes=middle[-1:]))) == [("only", "grasper")]


# -- retract ---------------------------------------------------------------------------------------------------------
def lifted(runtime: ProcedureRuntime, nodes: np.ndarray, lift_mm: float) -> np.ndarray:
    positions = runtime.scene.model.positions.copy()
    positions[nodes, 2] += lift_mm * MM
    return positions


RETRACT = "{kind: retract, region: middle, distance_mm: 10, direction: cranial, hold_s: 1}"


def test_retract_completes_after_holding_the_distance_for_hold_s(tmp_path):
    runtime = make_runtime(tmp_path, RETRACT)
    held = runtime.scene.regions["middle"].nodes
    grasping = parked(grasped_nodes=held)
    assert completions(tick(runtime, 1, grasper=grasping, positions=lifted(runtime, held, 9.9))) == []
    for number in range(2, 12):  # lifted far enough from t = 0.2 s; 1 s later is t = 1.2 s
        events = tick(runtime, number, grasper=grasping, positions=lifted(runtime, held, 10.0))
        assert completions(events) == [], number
    assert completions(tick(runtime, 12, grasper=grasping, positions=lifted(runtime, held, 10.0))) == [
        ("only", "grasper")
    ]


def test_retract_measures_the_held_nodes_centroid_along_the_direction(tmp_path):
    runtime = make_runtime(tmp_path, RETRACT.replace("hold_s: 1", "hold_s: 0"))
    held = runtime.scene.regions["middle"].nodes
    sideways = runtime.scene.model.positions.copy()
    sideways[held, 0] += 0.02  # 20 mm to the right is not cranial
    assert completions(tick(runtime, 1, grasper=parked(grasped_nodes=held), positions=sideways)) == []
    # Half the held nodes up 20 mm: the centroid rises 10 mm. Nodes not held do not count.
    half = held[: len(held) // 2]
    positions = lifted(runtime, half, 20.0 * len(held) / len(half) / 2)
    assert completions(tick(runtime, 2, grasper=parked(grasped_nodes=half[:0]), positions=positions)) == []
    assert completions(tick(runtime, 3, grasper=parked(grasped_nodes=held), positions=positions)) == [
        ("only", "grasper")
    ]


@pytest.mark.parametrize("interruption", ["drop", "release"])
def test_retract_hold_restarts_when_the_lift_drops_or_the_grasp_is_lost(tmp_path, interruption):
    runtime = make_runtime(tmp_path, RETRACT)
    held = runtime.scene.regions["middle"].nodes
    up = lifted(runtime, held, 12.0)
    for number in range(1, 7):  # held from t = 0.1 to 0.6 s
        assert completions(tick(runtime, number, grasper=parked(grasped_nodes=held), positions=up)) == []
    if interruption == "drop":
        broken = tick(runtime, 7, grasper=parked(grasped_nodes=held), positions=lifted(runtime, held, 9.0))
    else:
        broken = tick(runtime, 7, grasper=parked(), positions=up)
    assert completions(broken) == []
    for number in range(8, 18):  # the hold starts again at t = 0.8 s, so not before 1.8 s
        assert completions(tick(runtime, number, grasper=parked(grasped_nodes=held), positions=up)) == [], number
    assert completions(tick(runtime, 18, grasper=parked(grasped_nodes=held), positions=up)) == [("only", "grasper")]


def test_over_retraction_is_an_episode_from_crossing_the_maximum_to_coming_back(tmp_path):
    runtime = make_runtime(tmp_path, RETRACT.replace("hold_s: 1", "hold_s: 0, max_distance_mm: 15"))
    held = runtime.scene.regions["middle"].nodes
    grasping = parked(grasped_nodes=held)

    def kinds(events):
        return [(e.kind, round(e.detail.get("distance_mm", e.detail.get("peak_mm", 0.0)), 6)) for e in events
                if e.kind.startswith("over_retraction")]

    assert kinds(tick(runtime, 1, grasper=grasping, positions=lifted(runtime, held, 15.0))) == []  # at the maximum
    assert kinds(tick(runtime, 2, grasper=grasping, positions=lifted(runtime, held, 16.0))) == [
        ("over_retraction", 16.0)]
    # The step completed on tick 1; the region is still watched. Farther still: the same episode.
    assert kinds(tick(runtime, 3, grasper=grasping, positions=lifted(runtime, held, 19.0))) == []
    assert kinds(tick(runtime, 4, grasper=parked(), positions=lifted(runtime, held, 19.0))) == [
        ("over_retraction_end", 19.0)]  # letting go ends it, with the farthest distance
    assert kinds(tick(runtime, 5, grasper=grasping, positions=lifted(runtime, held, 17.0))) == [
        ("over_retraction", 17.0)]


def test_max_distance_must_be_beyond_the_retraction_asked_for(tmp_path):
    from surgsim.errors import InputError

    with pytest.raises(InputError, match="max_distance_mm must be above distance_mm"):
        make_runtime(tmp_path, RETRACT.replace("hold_s: 1", "max_distance_mm: 8"))


# -- cut -------------------------------------------------------------------------------------------------------------
CIRCLE = "{kind: cut, line: {kind: circle, center_mm: [25, 25, 2], radius_mm: 10}, tolerance_mm: 2}"


def on_circle(angle_rad: float, radius_mm: float = 10.0) -> tuple[float, float, float]:
    return (0.025 + radius_mm * MM * math.cos(angle_rad), 0.025 + radius_mm * MM * math.sin(angle_rad), 0.002)


def test_cut_completes_when_90_percent_of_the_circle_is_cut(tmp_path):
    runtime = make_runtime(tmp_path, CIRCLE)
    # Cuts 4 mm of arc apart each cover ±2 mm of the line: 14 cover 56 of 62.8 mm (89 %), the 15th reaches 95 %.
    step = 4.0 / 10.0
    cuts = [Event(0.0, "cut", instrument="scissors", position_m=on_circle(k * step)) for k in range(15)]
    for number, cut in enumerate(cuts[:14], start=1):
        assert completions(tick(runtime, number, events=[cut])) == [], number
    assert completions(tick(runtime, 15, events=[cuts[14]])) == [("only", "scissors")]


def test_cut_counts_capable_instruments_on_the_line_at_the_rest_position(tmp_path):
    runtime = make_runtime(tmp_path, CIRCLE)
    around = [k * 2 * math.pi / 40 for k in range(40)]
    off_line = [Event(0.0, "cut", instrument="scissors", position_m=on_circle(a, 15.0)) for a in around]
    by_grasper = [Event(0.0, "cut", instrument="grasper", position_m=on_circle(a)) for a in around]
    no_position = [Event(0.0, "cut", instrument="scissors")]
    assert completions(tick(runtime, 1, events=off_line + by_grasper + no_position)) == []
    # The tissue has moved: where the cut happens now is off the line, but where it was at rest is on it.
    moved = [
        Event(0.0, "cut", instrument="hook", position_m=(0.0, 0.0, 0.05), detail={"rest_position_m": on_circle(a)})
        for a in around
    ]
    assert completions(tick(runtime, 2, events=moved)) == [("only", "hook")]


def test_cut_line_samples_are_equal_pieces_of_the_line():
    circle = cut_line_samples_m(CircleLine(kind="circle", center_mm=[0, 0, 2], radius_mm=20, normal=[0, 0, 1]),
                                {}, spacing_m=CUT_LINE_SAMPLE_SPACING_M)
    assert len(circle) == math.ceil(2 * math.pi * 0.02 / CUT_LINE_SAMPLE_SPACING_M)
    np.testing.assert_allclose(np.linalg.norm(circle[:, :2], axis=1), 0.02)
    np.testing.assert_allclose(circle[:, 2], 0.002)
    bend = PolylineLine(kind="polyline", points_mm=[[0, 0, 0], [3, 0, 0], [3, 1, 0]])
    samples = cut_line_samples_m(bend, {}, spacing_m=0.001)
    np.testing.assert_allclose(samples * 1000, [[0.5, 0, 0], [1.5, 0, 0], [2.5, 0, 0], [3, 0.5, 0]], atol=1e-12)
    assert CUT_COVERAGE_FRACTION == 0.9


def test_cut_along_landmarks_needs_the_segment_between_them(tmp_path):
    runtime = make_runtime(tmp_path, "{kind: cut, line: {kind: landmarks, from_landmark: a, to_landmark: b}}")
    # a = (10, 25) and b = (40, 25) mm, 30 mm apart; each cut covers 2 mm on either side of it: 4 mm at a time.
    xs = np.arange(12.0, 40.0, 4.0)
    events = [Event(0.0, "cut", instrument="scissors", position_m=(x * MM, 0.025, 0.001)) for x in xs]
    covered = [(min(x + 2, 40) - 10) / 30 for x in xs]
    first = next(k for k, fraction in enumerate(covered) if fraction >= CUT_COVERAGE_FRACTION - 1e-9)
    for number, event in enumerate(events[:first], start=1):
        assert completions(tick(runtime, number, events=[event])) == [], number
    assert completions(tick(runtime, first + 1, events=[events[first]])) == [("only", "scissors")]


# -- touch -----------------------------------------------------------------------------------------------------------
def test_touch_needs_the_working_end_within_a_millimetre_of_the_region_and_a_force(tmp_path):
    runtime = make_runtime(tmp_path, "{kind: touch, region: corner}")
    pressing = np.array([0.0, 0.0, 0.2])  # 0.2 N, above the default 0.1 N
    # The corner holds the nodes at x, y <= 5 mm; the sheet's top is at z = 2 mm; the jaw capsule's radius is 2 mm.
    assert completions(tick(runtime, 1, grasper=parked((0.0025, 0.0025, 0.0052), force_n=pressing))) == []  # 1.2 mm
    # The shaft alone lying on the corner is not a touch: the tip is far off to the side.
    shaft_only = InstrumentView(tip_m=(0.2, 0.2, 0.0), capsules=(((0.0, 0.0, 0.005), (0.2, 0.2, 0.005), 0.003),),
                                force_n=pressing)
    assert completions(tick(runtime, 2, scissors=shaft_only)) == []
    # Near enough but not pressing (the coupling's force comes a tick or more after the geometry meets): not yet.
    assert completions(tick(runtime, 3, grasper=parked((0.0025, 0.0025, 0.0048)))) == []
    assert completions(tick(runtime, 4, grasper=parked((0.0025, 0.0025, 0.0048), force_n=[0, 0, 0.05]))) == []
    assert completions(tick(runtime, 5, grasper=parked((0.0025, 0.0025, 0.0048), force_n=pressing))) == [
        ("only", "grasper")]


def test_touch_force_threshold_is_the_goals(tmp_path):
    runtime = make_runtime(tmp_path, "{kind: touch, region: corner, min_force_N: 0.5}")
    near = (0.0025, 0.0025, 0.0048)
    assert completions(tick(runtime, 1, grasper=parked(near, force_n=[0, 0, 0.4]))) == []
    assert completions(tick(runtime, 2, grasper=parked(near, force_n=[0, 0.3, 0.4]))) == [("only", "grasper")]


def test_touch_also_accepts_the_couplings_contact_while_it_lasts(tmp_path):
    runtime = make_runtime(tmp_path, "{kind: touch, region: corner, instrument: hook}")
    corner = runtime.scene.regions["corner"].nodes
    last_node = runtime.scene.model.node_count - 1  # at (50, 50, 2) mm, far from the corner
    pressing = parked(force_n=[0.0, 0.0, 0.3])  # parked far from the corner: only the contact event says where
    elsewhere = Event(0.0, "contact_start", instrument="hook", detail={"nodes": [last_node]})
    wrong_tool = Event(0.0, "contact_start", instrument="grasper", region="corner")
    assert completions(tick(runtime, 1, events=[elsewhere, wrong_tool], hook=pressing, grasper=pressing)) == []
    touch = Event(0.0, "contact_start", instrument="hook", detail={"nodes": [int(corner[0])]})
    assert completions(tick(runtime, 2, events=[touch])) == []  # in contact, but not pressing yet
    released = Event(0.0, "contact_end", instrument="hook")
    assert completions(tick(runtime, 3, events=[released], hook=pressing)) == []  # pressing elsewhere after it ended
    assert completions(tick(runtime, 4, events=[touch], hook=pressing)) == [("only", "hook")]


# -- cauterize -------------------------------------------------------------------------------------------------------
def test_cauterize_adds_up_the_ticks_with_burns_in_the_region(tmp_path):
    runtime = make_runtime(tmp_path, "{kind: cauterize, region: middle, energy_s: 0.5}")
    burn = Event(0.0, "burn", instrument="hook", region="middle")
    elsewhere = Event(0.0, "burn", instrument="hook", region="corner")
    schedule = [burn, None, burn, elsewhere, burn, burn, None, None]  # 4 ticks of 0.1 s on target
    for number, event in enumerate(schedule, start=1):
        assert completions(tick(runtime, number, events=[event] if event else [])) == [], number
    assert completions(tick(runtime, 9, events=[burn, burn])) == [("only", "hook")]  # one tick, however many burns


# -- clip ------------------------------------------------------------------------------------------------------------
CLIP = "{kind: clip, landmark: a, tolerance_mm: 3, count: 2}"


def test_clip_counts_clips_within_tolerance_of_the_landmark(tmp_path):
    runtime = make_runtime(tmp_path, CLIP)
    mark = np.array([0.010, 0.025, 0.001])
    far = Event(0.0, "clip", instrument="clipper", position_m=tuple(mark + [0.0035, 0, 0]))
    near = Event(0.0, "clip", instrument="clipper", position_m=tuple(mark + [0, 0.0025, 0]))
    by_grasper = Event(0.0, "clip", instrument="grasper", position_m=tuple(mark))
    assert completions(tick(runtime, 1, events=[far, by_grasper])) == []
    assert completions(tick(runtime, 2, events=[near])) == []
    assert completions(tick(runtime, 3, events=[near])) == [("only", "clipper")]


def test_clip_follows_the_landmark_as_the_tissue_moves(tmp_path):
    runtime = make_runtime(tmp_path, CLIP.replace("count: 2", "count: 1"))
    shifted = runtime.scene.model.positions + [0.02, 0.0, 0.0]
    at_rest_mark = Event(0.0, "clip", instrument="clipper", position_m=(0.010, 0.025, 0.001))
    assert completions(tick(runtime, 1, positions=shifted, events=[at_rest_mark])) == []
    at_moved_mark = Event(0.0, "clip", instrument="clipper", position_m=(0.030, 0.025, 0.001))
    assert completions(tick(runtime, 2, positions=shifted, events=[at_moved_mark])) == [("only", "clipper")]


def test_a_palpation_probe_is_a_procedure_instrument_that_can_touch(tmp_path):
    path = tmp_path / "probe.yaml"
    text = PROCEDURE.replace("GOAL", "{kind: touch, region: corner, instrument: palpator}")
    text = text.replace("\nsteps:", "\n  - {name: palpator, type: probe, port_mm: [0, 100, 100], hand: right}\nsteps:")
    path.write_text(text)
    procedure = load_procedure(path)
    runtime = ProcedureRuntime(procedure.spec, build_scene(procedure))
    views = {name: parked() for name in INSTRUMENTS}
    views["palpator"] = parked((0.0025, 0.0025, 0.0048), force_n=[0.0, 0.0, 0.2])
    view = TickView(tick=1, time_s=DT_S, dt_s=DT_S, positions=runtime.scene.model.positions, instruments=views,
                    events=())
    assert completions(runtime.update(view)) == [("only", "palpator")]


def test_over_indentation_is_an_episode_while_the_tip_presses_the_region_in_too_deep(tmp_path):
    runtime = make_runtime(tmp_path, "{kind: touch, region: middle, instrument: hook, max_depth_mm: 3}")
    middle = runtime.scene.regions["middle"].nodes
    centre = runtime.scene.model.positions[middle].mean(axis=0)

    def pressed(depth_mm: float) -> np.ndarray:
        positions = runtime.scene.model.positions.copy()
        positions[middle, 2] -= depth_mm * MM
        return positions

    def probe(depth_mm: float, force_n: float) -> InstrumentView:
        return parked(tuple(centre - [0.0, 0.0, depth_mm * MM]), force_n=[0.0, 0.0, force_n])

    def kinds(events):
        return [(e.kind, round(e.detail.get("depth_mm", e.detail.get("peak_mm", 0.0)), 6)) for e in events
                if e.kind.startswith("over_indentation")]

    assert kinds(tick(runtime, 1)) == []  # the first tick is the reference: the tissue at rest
    assert kinds(tick(runtime, 2, hook=probe(3.0, 0.5), positions=pressed(3.0))) == []  # at the maximum
    assert kinds(tick(runtime, 3, hook=probe(5.0, 0.02), positions=pressed(5.0))) == []  # not pressing: not its doing
    assert kinds(tick(runtime, 4, hook=probe(5.0, 0.5), positions=pressed(5.0))) == [("over_indentation", 5.0)]
    assert kinds(tick(runtime, 5, hook=probe(7.0, 0.8), positions=pressed(7.0))) == []
    assert kinds(tick(runtime, 6, hook=probe(2.0, 0.3), positions=pressed(2.0))) == [("over_indentation_end", 7.0)]
