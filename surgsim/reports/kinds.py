"""The three reports: one session, one trainee (from the history), a cohort (expert vs novice sessions).

Cohort statistics. For each metric and for the score: the two-sided Mann–Whitney U test of experts against novices
(``scipy.stats.mannwhitneyu``, exact for small samples); the effect size as the probability that an expert does
better than a novice, P = U_better / (n_e·n_n) (ties count half; the common-language effect size, which is also the
ROC AUC), and the rank-biserial correlation r = 2P − 1 (Kerby 2014, "The simple difference formula", Compr Psychol
3:11.IT.3.1), positive when experts do better. The ROC curve of the score sweeps the pass mark over every observed
score; the procedure's pass mark (or the rubric file's) is marked on it with its sensitivity (experts passing) and
1 − specificity (novices passing).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from surgsim.errors import InputError
from surgsim.reports import figures
from surgsim.reports.page import Page, figure_html, image_html, paragraph, table_html, verdict_class


# -- one session -------------------------------------------------------------------------------------------------------
def session_page(trace_path: str, procedure_path: str | None = None, snapshot: str | None = None,
                 replay: bool = False, arch: str = "cpu") -> Page:
    from surgsim.scoring import load_session, score_session

    procedure, trace = load_session(trace_path, procedure_path)
    report = score_session(procedure.spec, trace)
    verdict = "pass" if report.passed else "fail"
    page = Page(
        title=f"{report.procedure_title}: session report",
        subtitle=f"{Path(trace_path).name} · recorded with surgsim {report.recorded_with} on {report.backend} · "
                 f"score {report.score:.1f} / 100 ({verdict})",
    )
    summary = page.section("Result")
    summary.parts.append(table_html(
        ["score", "result", "time (s)", "end", "truncated"],
        [[round(report.score, 1), verdict, round(report.metrics.time_s, 2), report.end_reason or "-",
          report.truncated]],
        {1: verdict_class},
    ))
    for failure in report.failures:
        summary.parts.append(paragraph(f"• {failure}", "fail"))

    rubric = {component.metric: component for component in report.components}
    rows = []
    for name, value in report.metrics.scalars().items():
        component = rubric.get(name)
        rows.append([name, value, component.expert if component else None, component.zero_at if component else None,
                     f"{100 * component.points:.0f}%" if component else None])
    page.section("Metrics").parts.append(table_html(["metric", "value", "expert", "zero at", "points"], rows))

    step_rows = [
        [step.name, step.goal, "yes" if step.completed else ("in progress" if step.started else "not reached"),
         step.metrics.time_s, step.metrics.path_length_mm, step.metrics.max_force_N, step.metrics.tissue_damage,
         step.metrics.forbidden_contacts]
        for step in report.steps
    ]
    page.section("Steps").parts.append(table_html(
        ["step", "goal", "done", "time (s)", "path (mm)", "max force (N)", "damage", "forbidden"], step_rows))

    instruments = tuple(instrument.name for instrument in procedure.spec.instruments)
    times = np.array([trace.time_s(sample.tick) for sample in trace.samples])
    forces = {name: np.array([np.linalg.norm(s.instruments[name].force_n) if name in s.instruments else np.nan
                              for s in trace.samples]) for name in instruments}
    tips = {name: np.array([s.instruments[name].tip_m for s in trace.samples if name in s.instruments]) * 1000.0
            for name in instruments}
    tips = {name: path for name, path in tips.items() if len(path)}
    completions = [(step.name, step.completed_at_s) for step in report.steps if step.completed]
    motion = page.section("Force and motion")
    motion.parts.append(figure_html(
        page, "force", figures.png_bytes(figures.force_over_time(times, forces, procedure.spec.force_limit_N,
                                                                 completions)),
        f"Tip force over time; dashed: the procedure's force limit ({procedure.spec.force_limit_N:g} N); dotted: "
        "step completions."))
    if tips:
        motion.parts.append(figure_html(page, "tip_paths", figures.png_bytes(figures.tip_paths(tips)),
                                        "Instrument tip paths in the patient frame (mm), three projections."))
    if replay:
        snapshot = _replay_section(page, trace_path, procedure_path, arch) or snapshot
    if snapshot:
        try:
            png = Path(snapshot).read_bytes()
        except OSError as error:
            raise InputError(snapshot, f"cannot read the snapshot: {error.strerror}.") from error
        if not png.startswith(b"\x89PNG"):
            raise InputError(snapshot, "the snapshot is not a PNG file (make one with `surgsim replay TRACE "
                                       "--snapshot PNG`).")
        page.figures["snapshot"] = png
        page.section("Last frame").parts.append(image_html(png, "The last frame of the session."))
    return page


def _replay_section(page: Page, trace_path: str, procedure_path: str | None, arch: str) -> str | None:
    """Re-simulate the session from its commands, say whether it reproduces the recording, and (with a display or
    Xvfb) draw its last frame; the snapshot's path, or None when no frame could be drawn."""
    import os
    import tempfile

    from surgsim.replay import replay_trace

    has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    viewer = None
    if has_display:
        from surgsim.render.viewer import make_viewer

        viewer = make_viewer("offscreen")
    scratch = Path(tempfile.mkdtemp(prefix="surgsim-report-"))
    snapshot = scratch / "last_frame.png" if viewer is not None else None
    result = replay_trace(trace_path, arch=arch, procedure_path=procedure_path, viewer=viewer, snapshot_path=snapshot)
    section = page.section("Verification")
    if result.reproduces:
        # Another CPU's JIT code differs in the last bits (surgsim/reproduction.py): the same session, within tolerance.
        how, compared, last = (("", "identical", f"final tissue state sha256 {result.tissue_digest[:16]}…")
                               if result.matches else
                               (" within tolerance, not bit for bit", "compared",
                                f"largest deviations: {result.comparison.largest_deviations()}."))
        section.parts.append(paragraph(
            f"The replay reproduces the recording{how}: {result.ticks} ticks on {result.backend}; "
            f"{result.compared['events']} events, {result.compared['samples']} samples and "
            f"{result.compared['commands']} commands {compared}; {last}", "pass"))
    else:
        section.parts.append(paragraph(
            f"The replay differs from the recording: {result.comparison.summary()}. It was recorded on another "
            "backend or surgsim version, or edited.", "fail"))
    if not has_display:
        section.parts.append(paragraph("No display: the last frame was not drawn (run under `xvfb-run -a` to "
                                       "include it).", "note"))
    return str(result.snapshot) if result.snapshot else None


