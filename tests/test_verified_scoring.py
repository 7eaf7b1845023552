"""Verified scoring: `surgsim score` re-simulates the trainee's commands and refuses recorded outcomes they do not
produce; rescoring after a rubric edit; refusal after a physics edit; forged traces never exit 0.

One short real session (0.7 s on the gauze, with a spot in the circle's middle made a forbidden zone so that the grasper's touch
is a forbidden contact) is recorded once; each test forges a copy of it and scores it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from surgsim.cli import main
from surgsim.events import Event
from surgsim.procedure import load_procedure
from surgsim.procedure.identity import ProcedureIdentity
from surgsim.reproduction import compare_outcomes
from surgsim.trace import read_trace

ROOT = Path(__file__).resolve().parents[1]


def _procedure_text() -> str:
    text = (ROOT / "procedures" / "pattern_cutting.yaml").read_text()
    text = text.replace("name: pattern_cutting", "name: verify_check")
    # A lenient pass mark, so that a forged completion alone would pass this short session unverified.
    text = re.sub(r"min_score: [0-9.]+", "min_score: 50", text)
    marked = "    inside_circle: {kind: sphere, organ: gauze, center_mm: [0, 0, 1], radius_mm: 15}\n"
    assert marked in text
    text = text.replace(marked, marked + "    centre_spot: {kind: sphere, organ: gauze, center_mm: [0, 0, 1], radius_mm: 8}\n")
    return text.replace("\nrubric:", "\nforbidden:\n  - region: centre_spot\n\nrubric:")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, taichi_cpu):
    """A 0.7 s scripted session: the grasper comes down on the middle of the gauze (a forbidden spot here) and
    closes on it; the first step completes."""
    from surgsim.script import run_script
    from surgsim.session import Session

    folder = tmp_path_factory.mktemp("verified")
    procedure = folder / "verify_check.yaml"
    procedure.write_text(_procedure_text())
    path = folder / "session.jsonl"

    def script(ctl):
        arm = ctl.arms["left_grasper"]
        target = ctl.positions()[ctl.session.scene.regions["inside_circle"].nodes].mean(axis=0)
        approach = target + 0.02 * (arm.trocar.pivot - target) / np.linalg.norm(arm.trocar.pivot - target)
        arm.set_point(approach)
        yield from ctl.wait(0.35)
        yield from ctl.move("left_grasper", target, speed=0.2)
        yield from ctl.close("left_grasper", seconds=0.1)

    with Session(procedure, arch=taichi_cpu, trace_path=path) as session:
        run_script(session, script)
    return path


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n" for r in records))
    return path


def _forged(recorded: Path, name: str, change) -> Path:
    """A copy of ``recorded`` next to it (so that its procedure is found), its records changed by ``change``."""
    records = _records(recorded)
    return _write(recorded.parent / name, change(records))


def _score(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(["score", *argv])
    captured = capsys.readouterr()
    return code, captured.out, " ".join(captured.err.split())


def test_the_session_has_what_the_forgeries_need(recorded):
    trace = read_trace(recorded)
    kinds = [event.kind for event in trace.events]
    assert "forbidden_contact" in kinds and "step_complete" in kinds
    assert any(max(s.instruments["left_grasper"].tick_forces_n) > 0.05 for s in trace.samples)
    assert all(len(s.instruments["left_grasper"].tick_forces_n) == 10 for s in trace.samples)
    assert trace.header.has_part_hashes


def test_a_genuine_trace_is_verified_and_scored_from_the_resimulation(recorded, tmp_path, capsys):
    out = tmp_path / "score.json"
    code, printed, err = _score([str(recorded), "--json", str(out)], capsys)
    assert code == 1, err  # it never cuts: a fail, but a verified one
    report = json.loads(out.read_text())
    identity = ProcedureIdentity.of(load_procedure(recorded.parent / "verify_check.yaml").spec)
    assert report["verified"] is True and "Verified" in printed
    assert report["procedure"]["name"] == "verify_check" and report["procedure"]["path"] == "verify_check.yaml"
    assert report["procedure"]["physics_sha256"] == identity.physics_sha256
    assert report["procedure"]["rubric_sha256"] == identity.rubric_sha256 and not report["procedure"]["rescored"]
    assert report["metrics"]["forbidden_contacts"] == 1
    again = tmp_path / "again.json"
    main(["score", str(recorded), "--json", str(again)])
    assert again.read_bytes() == out.read_bytes()


def test_no_verify_scores_the_recorded_outcome_and_says_so(recorded, tmp_path, capsys):
    out = tmp_path / "score.json"
    code, printed, _ = _score([str(recorded), "--no-verify", "--json", str(out)], capsys)
    assert code == 1 and json.loads(out.read_text())["verified"] is False and "Not verified" in printed


def test_forgery_an_added_completion_event_is_refused(recorded, capsys):
    def add_completion(records):
        end = records[-1]
        event = {"type": "event", "kind": "step_complete", "detail": {"step": "cut_circle"},
                 "time_s": end["tick"] * 0.001}
        return records[:-1] + [event, end]

    forged = _forged(recorded, "added_completion.jsonl", add_completion)
    assert main(["score", str(forged), "--no-verify"]) == 0  # what the recorded outcome alone would say
    capsys.readouterr()
    code, _, err = _score([str(forged)], capsys)
    end_s = _records(recorded)[-1]["tick"] * 0.001
    assert code == 2
    assert (f"the trace records step 'cut_circle' complete at {end_s:.2f} s; the re-simulation never completes it"
            in err), err
    assert "Traceback" not in err


def test_forgery_a_deleted_forbidden_contact_is_refused(recorded, capsys):
    deleted = [r for r in _records(recorded) if r.get("kind") == "forbidden_contact"][0]
    forged = _forged(recorded, "deleted_contact.jsonl",
                     lambda records: [r for r in records if r.get("kind") != "forbidden_contact"])
    code, _, err = _score([str(forged)], capsys)
    assert code == 2
    assert (f"the re-simulation has a forbidden-zone contact with centre spot by the left grasper at "
            f"{deleted['time_s']:.2f} s, which the trace does not record") in err, err


def test_forgery_scaled_forces_are_refused_with_the_factor(recorded, capsys):
    def scale(records):
        for record in records:
            if record["type"] == "sample":
                for sample in record["instruments"].values():
                    sample["force_n"] = [0.1 * f for f in sample["force_n"]]
                    sample["tick_forces_n"] = [0.1 * f for f in sample["tick_forces_n"]]
        return records

    first = next(r for r in _records(recorded) if r["type"] == "sample"
                 and any(np.linalg.norm(s["force_n"]) > 1e-6 for s in r["instruments"].values()))
    code, _, err = _score([str(_forged(recorded, "scaled.jsonl", scale))], capsys)
    assert code == 2
    assert f"recorded forces are 10× lower than the re-simulated ones from {first['tick'] * 0.001:.2f} s" in err, err


def test_forgery_deleted_contact_samples_are_refused(recorded, capsys):
    def in_contact(record):
        return record["type"] == "sample" and max(record["instruments"]["left_grasper"]["tick_forces_n"]) > 0.05

    deleted = [r for r in _records(recorded) if in_contact(r)]
    forged = _forged(recorded, "deleted_samples.jsonl", lambda records: [r for r in records if not in_contact(r)])
    code, _, err = _score([str(forged)], capsys)
    assert code == 2
    assert (f"the trace lacks {len(deleted)} of the re-simulation's instrument samples from "
            f"{deleted[0]['tick'] * 0.001:.2f} s on") in err, err


def test_forgery_a_deleted_tear_is_found_by_the_comparison(recorded):
    """The session tears nothing; a tear in the re-simulation that a trace left out is found like any event."""
    trace = read_trace(recorded)
    tear = Event(0.5, "tear", instrument="left_grasper", region="gauze", force_n=2.0, position_m=(0.0, 0.0, 0.0),
                 detail={"springs": 3})
    resimulated = dataclasses.replace(trace, events=tuple(sorted(trace.events + (tear,), key=lambda e: e.time_s)))
    comparison = compare_outcomes(trace, resimulated)
    assert not comparison.reproduces
    assert comparison.discrepancies == [
        "the re-simulation has a tear of gauze by the left grasper at 0.50 s, which the trace does not record"]


def test_event_times_may_differ_by_one_tick_and_no_more(recorded):
    trace = read_trace(recorded)
    grasp = next(e for e in trace.events if e.kind == "grasp")

    def shifted(ticks: int):
        events = tuple(dataclasses.replace(e, time_s=e.time_s + ticks * 0.001) if e is grasp else e
                       for e in trace.events)
        return dataclasses.replace(trace, events=events)

    within = compare_outcomes(shifted(1), trace)
    assert within.reproduces and within.deviations["event time"].largest == pytest.approx(0.001)
    assert not compare_outcomes(shifted(2), trace).reproduces


def _rewrite_header(records: list[dict], procedure: Path, written: str) -> list[dict]:
    identity = ProcedureIdentity.of(load_procedure(procedure).spec)
    records[0].update(procedure=written, procedure_sha256=hashlib.sha256(procedure.read_bytes()).hexdigest(),
                      procedure_physics_sha256=identity.physics_sha256,
                      procedure_physics_sections=identity.physics_sections,
                      procedure_rubric_sha256=identity.rubric_sha256)
    return records


def _relaxed(text: str) -> str:
    text = re.sub(r"min_score: [0-9.]+", "min_score: 0", text)
    return text.replace("min_goals_completed: 2", "min_goals_completed: 0")


def test_forgery_a_relaxed_rubric_copy_with_a_rewritten_header_is_refused(tmp_path, capsys):
    """The shipped novice, pointed at a copy of its procedure with a relaxed rubric and a header to match."""
    copy = tmp_path / "mine" / "liver_retraction.yaml"
    copy.parent.mkdir()
    library = ROOT / "procedures" / "liver_retraction.yaml"
    assets = Path(os.path.relpath(ROOT / "assets", copy.parent)).as_posix()  # the shipped assets, from the copy
    copy.write_text(_relaxed(library.read_text()).replace("../assets", assets))
    novice = ROOT / "procedures" / "traces" / "liver_retraction.novice.jsonl"
    forged = _write(copy.parent / "novice.jsonl",
                    _rewrite_header(_records(novice), copy, "liver_retraction.yaml"))
    for argv in ([str(forged)], [str(forged), "--no-verify"]):
        code, _, err = _score(argv, capsys)
        assert code == 2, argv
        assert "a copy of the library's 'liver_retraction'" in err and "with another rubric" in err, err


def _renamed_copy(tmp_path: Path, edit=lambda text: text) -> Path:
    """The shipped novice, pointed at a renamed copy of its procedure with a relaxed rubric and a header to match."""
    copy = tmp_path / "mine" / "my_retraction.yaml"
    copy.parent.mkdir()
    library = ROOT / "procedures" / "liver_retraction.yaml"
    assets = Path(os.path.relpath(ROOT / "assets", copy.parent)).as_posix()
    copy.write_text(edit(_relaxed(library.read_text()).replace("../assets", assets)
                         .replace("name: liver_retraction", "name: my_retraction")))
    novice = ROOT / "procedures" / "traces" / "liver_retraction.novice.jsonl"
    return _write(copy.parent / "novice.jsonl", _rewrite_header(_records(novice), copy, "my_retraction.yaml"))


def test_forgery_a_renamed_copy_with_a_relaxed_rubric_is_refused_by_its_physics(tmp_path, capsys):
    forged = _renamed_copy(tmp_path)
    for argv in ([str(forged)], [str(forged), "--no-verify"]):
        code, _, err = _score(argv, capsys)
        assert code == 2, argv
        assert "a copy of the library's 'liver_retraction'" in err and "with another rubric" in err, err


def test_forgery_a_renamed_copy_with_a_moved_camera_passes_only_as_another_procedure(tmp_path, capsys):
    """Physics that differ make another procedure (an instructor's variant looks the same): its pass is reported
    under its own name, as outside the library, never as the shipped procedure's."""
    forged = _renamed_copy(tmp_path, lambda text: text.replace("fov_deg: 70", "fov_deg: 71"))
    out = tmp_path / "score.json"
    code, printed, _ = _score([str(forged), "--no-verify", "--json", str(out)], capsys)
    procedure = json.loads(out.read_text())["procedure"]
    assert code == 0 and procedure["name"] == "my_retraction" and procedure["in_library"] is False
    assert procedure["path"] == "my_retraction.yaml"
    assert ("The procedure my_retraction.yaml is not one of the library's (procedures/): this is a score under its "
            "rubric, not under a shipped procedure's.") in " ".join(printed.split())


def test_a_procedure_outside_the_library_is_named_as_such(recorded, tmp_path, capsys):
    """verify_check is no library procedure (it lives beside its trace): its score says so, in the terminal and JSON."""
    out = tmp_path / "score.json"
    _, printed, _ = _score([str(recorded), "--no-verify", "--json", str(out)], capsys)
    assert json.loads(out.read_text())["procedure"]["in_library"] is False
    assert "is not one of the library's (procedures/): this is a score under its rubric" in " ".join(printed.split())


def test_an_edited_rubric_is_rescored_and_named(recorded, tmp_path, capsys):
    edited = tmp_path / "edited.yaml"
    edited.write_text(_relaxed(_procedure_text()))
    out = tmp_path / "rescored.json"
    code, printed, _ = _score([str(recorded), "--procedure", str(edited), "--json", str(out)], capsys)
    report = json.loads(out.read_text())
    recorded_rubric = read_trace(recorded).header.procedure_rubric_sha256
    assert code == 0 and report["procedure"]["rescored"] is True and report["verified"] is True
    assert report["procedure"]["recorded_rubric_sha256"] == recorded_rubric
    assert report["procedure"]["rubric_sha256"] == ProcedureIdentity.of(load_procedure(edited).spec).rubric_sha256
    assert report["procedure"]["rubric_sha256"] != recorded_rubric
    assert "Rescored against the procedure's current rubric" in " ".join(printed.split())


@pytest.mark.parametrize(("edit", "section"), [
    (lambda text: text.replace("radius_mm: 8}", "radius_mm: 9}"), "scene"),
    (lambda text: text.replace("tolerance_mm: 2.0", "tolerance_mm: 3.0"), "steps"),
    (lambda text: text.replace("force_limit_N: 3.0", "force_limit_N: 2.0"), "limits"),
])
def test_an_edited_physics_section_is_refused_and_named(recorded, tmp_path, capsys, edit, section):
    edited = tmp_path / "edited.yaml"
    edited.write_text(edit(_procedure_text()))
    code, _, err = _score([str(recorded), "--procedure", str(edited)], capsys)
    assert code == 2 and f"(section {section} of the procedure)" in err and "Traceback" not in err, err


def test_a_truncated_trace_is_verified_and_scored_to_its_last_record(recorded, tmp_path, capsys):
    lines = recorded.read_bytes().splitlines(keepends=True)
    cut = recorded.parent / "cut.jsonl"
    cut.write_bytes(b"".join(lines[: len(lines) * 2 // 3]) + lines[len(lines) * 2 // 3][:15])
    out = tmp_path / "cut.json"
    code, printed, err = _score([str(cut), "--json", str(out)], capsys)
    report = json.loads(out.read_text())
    assert code == 1 and report["truncated"] is True and report["verified"] is True
    assert "was cut short (no end record); verified and scored up to its last record" in err
    last_tick = read_trace(cut).samples[-1].tick
    assert report["metrics"]["time_s"] == pytest.approx(last_tick * 0.001, abs=0.011)


def test_an_unresimulatable_trace_exits_2_with_one_paragraph(recorded, capsys):
    def unknown_instrument(records):
        command = next(r for r in records if r["type"] == "command")
        return [{**r, "instrument": "third_hand"} if r is command else r for r in records]

    forged = _forged(recorded, "unknown_instrument.jsonl", unknown_instrument)
    code, _, err = _score([str(forged)], capsys)
    assert code == 2 and err.startswith("surgsim: error: ") and "Traceback" not in err
    assert "unknown_instrument.jsonl" in err


def test_every_procedure_key_is_physics_rubric_or_presentation():
    from surgsim.procedure import identity
    from surgsim.procedure.schema import Procedure

    parts = identity.PHYSICS_KEYS + identity.RUBRIC_KEYS + identity.PRESENTATION_KEYS
    assert sorted(parts) == sorted(Procedure.model_fields) and len(set(parts)) == len(parts)


def test_a_metric_surgsim_learnt_later_leaves_the_rubric_hash_alone_until_a_rubric_uses_it():
    """Adding torn_area_mm2 to surgsim did not make the sessions recorded before it 'rescored'; a rubric that
    weighs it is another rubric."""
    from surgsim.procedure.identity import LATER_RUBRIC_METRICS
    from surgsim.procedure.schema import Procedure

    spec = load_procedure(ROOT / "procedures" / "pattern_cutting.yaml").spec
    recorded = read_trace(ROOT / "procedures" / "traces" / "pattern_cutting.expert.jsonl").header
    assert ProcedureIdentity.of(spec).rubric_sha256 == recorded.procedure_rubric_sha256
    data = spec.model_dump(mode="json")
    for metric in LATER_RUBRIC_METRICS:
        data["rubric"]["metrics"][metric] = {"weight": 1, "expert": 0, "zero_at": 50}
        weighed = ProcedureIdentity.of(Procedure.model_validate(data))
        assert weighed.rubric_sha256 != recorded.procedure_rubric_sha256
        assert weighed.physics_sha256 == recorded.procedure_physics_sha256
        del data["rubric"]["metrics"][metric]


@pytest.mark.parametrize("tolerances", [(1e-6, 1e-6), (1e-6, 0.0)])
def test_the_tolerance_check_of_float_lists_agrees_with_numpy(tolerances):
    """Samples' vectors are compared without NumPy (its per-call overhead was a third of a second a long trace); the
    largest deviation and the verdict are NumPy's, NaN and infinities included."""
    from surgsim.reproduction import _excess

    def numpy_excess(recorded, replayed, atol, rtol):
        a, b = np.asarray(recorded, dtype=np.float64), np.asarray(replayed, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            difference = np.abs(a - b)
            return float(difference.max(initial=0.0)), bool(np.all(difference <= atol + rtol * np.abs(b)))

    rng = np.random.default_rng(3)
    specials = [0.0, -0.0, 1e-7, 2e-6, 1.0, 3.5, np.nan, np.inf, -np.inf]
    for _ in range(3000):
        size = int(rng.integers(0, 5))
        recorded = [float(rng.choice(specials)) if rng.random() < 0.3 else float(rng.normal()) for _ in range(size)]
        replayed = [value + float(rng.choice([0.0, 5e-7, 3e-6, np.nan])) if rng.random() < 0.7
                    else float(rng.choice(specials)) for value in recorded]
        for ours, theirs in ((recorded, replayed), (recorded[:1], replayed[:1])):
            expected = numpy_excess(ours, theirs, *tolerances)
            got = _excess(ours, theirs, *tolerances)
            if len(ours) == 1:
                assert _excess(ours[0], theirs[0], *tolerances)[1] == expected[1]
            assert got[1] == expected[1], (ours, theirs)
            assert got[0] == expected[0] or (np.isnan(got[0]) and np.isnan(expected[0])), (ours, theirs)
