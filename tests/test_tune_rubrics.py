"""tools/tune_rubrics.py: benchmarks derived from an expert's values, and the YAML rewritten in the rubric only."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from surgsim.procedure import load_procedure

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import tune_rubrics  # noqa: E402


@pytest.fixture(scope="module")
def liver():
    return load_procedure(ROOT / "procedures" / "liver_retraction.yaml").spec


def test_benchmarks_take_the_experts_value_with_the_margin_and_the_procedures_limits(liver):
    derive = tune_rubrics.derive
    assert tune_rubrics.MARGIN == 0.25
    # Lower is better: 25 % worse than the scripted expert still earns full marks; zero at the procedure's limit.
    assert derive("time_s", 10.8, liver) == tune_rubrics.Derived(13.5, 120.0)
    assert derive("max_force_N", 1.2, liver) == tune_rubrics.Derived(1.5, 4.0)  # force_limit_N
    assert derive("max_force_N", 3.6, liver) == tune_rubrics.Derived(4.5, 13.5)  # beyond the limit: 3 × expert
    assert derive("path_length_mm", 123.456, liver) == tune_rubrics.Derived(154.0, 462.0)  # 3 significant digits
    # Higher is better: 25 % less; a fraction of goals is always 1 → 0.
    assert derive("economy_of_motion", 0.96, liver) == tune_rubrics.Derived(0.72, 0.0)
    assert derive("goals_completed_fraction", 0.5, liver) == tune_rubrics.Derived(1.0, 0.0)
    # Counts: no margin; one forbidden contact takes every point.
    assert derive("forbidden_contacts", 0, liver) == tune_rubrics.Derived(0.0, 1.0)
    assert derive("tissue_damage", 1, liver) == tune_rubrics.Derived(1.0, 4.0)
    assert derive("time_above_force_limit_s", 0.0, liver) == tune_rubrics.Derived(0.0, 1.0)


def test_only_the_rubrics_numbers_and_pass_mark_change(liver):
    path = ROOT / "procedures" / "liver_retraction.yaml"
    text = path.read_text()
    benchmarks = {name: tune_rubrics.Derived(7.0, 70.0) for name in liver.rubric.metrics.weighted()}
    rewritten = tune_rubrics.rewrite_rubric(text, benchmarks, 70.0)
    before, after = text.split("\n"), rewritten.split("\n")
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(before) == len(after) and len(changed) == len(benchmarks) + 1
    assert "    time_s: {weight: 2, expert: 7, zero_at: 70}" in after
    assert "    min_score: 70" in after
    assert rewritten.split("\nrubric:")[0] == text.split("\nrubric:")[0]  # physics and comments untouched
