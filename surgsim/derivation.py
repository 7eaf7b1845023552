"""Rubric benchmarks derived from recorded expert (and novice) sessions instead of guessed.

For each metric of the procedure's rubric, over the sessions where it was measured:

- n, mean, median, SD (sample, n - 1) and the 95 % confidence interval of the mean, mean ± t(0.975, n - 1)·SD/√n.
- ``expert``: the experts' mean (or median, ``statistic="median"``): the proficiency level of proficiency-based
  training, which sets the benchmark at the expert mean (Gallagher et al. 2005, Ann Surg 241:364).
- ``zero_at``: the novices' mean (median) when novices are given; otherwise the expert value ``SPREAD_SD`` SDs to the
  worse side. When that is no worse than ``expert`` (every session alike, e.g. no forbidden contact by anyone), the
  procedure's own ``zero_at`` is kept and the derivation says so.

Pass mark, contrasting groups (Livingston and Zieky 1982, "Passing scores", ETS; the usual way to set a simulator's
pass mark from a group that should pass and one that should not): each session is scored with the derived benchmarks, and the pass mark is the score that best separates experts from
novices, taken as the cut maximising sensitivity + specificity (Youden's J; sensitivity: experts who pass,
specificity: novices who fail). Ties go to the middle one of the best cuts. The same cut is reported per metric.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence

SPREAD_SD = 3.0


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float | None
    median: float | None
    sd: float | None
    ci95: tuple[float, float] | None

    def to_json(self) -> dict:
        return {"n": self.n, "mean": _r(self.mean), "median": _r(self.median), "sd": _r(self.sd),
                "ci95": [_r(bound) for bound in self.ci95] if self.ci95 else None}

    def statistic(self, name: str) -> float | None:
        return self.mean if name == "mean" else self.median


def summarize(values: Sequence[float | None]) -> Summary:
    """n, mean, median, sample SD and 95 % t-interval of the mean of the measured (non-None) values."""
    from scipy import stats

    measured = [float(value) for value in values if value is not None]
    n = len(measured)
    if n == 0:
        return Summary(0, None, None, None, None)
    mean = statistics.fmean(measured)
    median = statistics.median(measured)
    if n == 1:
        return Summary(1, mean, median, None, None)
    sd = statistics.stdev(measured)
    half_width = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return Summary(n, mean, median, sd, (mean - half_width, mean + half_width))


@dataclass(frozen=True)
class Cut:
    """A pass/fail cut: pass at ``threshold`` or better; sensitivity = experts passing, specificity = novices failing."""

    threshold: float
    sensitivity: float
    specificity: float

    def to_json(self) -> dict:
        return {"cut": _r(self.threshold), "sensitivity": _r(self.sensitivity), "specificity": _r(self.specificity)}


def passes(value: float, threshold: float, lower_is_better: bool) -> bool:
    return value <= threshold if lower_is_better else value >= threshold


def contrasting_groups_cut(
    experts: Sequence[float | None], novices: Sequence[float | None], lower_is_better: bool
) -> Cut | None:
    """The cut maximising sensitivity + specificity; candidates lie midway between successive distinct values."""
    experts = [value for value in experts if value is not None]
    novices = [value for value in novices if value is not None]
    if not experts or not novices:
        return None
    values = sorted(set(experts) | set(novices))
    candidates = [(a + b) / 2 for a, b in zip(values, values[1:])] or values
    scored = []
    for threshold in candidates:
        sensitivity = sum(passes(v, threshold, lower_is_better) for v in experts) / len(experts)
        specificity = sum(not passes(v, threshold, lower_is_better) for v in novices) / len(novices)
        scored.append((sensitivity + specificity, threshold, sensitivity, specificity))
    best = max(j for j, *_ in scored)
    ties = [entry for entry in scored if math.isclose(entry[0], best)]
    _, threshold, sensitivity, specificity = ties[len(ties) // 2]
    return Cut(threshold, sensitivity, specificity)


@dataclass(frozen=True)
class MetricDerivation:
    metric: str
    weight: float
    lower_is_better: bool
    experts: Summary
    novices: Summary | None
    expert: float
    zero_at: float
    zero_at_from: str  # "novices", "expert spread" or "procedure"
    cut: Cut | None

    def to_json(self) -> dict:
        derived = {"lower_is_better": self.lower_is_better, "experts": self.experts.to_json()}
        if self.novices is not None:
            derived["novices"] = self.novices.to_json()
        derived["zero_at_from"] = self.zero_at_from
        if self.cut is not None:
            derived["contrasting_groups"] = self.cut.to_json()
        return derived


def derive_metric(
    metric: str, weight: float, current_expert: float, current_zero_at: float,
    experts: Sequence[float | None], novices: Sequence[float | None] | None, statistic: str = "mean",
) -> MetricDerivation:
    """One metric's benchmark from the expert (and novice) values; direction as in the procedure's rubric."""
    lower_is_better = current_expert < current_zero_at
    worse = 1.0 if lower_is_better else -1.0
    expert_summary = summarize(experts)
    novice_summary = summarize(novices) if novices is not None else None
    expert = expert_summary.statistic(statistic)
    if expert is None:
        # No expert measured it (no cut made, no motion): nothing to derive from; keep the procedure's benchmark.
        return MetricDerivation(metric, weight, lower_is_better, expert_summary, novice_summary, current_expert,
                                current_zero_at, "procedure", None)
    if novice_summary is not None and novice_summary.n > 0:
        zero_at, zero_at_from = novice_summary.statistic(statistic), "novices"
    elif expert_summary.sd is not None:
        zero_at, zero_at_from = expert + worse * SPREAD_SD * expert_summary.sd, "expert spread"
    else:
        zero_at, zero_at_from = current_zero_at, "procedure"
    if not worse * (zero_at - expert) > 0:
        zero_at, zero_at_from = current_zero_at, "procedure"
        if not worse * (zero_at - expert) > 0:
            # Even the procedure's zero_at is no worse than what the experts did: put zero one expert-size step away.
            zero_at = expert + worse * max(abs(expert), 1.0)
            zero_at_from = "expert value ± max(|expert|, 1)"
    cut = contrasting_groups_cut(experts, novices, lower_is_better) if novices is not None else None
    return MetricDerivation(metric, weight, lower_is_better, expert_summary, novice_summary, expert, zero_at,
                            zero_at_from, cut)


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6) + 0.0


# -- from traces -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScoredSession:
    """A trace's recorded outcome, as `surgsim score` measures it."""

    path: str
    sha256: str
    session_time: str
    recorded_with: str
    metrics: dict  # scalar metrics by name