# -- one trainee -------------------------------------------------------------------------------------------------------
def trainee_page(trainee: str, procedure: str | None, settings, consecutive: int) -> Page:
    from surgsim.history import open_history
    from surgsim.history.learning import progress_of

    with open_history() as history:
        attempts = history.attempts(trainee, procedure)
    if not attempts:
        where = f" at '{procedure}'" if procedure else ""
        raise InputError("--trainee", f"{trainee} has no recorded attempts{where}; record some with `surgsim "
                                      "history add TRACE... --trainee ID` or `surgsim run --trainee ID`.")
    page = Page(title=f"{trainee}: training report",
                subtitle=f"{len(attempts)} attempt(s) · from {attempts[0].session_time} to "
                         f"{attempts[-1].session_time}")
    procedures = list(dict.fromkeys(attempt.procedure_name for attempt in attempts))
    overview = page.section("Overview")
    rows = []
    progresses = {}
    for name in procedures:
        progress = progress_of([a for a in attempts if a.procedure_name == name], settings, consecutive)
        progresses[name] = progress
        best = max(row.score for row in progress.rows)
        status = f"proficient at attempt {progress.proficient_at}" if progress.proficient_at else "not yet"
        rows.append([name, len(progress.rows), sum(row.passed for row in progress.rows), round(best, 1), status])
    overview.parts.append(table_html(["procedure", "attempts", "passed", "best score", "proficient"], rows))

    for name, progress in progresses.items():
        key = name if len(procedures) > 1 else ""
        prefix = f"{key}_" if key else ""
        section = page.section(f"{name}")
        section.parts.extend(paragraph(line) for line in progress.summary().splitlines())
        scores = [row.score for row in progress.rows]
        section.parts.append(figure_html(
            page, f"{prefix}learning_curve",
            figures.png_bytes(figures.learning_curve(scores, [row.passed for row in progress.rows],
                                                     progress.proficient_at)),
            "Score over attempts."))
        series = {}
        for metric in progress.benchmarked_metrics:
            values = [row.metrics.get(metric) for row in progress.rows]
            expert = _latest_expert(progress, metric)
            series[metric] = (values, expert)
        if series:
            section.parts.append(figure_html(page, f"{prefix}metrics", figures.png_bytes(figures.metric_curves(series)),
                                             "Each benchmarked metric over attempts."))
        section.parts.append(figure_html(
            page, f"{prefix}cusum", figures.png_bytes(figures.cusum_charts([progress.cusum, progress.lc_cusum])),
            f"CUSUM (signals a failure rate at {settings.unacceptable:g}) and LC-CUSUM (signals that the failure "
            f"rate has come down to {settings.acceptable:g}); h = ln((1 - beta)/alpha)."))
        table_rows = [
            [k + 1, row.session_time, round(row.score, 1), "pass" if row.passed else "fail",
             f"{sum(row.benchmarks_met.values())}/{len(row.benchmarks_met)}",
             round(progress.cusum.values[k], 3), round(progress.lc_cusum.values[k], 3)]
            for k, row in enumerate(progress.rows)
        ]
        section.parts.append(table_html(
            ["attempt", "session (UTC)", "score", "result", "benchmarks met", "CUSUM", "LC-CUSUM"], table_rows,
            {3: verdict_class}))
    return page


