"""Learning curves, CUSUM charts and proficiency-based progression from a trainee's attempts at one procedure.

An attempt *fails* when the rubric's verdict is fail. With an acceptable failure rate p0 and an unacceptable one
p1 > p0, and the charts' error rates alpha and beta:

CUSUM (Bernoulli CUSUM as reviewed by Biau, Resche-Rigon, Godiris-Petit, Nizard and Porcher, "Quality control of
surgical and interventional procedures: a review of the CUSUM", Qual Saf Health Care 2007;16:203-207; after Steiner
et al. 2000). It tests H0: p = p0 against H1: p = p1. Each attempt adds its log-likelihood ratio

    W_n = ln(p1 / p0)              for a failure
    W_n = ln((1 - p1) / (1 - p0))  for a success          C_n = max(0, C_{n-1} + W_n),  C_0 = 0,

and the chart signals "failure rate at the unacceptable level" when C_n >= h.

LC-CUSUM (learning-curve CUSUM: Biau, Williams, Schlup, Nizard and Porcher, "Quantitative and individualized
assessment of the learning curve using LC-CUSUM", Br J Surg 2008;95:925-929; Biau and Porcher, Stat Med
2010;29:1900-1909). The hypotheses are turned round: H0: p = p1 (not yet competent) against H1: p = p0, so

    W_n = ln(p0 / p1)              for a failure
    W_n = ln((1 - p0) / (1 - p1))  for a success          S_n = max(0, S_{n-1} + W_n),  S_0 = 0,

and the chart signals "performance has reached the acceptable level" when S_n >= h.

Both use Wald's sequential-test bound h = ln((1 - beta) / alpha) as decision limit (alpha: probability of a false
signal, beta: of missing a true one). Biau et al. tuned h by simulation for a given run length; this bound is the
usual closed-form starting point, and alpha and beta are options so a programme can match its own choice.

Proficiency-based progression (as in FLS: the proficiency level on 2 consecutive attempts; Gallagher et al. 2005):
an attempt *meets* a benchmarked metric when its value is at the rubric's expert benchmark or better (the direction
follows from the order of ``expert`` and ``zero_at``). The trainee is proficient from the first attempt that ends a
run of N consecutive attempts meeting every benchmarked metric. Each attempt is judged by the rubric it was scored
with (recorded in the history), so editing the rubric later does not rewrite the past.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from surgsim.errors import InputError
from surgsim.history.store import Attempt


@dataclass(frozen=True)
class CusumSettings:
    acceptable: float  # p0: a failure rate that is fine
    unacceptable: float  # p1: a failure rate that is not
    alpha: float = 0.05
    beta: float = 0.20

    @classmethod
    def checked(cls, acceptable: float, unacceptable: float, alpha: float = 0.05, beta: float = 0.20):
        if not 0 < acceptable < unacceptable < 1:
            raise InputError(
                "--acceptable/--unacceptable",
                f"failure rates must satisfy 0 < acceptable < unacceptable < 1; got {acceptable:g} and "
                f"{unacceptable:g}.",
            )
        for name, value in (("--alpha", alpha), ("--beta", beta)):
            if not 0 < value < 0.5:
                raise InputError(name, f"an error rate must lie between 0 and 0.5; got {value:g}.")
        return cls(acceptable, unacceptable, alpha, beta)

    @property
    def decision_limit(self) -> float:
        """h = ln((1 - beta) / alpha), Wald's bound."""
        return math.log((1 - self.beta) / self.alpha)


@dataclass(frozen=True)
class Chart:
    """A CUSUM chart: its value after each attempt, its decision limit, and the first attempt (1-based) at which it
    reached the limit (None if it never did)."""

    name: str
    values: tuple[float, ...]
    limit: float
    signal_at: int | None
    failure_weight: float
    success_weight: float

    def to_json(self) -> dict:
        return {
            "name": self.name, "values": list(self.values), "limit": self.limit, "signal_at": self.signal_at,
            "failure_weight": self.failure_weight, "success_weight": self.success_weight,
        }


def _chart(name: str, failures: Sequence[bool], failure_weight: float, success_weight: float, limit: float) -> Chart:
    values, total, signal_at = [], 0.0, None
    for n, failed in enumerate(failures, start=1):
        total = max(0.0, total + (failure_weight if failed else success_weight))
        values.append(total)
        if signal_at is None and total >= limit:
            signal_at = n
    return Chart(name, tuple(values), limit, signal_at, failure_weight, success_weight)


def cusum(failures: Sequence[bool], settings: CusumSettings) -> Chart:
    """The Bernoulli CUSUM of ``failures`` (True = failed attempt); signals an unacceptable failure rate."""
    p0, p1 = settings.acceptable, settings.unacceptable
    return _chart("CUSUM", failures, math.log(p1 / p0), math.log((1 - p1) / (1 - p0)), settings.decision_limit)


def lc_cusum(failures: Sequence[bool], settings: CusumSettings) -> Chart:
    """The LC-CUSUM of ``failures``; signals that the failure rate has come down to the acceptable level."""
    p0, p1 = settings.acceptable, settings.unacceptable
    return _chart("LC-CUSUM", failures, math.log(p0 / p1), math.log((1 - p0) / (1 - p1)), settings.decision_limit)


