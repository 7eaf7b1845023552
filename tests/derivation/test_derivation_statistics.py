"""Derived statistics against values computed by hand (and by textbook formulas) on synthetic metric sets."""

from __future__ import annotations

import math

import pytest

from surgsim.derivation import contrasting_groups_cut, derive_metric, summarize


def test_summary_of_five_values():
    summary = summarize([10.0, 12.0, 14.0, 16.0, 18.0])
    assert (summary.n, summary.mean, summary.median) == (5, 14.0, 14.0)
    assert summary.sd == pytest.approx(math.sqrt(10))  # squares 16+4+0+4+16 = 40, / (n-1) = 10
    half_width = 2.7764451051977987 * math.sqrt(10) / math.sqrt(5)  # t(0.975, 4) from tables: 2.776
    assert summary.ci95 == pytest.approx((14 - half_width, 14 + half_width))


def test_summary_skips_unmeasured_values_and_handles_tiny_samples():
    assert summarize([None, 3.0, None, 5.0]).mean == 4.0 and summarize([None, 3.0, 5.0]).n == 2
    one = summarize([7.0])
    assert (one.n, one.mean, one.sd, one.ci95) == (1, 7.0, None, None)
    assert summarize([None]).n == 0 and summarize([]).mean is None


def test_median_of_an_even_sample_and_the_median_statistic():
    derived = derive_metric("time_s", 1.0, 20.0, 60.0, [10.0, 11.0, 13.0, 30.0], [40.0, 50.0, 60.0],
                            statistic="median")
    assert derived.experts.median == 12.0 and derived.expert == 12.0 and derived.zero_at == 50.0


def test_contrasting_groups_separated_groups_cut_midway():
    cut = contrasting_groups_cut([10.0, 12.0, 14.0, 16.0, 18.0], [20.0, 25.0, 30.0], lower_is_better=True)
    assert (cut.threshold, cut.sensitivity, cut.specificity) == (19.0, 1.0, 1.0)


def test_contrasting_groups_with_overlap_maximises_youden():
    # experts 1..5 (higher is better), novices 0, 2, 3.5. Sensitivity + specificity - 1 at each cut: 0.5: 1 + 1/3 - 1
    # = 0.33; 1.5: 0.13; 2.5: 3/5 + 2/3 - 1 = 0.27; 3.25: 0.07; 3.75: 2/5 + 3/3 - 1 = 0.4 (the best); 4.5: 0.2.
    cut = contrasting_groups_cut([1.0, 2.0, 3.0, 4.0, 5.0], [0.0, 2.0, 3.5], lower_is_better=False)
    assert cut.threshold == 3.75
    assert (cut.sensitivity, cut.specificity) == (pytest.approx(0.4), 1.0)


def test_derive_metric_zero_at_from_novices_or_expert_spread():
    with_novices = derive_metric("path_length_mm", 2.0, 150.0, 500.0, [100.0, 120.0, 140.0], [300.0, 500.0])
    assert (with_novices.expert, with_novices.zero_at, with_novices.zero_at_from) == (120.0, 400.0, "novices")
    assert with_novices.weight == 2.0 and with_novices.cut.threshold == 220.0
    alone = derive_metric("economy_of_motion", 1.0, 0.7, 0.2, [0.8, 0.9, 1.0], None)
    assert alone.expert == pytest.approx(0.9) and alone.zero_at == pytest.approx(0.9 - 3 * 0.1)  # higher is better
    assert alone.zero_at_from == "expert spread" and alone.cut is None


def test_degenerate_spread_keeps_the_procedures_zero_at():
    derived = derive_metric("forbidden_contacts", 1.0, 0.0, 3.0, [0, 0, 0], [0, 0])
    assert (derived.expert, derived.zero_at, derived.zero_at_from) == (0.0, 3.0, "procedure")
    unmeasured = derive_metric("cut_deviation_mean_mm", 1.0, 0.5, 3.0, [None, None], None)
    assert (unmeasured.expert, unmeasured.zero_at, unmeasured.zero_at_from) == (0.5, 3.0, "procedure")