def _latest_expert(progress, metric: str) -> float | None:
    """The expert benchmark of ``metric`` in the rubric of the latest attempt scored with it."""
    for row in reversed(progress.rows):
        if metric in row.experts:
            return row.experts[metric]
    return None


# -- a cohort ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Separation:
    """How well a metric (or the score) separates experts from novices."""

    metric: str
    expert_median: float | None
    novice_median: float | None
    u: float | None
    p_value: float | None
    p_expert_better: float | None  # common-language effect size = AUC
    rank_biserial: float | None


def separation(metric: str, experts: Sequence[float | None], novices: Sequence[float | None],
               lower_is_better: bool) -> Separation:
    from scipy import stats

    e = np.array([v for v in experts if v is not None], dtype=float)
    n = np.array([v for v in novices if v is not None], dtype=float)
    if e.size == 0 or n.size == 0:
        return Separation(metric, _median(e), _median(n), None, None, None, None)
    result = stats.mannwhitneyu(e, n, alternative="two-sided")
    u_experts_higher = float(result.statistic)  # pairs where the expert's value is higher (ties half)
    pairs = e.size * n.size
    p_better = (pairs - u_experts_higher) / pairs if lower_is_better else u_experts_higher / pairs
    return Separation(metric, _median(e), _median(n), u_experts_higher, float(result.pvalue), p_better,
                      2 * p_better - 1)


def _median(values: np.ndarray) -> float | None:
    return float(np.median(values)) if values.size else None


def roc_points(expert_scores: Sequence[float], novice_scores: Sequence[float]) -> tuple[list[float], list[float]]:
    """(1 - specificity, sensitivity) as the pass mark goes down through every observed score."""
    thresholds = sorted(set(expert_scores) | set(novice_scores), reverse=True)
    fpr, tpr = [0.0], [0.0]
    for threshold in thresholds:
        tpr.append(sum(s >= threshold for s in expert_scores) / len(expert_scores))
        fpr.append(sum(s >= threshold for s in novice_scores) / len(novice_scores))
    return fpr, tpr


def load_rubric_file(path: str):
    """The rubric of a procedure-like file: a `surgsim rubric derive` output or any YAML with a `rubric:` block."""
    import yaml
    from pydantic import ValidationError

    from surgsim.procedure.schema import Rubric

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(path, f"cannot read the rubric file: {error.strerror}.") from error
    except yaml.YAMLError as error:
        raise InputError(path, f"is not valid YAML: {error}.") from error
    if not isinstance(data, dict) or "rubric" not in data:
        raise InputError(path, "has no `rubric:` block (expected the output of `surgsim rubric derive`).")
    try:
        return Rubric.model_validate(data["rubric"])
    except ValidationError as error:
        first = error.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        raise InputError(path, f"the rubric is not valid at rubric.{location}: {first['msg']}.") from error


def group_sessions(procedure, group: str) -> list:
    """The attempts at ``procedure`` (a ProcedureFile) of every trainee in history cohort ``group``, as scored
    sessions. Only attempts scored against this very procedure file (same sha256) count."""
    from surgsim.derivation import ScoredSession
    from surgsim.history import open_history

    with open_history() as history:
        members = [trainee for trainee, cohort in history.trainees().items() if cohort == group]
        attempts = [attempt for trainee in members for attempt in history.attempts(trainee, procedure.spec.name)
                    if attempt.procedure_sha256 == procedure.sha256]
    if not attempts:
        who = f"{len(members)} trainee(s)" if members else "no trainee (see `surgsim history cohort ID GROUP`)"
        raise InputError(group, f"the history group '{group}' has {who} and no attempt at this version of "
                                f"{procedure.spec.name}.")
    return [ScoredSession(attempt.trace_path, attempt.trace_sha256, attempt.session_time, attempt.recorded_with,
                          {key: value for key, value in attempt.metrics.items() if key != "instruments"})
            for attempt in attempts]


