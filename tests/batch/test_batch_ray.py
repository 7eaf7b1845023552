"""Batch scoring as Ray tasks on a local Ray instance: the same report bytes as the local pool.

Needs the optional extra (pip install "surgsim[cluster]"); skipped without it. tools/check_ray_batch.sh installs it in
a throw-away virtual environment and runs this test.
"""

from __future__ import annotations

import pytest
from test_batch import traces  # noqa: F401  (fixture)

from surgsim.batch import score_many, score_many_ray

pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'surgsim[cluster]'")


def test_ray_tasks_give_the_same_bytes_as_the_pool(traces):  # noqa: F811
    pool = score_many(traces, jobs=1, verify=False)
    finished = []
    on_ray = score_many_ray(traces, "local", progress=finished.append, verify=False)
    assert [result.trace for result in on_ray] == traces
    assert [result.report_json for result in on_ray] == [result.report_json for result in pool]
    assert sorted(result.trace for result in finished) == sorted(traces)
