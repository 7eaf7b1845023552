"""From metrics to a 0-100 score and a pass/fail, as the procedure's rubric says.

Each rubric metric earns points in [0, 1]: 1 at the expert benchmark or better, 0 at ``zero_at`` or worse, linear in
between (the LapSim / LAP Mentor practice of grading against expert-derived benchmarks). A metric that could not be
measured (no motion for economy of motion, no cut for cut deviation) earns 0. The efficiency metrics (time, idle
time, path length, economy of motion) earn their points in proportion to the fraction of goals completed: otherwise
stopping early would look efficient. The score is 100 × the weighted mean of the points. A session passes when the
score reaches ``min_score`` and every pass threshold given is met (by default every goal must be completed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from surgsim.procedure.schema import Benchmark, PassThresholds, RubricMetrics

Metrics = Mapping[str, float | int | None]


@dataclass(frozen=True)
class ComponentScore:
    metric: str
    value: float | None
    weight: float
    expert: float
    zero_at: float
    points: float  # 0..1


def benchmark_points(value: float | None, benchmark: Benchmark) -> float:
    if value is None:
        return 0.0
    fraction = (value - benchmark.zero_at) / (benchmark.expert - benchmark.zero_at)
    return min(1.0, max(0.0, fraction))


EFFICIENCY_METRICS = ("time_s", "idle_time_s", "path_length_mm", "economy_of_motion")


def score_components(metrics: Metrics, rubric: RubricMetrics) -> list[ComponentScore]:
    components = []
    for name, benchmark in rubric.weighted().items():
        points = benchmark_points(metrics[name], benchmark)
        if name in EFFICIENCY_METRICS:
            points *= metrics["goals_completed_fraction"]
        components.append(
            ComponentScore(name, metrics[name], benchmark.weight, benchmark.expert, benchmark.zero_at, points)
        )
    return components


def weighted_score(components: list[ComponentScore]) -> float:
    total_weight = sum(component.weight for component in components)
    return 100.0 * sum(component.weight * component.points for component in components) / total_weight


# (threshold, metric, True when the metric must not exceed the threshold, what the metric is called, its unit)
_THRESHOLDS = (
    ("max_time_s", "time_s", True, "time", " s"),
    ("max_force_N", "max_force_N", True, "maximum force", " N"),
    ("max_time_above_force_limit_s", "time_above_force_limit_s", True, "time above the force limit", " s"),
    ("max_forbidden_contacts", "forbidden_contacts", True, "forbidden-zone contacts", ""),
    ("max_tissue_damage", "tissue_damage", True, "tissue damage episodes", ""),
    ("max_cut_deviation_mean_mm", "cut_deviation_mean_mm", True, "mean cut deviation", " mm"),
    ("max_cut_deviation_max_mm", "cut_deviation_max_mm", True, "largest cut deviation", " mm"),
    ("min_goals_completed", "goals_completed", False, "goals completed", ""),
)


def threshold_failures(metrics: Metrics, score: float, thresholds: PassThresholds, step_count: int) -> list[str]:
    """One sentence per pass threshold not met; empty when the session passes."""
    failures = []
    if score < thresholds.min_score:
        failures.append(f"score: {score:.1f}, below the pass mark of {thresholds.min_score:g}")
    for threshold, metric, is_maximum, label, unit in _THRESHOLDS:
        limit = getattr(thresholds, threshold)
        if threshold == "min_goals_completed" and limit is None:
            limit = step_count
        value = metrics[metric]
        if limit is None or value is None:
            continue
        if is_maximum and value > limit:
            failures.append(f"{label}: {value:.4g}{unit}, more than the {limit:g}{unit} allowed")
        elif not is_maximum and value < limit:
            failures.append(f"{label}: {value:.4g}{unit}, fewer than the {limit:g}{unit} required")
    return failures