def _report_rounded(value):
    from surgsim.scoring.report import _rounded

    return _rounded(value) if isinstance(value, float) and math.isfinite(value) else value


def score_traces(procedure_path, traces: Sequence[str]) -> list[ScoredSession]:
    """Score each trace against the procedure at ``procedure_path`` (each trace's header must hash to it)."""
    from pathlib import Path

    from surgsim.history.record import session_time, trace_sha256
    from surgsim.scoring import load_session, score_session

    sessions = []
    for trace_path in traces:
        procedure, trace = load_session(trace_path, procedure_path)
        report = score_session(procedure.spec, trace)
        # The metrics as a report states them (rounded to its documented precision), as the history stores them.
        scalars = {name: _report_rounded(value) for name, value in report.metrics.scalars().items()}
        sessions.append(ScoredSession(str(Path(trace_path)), trace_sha256(trace_path), session_time(trace_path),
                                      report.recorded_with, scalars))
    return sessions


@dataclass(frozen=True)
class RubricDerivation:
    procedure_name: str
    procedure_path: str
    procedure_sha256: str
    statistic: str
    metrics: tuple[MetricDerivation, ...]
    pass_thresholds: dict  # the procedure's, with min_score replaced by the contrasting-groups cut when there is one
    pass_mark: Cut | None
    experts: tuple[ScoredSession, ...]
    novices: tuple[ScoredSession, ...]

    def rubric(self) -> dict:
        """The `rubric:` block for the procedure file."""
        return {
            "metrics": {m.metric: {"weight": m.weight, "expert": _r(m.expert), "zero_at": _r(m.zero_at)}
                        for m in self.metrics},
            "pass_thresholds": self.pass_thresholds,
        }

    def to_yaml_data(self, derived_at: str) -> dict:
        from surgsim import __version__

        statistic = f"{self.statistic} of the expert sessions"
        zero_rule = (f"{self.statistic} of the novice sessions" if self.novices
                     else f"expert {self.statistic} {SPREAD_SD:g} SD to the worse side")
        derivation = {"expert_benchmark": statistic, "zero_at": zero_rule}
        if self.pass_mark is not None:
            derivation["pass_mark"] = {
                "method": "contrasting groups: the score cut maximising sensitivity + specificity (Youden's J)",
                "min_score": _r(self.pass_mark.threshold), "sensitivity": _r(self.pass_mark.sensitivity),
                "specificity": _r(self.pass_mark.specificity),
            }
        else:
            derivation["pass_mark"] = {"method": "kept from the procedure (no novice sessions to contrast)"}
        derivation["metrics"] = {m.metric: m.to_json() for m in self.metrics}
        return {
            "rubric": self.rubric(),
            "derivation": derivation,
            "provenance": {
                "procedure": {"name": self.procedure_name, "path": self.procedure_path,
                              "sha256": self.procedure_sha256},
                "surgsim_version": __version__,
                "derived_at": derived_at,
                "experts": _group_provenance(self.experts),
                "novices": _group_provenance(self.novices),
            },
        }


