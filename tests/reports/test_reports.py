"""`surgsim report`: each kind of report is one self-contained HTML file whose figures exist and show something;
the cohort statistics against values worked out by hand; bad input exits 2 and writes nothing."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from reports import fake_attempt

from surgsim.cli import main
from surgsim.history import open_history
from surgsim.reports.kinds import roc_points, separation

EMBEDDED_PNG = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def embedded_figures(html: str) -> list[np.ndarray]:
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("L"))
            for data in EMBEDDED_PNG.findall(html)]


def assert_self_contained_with_figures(path: Path, figure_count: int) -> None:
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing to fetch
    images = embedded_figures(html)
    assert len(images) == figure_count
    for image in images:
        assert image.shape[0] > 100 and image.shape[1] > 100
        assert image.std() > 10  # drawn on, not a blank canvas
        assert (image < 128).mean() > 0.005  # some dark ink: axes, lines, text


def make_reports(tmp_path, cohort_traces) -> dict[str, Path]:
    """One report of each kind, written through the CLI."""
    procedure, experts, novices = cohort_traces
    outputs = {kind: tmp_path / "out" / f"{kind}.html" for kind in ("session", "trainee", "cohort")}
    assert main(["report", "session", str(experts[0]), "-o", str(outputs["session"]), "--png",
                 str(tmp_path / "png")]) == 0
    assert main(["history", "add", *map(str, novices + experts), "--trainee", "alice"]) == 0
    assert main(["report", "trainee", "alice", "-o", str(outputs["trainee"])]) == 0
    assert main(["report", "cohort", str(procedure), "--experts", *map(str, experts), "--novices",
                 *map(str, novices), "-o", str(outputs["cohort"]), "--png", str(tmp_path / "png")]) == 0
    return outputs


def test_each_report_is_self_contained_with_nonempty_figures(surgsim_home, tmp_path, cohort_traces):
    outputs = make_reports(tmp_path, cohort_traces)
    assert_self_contained_with_figures(outputs["session"], 2)  # force over time, tip paths
    assert_self_contained_with_figures(outputs["trainee"], 3)  # learning curve, metrics, CUSUM charts
    assert_self_contained_with_figures(outputs["cohort"], 2)  # distributions, ROC
    session = outputs["session"].read_text()
    assert "grasp_gauze" in session and "cut_circle" in session and "pass" in session
    trainee = outputs["trainee"].read_text()
    assert "LC-CUSUM" in trainee and "box_trainer" in trainee
    # Only the 20 s expert session meets every benchmark (time_s's expert is 20 s): not two in a row.
    assert "Not yet proficient" in trainee and "<td>6/6</td>" in trainee and trainee.count("<td>5/6</td>") == 3
    cohort = outputs["cohort"].read_text()
    assert "Mann–Whitney U" in cohort and "AUC" in cohort
    pngs = sorted(path.name for path in (tmp_path / "png").iterdir())
    assert pngs == ["distributions.png", "force.png", "roc.png", "tip_paths.png"]


def test_separation_statistics_by_hand():
    # time (lower is better): every expert is faster than every novice. U (expert value higher) = 0 of 4 x 2 pairs;
    # the exact two-sided p for complete separation of 4 and 2 is 2 / C(6, 2) = 2 / 15.
    result = separation("time_s", [20.0, 22.0, 24.0, 26.0], [30.0, 40.0], lower_is_better=True)
    assert result.u == 0.0 and result.p_value == pytest.approx(2 / 15)
    assert result.p_expert_better == 1.0 and result.rank_biserial == 1.0
    # pairs (expert, novice): (90, 70) and (90, 80) expert better, (70, 70) a tie, (70, 80) novice better
    mixed = separation("score", [90.0, 70.0], [70.0, 80.0], lower_is_better=False)
    assert mixed.u == 2.5 and mixed.p_expert_better == pytest.approx(2.5 / 4)
    assert mixed.rank_biserial == pytest.approx(2 * mixed.p_expert_better - 1)


def test_roc_points_sweep_every_score():
    fpr, tpr = roc_points([90.0, 80.0], [85.0, 50.0])
    # pass mark at 90: 1/2 experts pass, no novice; 85: 1/2 and 1/2; 80: 2/2 and 1/2; 50: everyone
    assert list(zip(fpr, tpr)) == [(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]


def test_trainee_report_marks_proficiency_from_the_history(surgsim_home, tmp_path):
    plan = [(40.0, False, 90.0, 0.5), (90.0, True, 19.0, 0.75), (95.0, True, 18.0, 0.8)]
    with open_history() as history:
        history.add_all([fake_attempt("bob", n, score=s, passed=p, time_s=t, economy=e)
                         for n, (s, p, t, e) in enumerate(plan)])
    out = tmp_path / "bob.html"
    assert main(["report", "trainee", "bob", "--consecutive", "2", "-o", str(out)]) == 0
    assert "reached at attempt 3" in out.read_text()


def test_bad_input_exits_2_and_writes_nothing(surgsim_home, tmp_path, cohort_traces, capsys):
    procedure, experts, novices = cohort_traces
    assert main(["report", "trainee", "nobody", "-o", str(tmp_path / "x.html")]) == 2
    assert "no recorded attempts" in capsys.readouterr().err
    assert main(["report", "session", str(experts[0]), "-o", str(tmp_path / "x.pdf")]) == 2
    bad_rubric = tmp_path / "bad.rubric.yaml"
    bad_rubric.write_text("rubric:\n  metrics: {time_s: {weight: 1, expert: 5, zero_at: 5}}\n  pass_thresholds: "
                          "{min_score: 50}\n")
    assert main(["report", "cohort", str(procedure), "--experts", str(experts[0]), "--novices", str(novices[0]),
                 "--rubric", str(bad_rubric), "-o", str(tmp_path / "x.html")]) == 2
    assert "bad.rubric.yaml" in capsys.readouterr().err
    assert main(["report", "session", str(experts[0]), "--snapshot", str(bad_rubric), "-o",
                 str(tmp_path / "x.html")]) == 2
    assert not list(tmp_path.glob("x.*"))


@pytest.mark.slow
def test_session_report_with_replay_verifies_and_draws_the_last_frame(tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    trace = Path(__file__).parents[2] / "procedures" / "traces" / "liver_retraction.expert.jsonl"
    out = tmp_path / "verified.html"
    command = [sys.executable, "-m", "surgsim", "report", "session", str(trace), "--replay", "-o", str(out)]
    if shutil.which("xvfb-run") and not os.environ.get("DISPLAY"):
        command = ["xvfb-run", "-a", *command]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    subprocess.run(command, check=True, env=env, capture_output=True, timeout=900)
    html = out.read_text()
    assert "The replay reproduces the recording" in html  # bit for bit, or within tolerance on another CPU
    if shutil.which("xvfb-run") or os.environ.get("DISPLAY"):
        assert_self_contained_with_figures(out, 3)  # force, tip paths, the last frame


def test_cohort_report_from_history_groups(surgsim_home, tmp_path, cohort_traces, capsys):
    procedure, experts, novices = cohort_traces
    assert main(["history", "add", *map(str, experts[:2]), "--trainee", "prof_a"]) == 0
    assert main(["history", "add", *map(str, experts[2:]), "--trainee", "prof_b"]) == 0
    assert main(["history", "add", *map(str, novices), "--trainee", "resident"]) == 0
    for trainee, group in (("prof_a", "faculty"), ("prof_b", "faculty"), ("resident", "PGY-1")):
        assert main(["history", "cohort", trainee, group]) == 0
    from_groups, from_traces = tmp_path / "groups.html", tmp_path / "traces.html"
    assert main(["report", "cohort", str(procedure), "--expert-group", "faculty", "--novice-group", "PGY-1", "-o",
                 str(from_groups)]) == 0
    assert main(["report", "cohort", str(procedure), "--experts", *map(str, experts), "--novices",
                 *map(str, novices), "-o", str(from_traces)]) == 0

    def separation_table(path):
        html = path.read_text()
        return html[html.index("Expert vs novice separation"):html.index("Distributions")]

    assert separation_table(from_groups) == separation_table(from_traces)  # the same sessions, the same statistics
    assert main(["report", "cohort", str(procedure), "--expert-group", "nobody", "--novices", str(novices[0]),
                 "-o", str(tmp_path / "x.html")]) == 2
    assert "history group 'nobody'" in capsys.readouterr().err


def test_png_into_a_file_is_an_input_error(tmp_path, cohort_traces, capsys):
    _, experts, _ = cohort_traces
    blocker = tmp_path / "figures"
    blocker.write_text("not a folder\n")
    assert main(["report", "session", str(experts[0]), "-o", str(tmp_path / "s.html"), "--png", str(blocker)]) == 2
    assert blocker.read_text() == "not a folder\n" and not (tmp_path / "s.html").exists()
