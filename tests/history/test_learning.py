"""CUSUM, LC-CUSUM and proficiency against values worked out by hand."""

from __future__ import annotations

import math

import pytest
from reports import fake_attempt

from surgsim.errors import InputError
from surgsim.history import open_history
from surgsim.history.learning import CusumSettings, cusum, lc_cusum, meets_benchmark, proficient_at, progress_of

SETTINGS = CusumSettings.checked(acceptable=0.1, unacceptable=0.3, alpha=0.05, beta=0.2)


def test_decision_limit_is_walds_bound():
    assert SETTINGS.decision_limit == pytest.approx(math.log(16))  # ln((1 - 0.2) / 0.05)


def test_cusum_adds_log_likelihood_ratios_and_signals_at_the_limit():
    chart = cusum([True, True, False, True], SETTINGS)
    failure, success = math.log(3), math.log(0.7 / 0.9)
    expected = [failure, 2 * failure, 2 * failure + success, 3 * failure + success]
    assert chart.values == pytest.approx(expected)
    assert chart.signal_at == 4  # 3.04 >= ln 16 = 2.77; 2.20 and 1.95 were below
    assert cusum([False] * 10, SETTINGS).values == (0.0,) * 10  # never below zero


def test_lc_cusum_needs_twelve_successes_in_a_row_with_these_rates():
    success = math.log(0.9 / 0.7)
    chart = lc_cusum([False] * 12, SETTINGS)
    assert chart.values[10] == pytest.approx(11 * success) and chart.signal_at == 12
    interrupted = lc_cusum([False] * 4 + [True] + [False] * 11, SETTINGS)
    assert interrupted.values[4] == 0.0  # ln(1/3) = -1.10 outweighs 4 successes (1.01): back to the floor
    assert interrupted.signal_at is None


def test_meets_benchmark_follows_the_rubric_direction():
    assert meets_benchmark(20.0, expert=20.0, zero_at=120.0) and not meets_benchmark(20.1, 20.0, 120.0)
    assert meets_benchmark(0.8, expert=0.7, zero_at=0.2) and not meets_benchmark(0.69, 0.7, 0.2)
    assert not meets_benchmark(None, 0.7, 0.2)


def test_proficient_after_n_consecutive_attempts_meeting_every_benchmark():
    assert proficient_at([True, False, True, True], consecutive=2) == 4
    assert proficient_at([True, True, False], consecutive=2) == 2
    assert proficient_at([True, True, False, True, True], consecutive=3) is None


@pytest.mark.parametrize("rates", [(0.3, 0.1), (0.0, 0.3), (0.1, 1.0)])
def test_failure_rates_out_of_order_are_input_errors(rates):
    with pytest.raises(InputError):
        CusumSettings.checked(*rates)


def test_progress_from_the_history(surgsim_home):
    # attempt 1 slow, 2 meets both, 3 poor economy, 4 and 5 meet both: proficient at 5 (2 in a row)
    plan = [dict(score=40.0, passed=False, time_s=90.0, economy=0.5),
            dict(score=90.0, passed=True, time_s=19.0, economy=0.75),
            dict(score=60.0, passed=True, time_s=18.0, economy=0.3),
            dict(score=92.0, passed=True, time_s=20.0, economy=0.7),
            dict(score=95.0, passed=True, time_s=17.0, economy=0.9)]
    with open_history() as history:
        history.add_all([fake_attempt("erin", n, **kwargs) for n, kwargs in enumerate(plan)])
        progress = progress_of(history.attempts("erin", "box_trainer"), SETTINGS, consecutive=2)
    assert [row.score for row in progress.rows] == [40.0, 90.0, 60.0, 92.0, 95.0]
    assert [row.met_every_benchmark for row in progress.rows] == [False, True, False, True, True]
    assert progress.proficient_at == 5
    assert progress.cusum.values[0] == pytest.approx(math.log(3))
    summary = progress.to_json()
    assert summary["proficiency"] == {"consecutive": 2, "proficient_at": 5, "proficient": True}
    assert "attempt 5" in progress.summary()