def cohort_page(procedure_path: str, expert_traces: Sequence[str], novice_traces: Sequence[str],
                rubric_path: str | None = None, expert_group: str | None = None,
                novice_group: str | None = None) -> Page:
    """Experts against novices: from traces, or from the history's cohort groups (``expert_group``,
    ``novice_group``), or both."""
    from surgsim.derivation import score_traces
    from surgsim.procedure.loader import load_procedure
    from surgsim.scoring.rubric import score_components, weighted_score

    procedure = load_procedure(procedure_path)
    rubric = load_rubric_file(rubric_path) if rubric_path else procedure.spec.rubric
    experts = score_traces(procedure.path, expert_traces)
    novices = score_traces(procedure.path, novice_traces)
    if expert_group:
        experts += group_sessions(procedure, expert_group)
    if novice_group:
        novices += group_sessions(procedure, novice_group)
    if not experts or not novices:
        raise InputError("--experts/--novices", "a cohort report needs expert and novice sessions: traces, or a "
                                                "history group with --expert-group / --novice-group.")
    benchmarks = rubric.metrics.weighted()

    def score(session) -> float:
        return weighted_score(score_components(session.metrics, rubric.metrics))

    expert_scores = [score(s) for s in experts]
    novice_scores = [score(s) for s in novices]
    pass_mark = rubric.pass_thresholds.min_score
    rubric_source = f"the rubric in {rubric_path}" if rubric_path else f"the rubric of {procedure.path.name}"
    page = Page(
        title=f"{procedure.spec.title}: cohort report",
        subtitle=f"{len(experts)} expert and {len(novices)} novice session(s) · scored with {rubric_source} · "
                 f"{datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
    )
    separations = [separation("score", expert_scores, novice_scores, lower_is_better=False)]
    for name, benchmark in benchmarks.items():
        separations.append(separation(name, [s.metrics[name] for s in experts], [s.metrics[name] for s in novices],
                                      lower_is_better=benchmark.expert < benchmark.zero_at))
    section = page.section("Expert vs novice separation")
    section.parts.append(table_html(
        ["metric", "expert median", "novice median", "Mann–Whitney U", "p (two-sided)", "P(expert better)",
         "rank-biserial r"],
        [[s.metric, s.expert_median, s.novice_median, s.u, s.p_value, s.p_expert_better, s.rank_biserial]
         for s in separations]))
    section.parts.append(paragraph(
        "U counts the expert–novice pairs in which the expert's value is higher (ties half); P(expert better) is the "
        "share of pairs in which the expert did better (for the score: the ROC AUC); r = 2P − 1.", "note"))

    distributions = {"score": {"experts": expert_scores, "novices": novice_scores}}
    for name in benchmarks:
        distributions[name] = {
            "experts": [s.metrics[name] for s in experts if s.metrics[name] is not None],
            "novices": [s.metrics[name] for s in novices if s.metrics[name] is not None],
        }
    page.section("Distributions").parts.append(figure_html(
        page, "distributions", figures.png_bytes(figures.group_distributions(distributions)),
        "Each metric by group: box (quartiles, median) and every session."))

    fpr, tpr = roc_points(expert_scores, novice_scores)
    sensitivity = sum(s >= pass_mark for s in expert_scores) / len(expert_scores)
    false_pass = sum(s >= pass_mark for s in novice_scores) / len(novice_scores)
    auc = separations[0].p_expert_better
    roc = page.section("Pass mark")
    roc.parts.append(figure_html(page, "roc", figures.png_bytes(figures.roc_curve(fpr, tpr, auc, (pass_mark, false_pass,
                                                                                                   sensitivity))),
                                 "ROC of the score; the dot is the pass mark."))
    roc.parts.append(table_html(["pass mark", "sensitivity (experts pass)", "specificity (novices fail)", "AUC"],
                                [[pass_mark, sensitivity, 1 - false_pass, auc]]))
    sessions = [["expert", s.path, round(sc, 1), "pass" if sc >= pass_mark else "fail"]
                for s, sc in zip(experts, expert_scores)]
    sessions += [["novice", s.path, round(sc, 1), "pass" if sc >= pass_mark else "fail"]
                 for s, sc in zip(novices, novice_scores)]
    page.section("Sessions").parts.append(table_html(["group", "trace", "score", "score ≥ pass mark"], sessions,
                                                     {3: verdict_class}))
    return page
