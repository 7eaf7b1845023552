"""ProcedureRuntime over synthetic ticks: steps in order, safety monitors' edges, determinism, the HUD, and a whole
scripted session that the scorer accepts."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from surgsim.events import Event
from surgsim.procedure import load_procedure
from surgsim.procedure.runtime import STEP_COMPLETE_CUE_S, InstrumentView, ProcedureRuntime, TickView
from surgsim.procedure.scene_builder import build_scene
from surgsim.scoring import score_session
from surgsim.trace import InstrumentSample, TraceHeader, TraceWriter, read_trace

MM = 1e-3
DT_S = 0.01
# A 50 × 50 × 2 mm sheet (nodes every 5 mm) anchored along x = 0; a marked vessel 10 mm in front of it (y = -10 mm)
# that must not be touched, and its far edge (x >= 44 mm) that must not be pressed harder than 2 N.
PROCEDURE = textwrap.dedent("""\
    format_version: 1
    name: runtime
    title: Runtime checks
    time_limit_s: 30
    force_limit_N: 3.0
    scene:
      organs:
        - name: sheet
          source: {kind: block, size_mm: [50, 50, 2], divisions: [10, 10, 1]}
          material: skin
          anchors: [edge]
      regions:
        edge: {kind: box, organ: sheet, min_mm: [-1, -1, -1], max_mm: [1, 51, 3]}
        middle: {kind: sphere, organ: sheet, center_mm: [25, 25, 1], radius_mm: 6}
        far_edge: {kind: box, organ: sheet, min_mm: [44, -1, -1], max_mm: [51, 51, 3]}
        vessel: {kind: capsule, from_mm: [0, -10, 1], to_mm: [50, -10, 1], radius_mm: 2}
      landmarks:
        a: {organ: sheet, position_mm: [10, 25, 1]}
        b: {organ: sheet, position_mm: [40, 25, 1]}
      camera: {port_mm: [0, -100, 100], look_at_mm: [25, 25, 0]}
    instruments:
      - {name: grasper, type: grasper, port_mm: [-50, -80, 100], hand: left}
      - {name: scissors, type: scissors, port_mm: [100, -80, 100], hand: right}
      - {name: clipper, type: clip_applier, port_mm: [100, 0, 100], hand: right}
    steps:
      - name: grasp_middle
        instructions: Grasp the middle of the sheet.
        goal: {kind: grasp, region: middle}
        time_limit_s: 1
      - name: clip_a
        instructions: Clip at mark a.
        goal: {kind: clip, landmark: a}
      - name: divide
        instructions: Cut from a to b.
        goal:
          kind: cut
          line: {kind: landmarks, from_landmark: a, to_landmark: b}
    forbidden:
      - region: vessel
      - region: far_edge
        max_force_N: 2.0
    rubric:
      metrics:
        time_s: {weight: 1, expert: 1, zero_at: 30}
        forbidden_contacts: {weight: 1, expert: 0, zero_at: 2}
        goals_completed_fraction: {weight: 1, expert: 1, zero_at: 0}
      pass_thresholds: {min_score: 50}
    """)
INSTRUMENTS = ("grasper", "scissors", "clipper")
PARKED_TIP_M = np.array([0.025, 0.025, 0.1])


@pytest.fixture
def procedure_file(tmp_path):
    path = tmp_path / "runtime.yaml"
    path.write_text(PROCEDURE)
    return load_procedure(path)


@pytest.fixture
def scene(procedure_file):
    return build_scene(procedure_file)


@pytest.fixture
def runtime(procedure_file, scene):
    return ProcedureRuntime(procedure_file.spec, scene)


def tool(tip_m=PARKED_TIP_M, *, force_n=0.0, **fields) -> InstrumentView:
    """A jaw capsule of 2 mm radius from ``tip_m`` 10 mm up, a shaft above it; ``force_n`` along +z."""
    tip = np.asarray(tip_m, dtype=float)
    capsules = ((tip, tip + [0, 0, 0.01], 0.002), (tip + [0, 0, 0.01], tip + [0, 0, 0.3], 0.003))
    return InstrumentView(tip_m=tip, capsules=capsules, force_n=(0.0, 0.0, force_n), **fields)


def view(scene, number: int, *, events=(), **instruments) -> TickView:
    return TickView(
        tick=number, time_s=number * DT_S, dt_s=DT_S, positions=scene.model.positions,
        instruments={name: instruments.get(name, tool()) for name in INSTRUMENTS}, events=tuple(events),
    )


def kinds(events: list[Event]) -> list[str]:
    return [event.kind for event in events]


ON_VESSEL = (0.025, -0.012, 0.0)  # the jaw's capsule reaches the vessel zone's capsule at y = -10 mm
ON_FAR_EDGE = (0.047, 0.025, 0.0045)  # 2.5 mm above the sheet's top: touching within 1 mm of the 2 mm jaw
ON_LINE = [Event(0.0, "cut", instrument="scissors", position_m=(x * MM, 0.025, 0.001)) for x in range(12, 41, 4)]


def scripted_views(scene, ticks: int = 150) -> list[TickView]:
    """A whole session: a touch of the vessel at 0.30-0.35 s, the grasp at 0.60 s, 4 N on the grasper over 0.80-0.90 s,
    the clip at 1.00 s, seven cuts along a-b from 1.20 s (the 7th, at 1.26 s, covers 90 %)."""
    middle = scene.regions["middle"].nodes
    views = []
    for number in range(1, ticks + 1):
        instruments, events = {}, []
        if 30 <= number <= 35:
            instruments["scissors"] = tool(ON_VESSEL)
        if number >= 60:
            grasper_force = 4.0 if 80 <= number <= 90 else 0.5
            instruments["grasper"] = tool((0.025, 0.025, 0.003), force_n=grasper_force, grasped_nodes=middle)
        if number == 100:
            events.append(Event(number * DT_S, "clip", instrument="clipper", position_m=(0.0101, 0.025, 0.001)))
        if 120 <= number < 127:
            cut = ON_LINE[number - 120]
            events.append(Event(number * DT_S, "cut", instrument="scissors", position_m=cut.position_m))
        views.append(view(scene, number, events=events, **instruments))
    return views


# -- steps -----------------------------------------------------------------------------------------------------------
def test_steps_complete_in_order_and_only_count_while_active(runtime, scene):
    middle = scene.regions["middle"].nodes
    clip = Event(0.0, "clip", instrument="clipper", position_m=(0.010, 0.025, 0.001))
    assert runtime.current_step.name == "grasp_middle"
    assert kinds(runtime.update(view(scene, 1, events=[clip]))) == []  # clipping is not the active step yet
    # The grasp completes; a clip in the same tick belongs to the grasp step, so the clip step is still open.
    completed = runtime.update(view(scene, 2, events=[clip], grasper=tool(grasped_nodes=middle)))
    assert [(e.kind, e.detail, e.instrument, e.time_s) for e in completed] == [
        ("step_complete", {"step": "grasp_middle"}, "grasper", 0.02)
    ]
    assert runtime.current_step.name == "clip_a" and runtime.step_elapsed_s == 0.0
    assert kinds(runtime.update(view(scene, 3, grasper=tool(grasped_nodes=middle)))) == []
    assert [e.detail["step"] for e in runtime.update(view(scene, 4, events=[clip]))] == ["clip_a"]
    steps = []
    for number, cut in enumerate(ON_LINE, start=5):
        steps += [e.detail["step"] for e in runtime.update(view(scene, number, events=[cut])) if e.detail]
        if steps:
            break
    assert steps == ["divide"] and number == 5 + 6  # the 7th cut
    assert runtime.finished and runtime.current_step is None
    assert runtime.update(view(scene, 20, events=[clip, *ON_LINE], grasper=tool(grasped_nodes=middle))) == []


def test_step_time_limit_is_reported_not_enforced(runtime, scene):
    runtime.update(view(scene, 100))  # 1.00 s: at the grasp step's 1 s limit, not over it
    assert not runtime.step_overdue
    assert kinds(runtime.update(view(scene, 101))) == []
    assert runtime.step_overdue and not runtime.time_up
    assert "This step is over its 1 s time limit" in runtime.hud_state().warnings
    runtime.update(view(scene, 102, grasper=tool(grasped_nodes=scene.regions["middle"].nodes)))
    assert runtime.current_step.name == "clip_a" and not runtime.step_overdue  # the clip step has no limit
    runtime.update(view(scene, 3000))
    assert runtime.time_up


# -- safety monitors -------------------------------------------------------------------------------------------------
def test_forbidden_contact_is_reported_on_each_rising_edge(runtime, scene):
    script = [ON_VESSEL, ON_VESSEL, ON_VESSEL, PARKED_TIP_M, ON_VESSEL, ON_VESSEL]
    reported = []
    for number, tip in enumerate(script, start=1):
        reported.append(runtime.update(view(scene, number, scissors=tool(tip, force_n=0.3))))
    assert [kinds(events) for events in reported] == [["forbidden_contact"], [], [], [], ["forbidden_contact"], []]
    first = reported[0][0]
    assert (first.instrument, first.region, first.time_s) == ("scissors", "vessel", 0.01)
    assert first.force_n == pytest.approx(0.3)
    np.testing.assert_allclose(first.position_m, (0.025, -0.010, 0.001), atol=2.5e-3)  # on the vessel zone


def test_a_force_limited_zone_is_violated_only_above_its_limit(runtime, scene):
    # Forces on the grasper at the far edge (limit 2 N): below, above, above, below, above; then above but elsewhere.
    script = [(ON_FAR_EDGE, 1.0), (ON_FAR_EDGE, 2.5), (ON_FAR_EDGE, 2.8), (ON_FAR_EDGE, 1.0), (ON_FAR_EDGE, 2.2),
              ((0.025, 0.025, 0.0045), 2.5)]
    reported = [
        runtime.update(view(scene, number, grasper=tool(tip, force_n=force)))
        for number, (tip, force) in enumerate(script, start=1)
    ]
    assert [kinds(events) for events in reported] == [[], ["forbidden_contact"], [], [], ["forbidden_contact"], []]
    assert [events[0].force_n for events in reported if events] == pytest.approx([2.5, 2.2])
    assert {events[0].region for events in reported if events} == {"far_edge"}


def test_force_limit_events_pair_up_per_instrument(runtime, scene):
    grasper_forces = [1.0, 3.5, 4.0, 2.0, 3.1, 3.1, 0.0]
    scissors_forces = [0.0, 0.0, 3.2, 3.2, 3.2, 1.0, 5.0]
    events = []
    for number, (grasper, scissors) in enumerate(zip(grasper_forces, scissors_forces), start=1):
        events += runtime.update(view(scene, number, grasper=tool(force_n=grasper), scissors=tool(force_n=scissors)))
    by_instrument = {}
    for event in events:
        by_instrument.setdefault(event.instrument, []).append((event.kind, event.time_s))
    assert by_instrument["grasper"] == [
        ("force_limit", 0.02), ("force_limit_end", 0.04), ("force_limit", 0.05), ("force_limit_end", 0.07)
    ]
    assert by_instrument["scissors"] == [("force_limit", 0.03), ("force_limit_end", 0.06), ("force_limit", 0.07)]
    assert runtime.force_limit.above == {"scissors": 5.0}  # still above at the end: its pair is not closed yet


# -- determinism, checks, HUD ----------------------------------------------------------------------------------------
def test_the_same_ticks_give_the_same_events(procedure_file, scene):
    runs = []
    for _ in range(2):
        runtime = ProcedureRuntime(procedure_file.spec, scene)
        runs.append([event.to_json() for tick_view in scripted_views(scene) for event in runtime.update(tick_view)])
    assert runs[0] == runs[1]
    assert [record["kind"] for record in runs[0]] == [
        "forbidden_contact", "step_complete", "force_limit", "force_limit_end", "step_complete", "step_complete"
    ]


def test_ticks_must_advance_and_name_every_instrument(runtime, scene):
    runtime.update(view(scene, 5))
    with pytest.raises(ValueError, match="tick 5 does not follow tick 5"):
        runtime.update(view(scene, 5))
    partial = TickView(6, 0.06, DT_S, scene.model.positions, {"grasper": tool()})
    with pytest.raises(ValueError, match="instruments"):
        runtime.update(partial)
    with pytest.raises(ValueError, match="positions"):
        runtime.update(TickView(7, 0.07, DT_S, scene.model.positions[:-1], view(scene, 7).instruments))


def test_hud_shows_the_step_warnings_and_the_completion_cue(runtime, scene):
    hud = runtime.hud_state(active_instrument="grasper")
    assert (hud.procedure_title, hud.step_title) == ("Runtime checks", "Step 1 of 3: Grasp middle")
    assert hud.step_instructions == "Grasp the middle of the sheet." and hud.active_instrument == "grasper"
    assert (hud.time_limit_s, hud.force_limit_n, hud.step_complete) == (30, 3.0, False)

    runtime.update(view(scene, 1, scissors=tool(ON_VESSEL, force_n=3.5)))
    hud = runtime.hud_state()
    assert hud.warnings == ("Scissors: 3.5 N, over the 3 N limit", "Scissors is touching Vessel")
    assert hud.forces_n == {"grasper": 0.0, "scissors": 3.5, "clipper": 0.0}

    runtime.update(view(scene, 2, grasper=tool(grasped_nodes=scene.regions["middle"].nodes)))
    hud = runtime.hud_state()
    assert hud.warnings == () and hud.step_complete and hud.step_complete_text == "Step complete: Grasp middle"
    assert hud.step_title == "Step 2 of 3: Clip a" and hud.elapsed_s == pytest.approx(0.02)
    cue_ticks = round(STEP_COMPLETE_CUE_S / DT_S)
    runtime.update(view(scene, 2 + cue_ticks - 5))
    assert runtime.hud_state().step_complete
    runtime.update(view(scene, 2 + cue_ticks + 5))
    assert not runtime.hud_state().step_complete


def test_hud_after_the_last_step(procedure_file, scene):
    runtime = ProcedureRuntime(procedure_file.spec, scene)
    for tick_view in scripted_views(scene, ticks=127):
        runtime.update(tick_view)
    hud = runtime.hud_state()
    assert runtime.finished and hud.step_title == "All steps complete" and hud.step_instructions == ""
    assert hud.step_complete and hud.step_complete_text == "Procedure complete"


# -- the scorer reads what the runtime writes ------------------------------------------------------------------------
def test_a_scripted_session_is_scored(tmp_path, procedure_file, scene):
    runtime = ProcedureRuntime(procedure_file.spec, scene)
    trace_path = tmp_path / "session.jsonl"
    header = TraceHeader.for_session(
        trace_path=trace_path, procedure_path=procedure_file.path, procedure_sha256=procedure_file.sha256,
        backend="cpu", dt_s=DT_S, seed=1,
    )
    completed = {}
    views = scripted_views(scene)
    with TraceWriter(trace_path, header) as trace:
        for tick_view in views:
            events = list(tick_view.events) + runtime.update(tick_view)
            for event in events:
                trace.write_event(event)
                if event.kind == "step_complete":
                    completed[event.detail["step"]] = event.time_s
            if tick_view.tick % 10 == 0:
                trace.write_sample(tick_view.tick, {
                    name: InstrumentSample(tip_m=list(instrument.tip_m), force_n=list(instrument.force_n),
                                           jaw=instrument.jaw, energy=instrument.energy)
                    for name, instrument in tick_view.instruments.items()
                })
        trace.write_end(views[-1].tick, "completed")

    report = score_session(procedure_file.spec, read_trace(trace_path))
    assert completed == pytest.approx({"grasp_middle": 0.60, "clip_a": 1.00, "divide": 1.26})
    assert report.metrics.goals_completed == 3 and report.metrics.goals_completed_fraction == 1.0
    assert [step.name for step in report.steps] == list(completed)
    assert [step.completed_at_s for step in report.steps] == pytest.approx(list(completed.values()))
    assert report.metrics.forbidden_contacts == 1 and report.metrics.tissue_damage == 0
    assert report.metrics.cut_deviation_mean_mm == pytest.approx(0.0)
    # 4 N over ticks 80-90: the samples at ticks 80 and 90 each stand for the 0.1 s before them.
    assert report.metrics.time_above_force_limit_s == pytest.approx(0.2)