def meets_benchmark(value: float | None, expert: float, zero_at: float) -> bool:
    """Whether ``value`` is at the expert benchmark or better (lower is better when expert < zero_at)."""
    if value is None:
        return False
    return value <= expert if expert < zero_at else value >= expert


def benchmarks_met(report: dict) -> dict[str, bool]:
    """For each metric of the rubric the attempt was scored with: whether it met the expert benchmark."""
    return {
        component["metric"]: meets_benchmark(component["value"], component["expert"], component["zero_at"])
        for component in report["rubric"]
    }


def proficient_at(met_every_benchmark: Sequence[bool], consecutive: int) -> int | None:
    """The attempt (1-based) that completes the first run of ``consecutive`` attempts meeting every benchmark."""
    run = 0
    for n, met in enumerate(met_every_benchmark, start=1):
        run = run + 1 if met else 0
        if run >= consecutive:
            return n
    return None


@dataclass(frozen=True)
class ProgressRow:
    attempt_id: int
    session_time: str
    score: float
    passed: bool
    metrics: dict  # every scalar metric of the attempt
    benchmarks_met: dict[str, bool]
    experts: dict[str, float]  # the expert benchmark of each rubric metric, as the attempt was scored

    @property
    def met_every_benchmark(self) -> bool:
        return all(self.benchmarks_met.values())


@dataclass(frozen=True)
class Progress:
    trainee: str
    procedure: str
    rows: tuple[ProgressRow, ...]
    settings: CusumSettings
    consecutive: int
    cusum: Chart
    lc_cusum: Chart
    proficient_at: int | None

    @property
    def benchmarked_metrics(self) -> list[str]:
        names: dict[str, None] = {}
        for row in self.rows:
            names.update(dict.fromkeys(row.benchmarks_met))
        return list(names)

    def summary(self) -> str:
        n = len(self.rows)
        lines = [f"{n} attempt(s), {sum(row.passed for row in self.rows)} passed."]
        if self.proficient_at is not None:
            lines.append(f"Proficient: every benchmark met on {self.consecutive} consecutive attempts, reached at "
                         f"attempt {self.proficient_at}.")
        else:
            lines.append(f"Not yet proficient: needs every benchmark met on {self.consecutive} consecutive attempts.")
        s = self.settings
        rates = f"acceptable failure rate {s.acceptable:g}, unacceptable {s.unacceptable:g}, h = {s.decision_limit:.2f}"
        if self.lc_cusum.signal_at is not None:
            lines.append(f"LC-CUSUM: competence signalled at attempt {self.lc_cusum.signal_at} ({rates}).")
        else:
            lines.append(f"LC-CUSUM: competence not signalled yet ({rates}).")
        if self.cusum.signal_at is not None:
            lines.append(f"CUSUM: unacceptable failure rate signalled at attempt {self.cusum.signal_at}.")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "trainee": self.trainee,
            "procedure": self.procedure,
            "attempts": [
                {"attempt_id": row.attempt_id, "session_time": row.session_time, "score": row.score,
                 "passed": row.passed, "metrics": row.metrics, "benchmarks_met": row.benchmarks_met}
                for row in self.rows
            ],
            "settings": {"acceptable": self.settings.acceptable, "unacceptable": self.settings.unacceptable,
                         "alpha": self.settings.alpha, "beta": self.settings.beta},
            "cusum": self.cusum.to_json(),
            "lc_cusum": self.lc_cusum.to_json(),
            "proficiency": {"consecutive": self.consecutive, "proficient_at": self.proficient_at,
                            "proficient": self.proficient_at is not None},
        }


def progress_of(attempts: Sequence[Attempt], settings: CusumSettings, consecutive: int = 2) -> Progress:
    """The learning curve of one trainee at one procedure, ``attempts`` in the order they were made."""
    if not attempts:
        raise ValueError("no attempts")
    trainees = {attempt.trainee for attempt in attempts}
    procedures = {attempt.procedure_name for attempt in attempts}
    if len(trainees) != 1 or len(procedures) != 1:
        raise ValueError("a learning curve is of one trainee at one procedure")
    rows = tuple(
        ProgressRow(
            attempt_id=attempt.id, session_time=attempt.session_time, score=attempt.score, passed=attempt.passed,
            metrics={key: value for key, value in attempt.metrics.items() if key != "instruments"},
            benchmarks_met=benchmarks_met(attempt.report),
            experts={component["metric"]: component["expert"] for component in attempt.report["rubric"]},
        )
        for attempt in attempts
    )
    failures = [not row.passed for row in rows]
    return Progress(
        trainee=trainees.pop(), procedure=procedures.pop(), rows=rows, settings=settings, consecutive=consecutive,
        cusum=cusum(failures, settings), lc_cusum=lc_cusum(failures, settings),
        proficient_at=proficient_at([row.met_every_benchmark for row in rows], consecutive),
    )