def _shown_path(path) -> str:
    """``path`` relative to the working folder when it lies inside it (a derivation kept in a repository names no
    machine's folders), else as it is."""
    from pathlib import Path

    path = Path(path)
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def _group_provenance(sessions: Sequence[ScoredSession]) -> dict:
    times = sorted(session.session_time for session in sessions)
    return {
        "n": len(sessions),
        "sessions_from": times[0] if times else None,
        "sessions_to": times[-1] if times else None,
        "traces": [{"path": s.path, "sha256": s.sha256, "session_time": s.session_time,
                    "recorded_with": s.recorded_with} for s in sessions],
    }


def derive_rubric(procedure, experts: Sequence[ScoredSession], novices: Sequence[ScoredSession],
                  statistic: str = "mean") -> RubricDerivation:
    """Derive ``procedure``'s (a :class:`~surgsim.procedure.loader.ProcedureFile`) rubric from scored sessions."""
    from surgsim.procedure.schema import Benchmark, RubricMetrics
    from surgsim.scoring.rubric import score_components, weighted_score

    rubric = procedure.spec.rubric
    derived = tuple(
        derive_metric(name, benchmark.weight, benchmark.expert, benchmark.zero_at,
                      [session.metrics[name] for session in experts],
                      [session.metrics[name] for session in novices] if novices else None, statistic)
        for name, benchmark in rubric.metrics.weighted().items()
    )
    thresholds = rubric.pass_thresholds.model_dump(exclude_none=True)
    pass_mark = None
    if novices:
        benchmarks = RubricMetrics(**{m.metric: Benchmark(weight=m.weight, expert=m.expert, zero_at=m.zero_at)
                                      for m in derived})

        def score(session: ScoredSession) -> float:
            return weighted_score(score_components(session.metrics, benchmarks))

        pass_mark = contrasting_groups_cut([score(s) for s in experts], [score(s) for s in novices],
                                           lower_is_better=False)
        if pass_mark is not None:
            thresholds["min_score"] = _r(min(100.0, max(0.0, pass_mark.threshold)))
    return RubricDerivation(procedure.spec.name, _shown_path(procedure.path), procedure.sha256, statistic, derived,
                            thresholds, pass_mark, tuple(experts), tuple(novices))
