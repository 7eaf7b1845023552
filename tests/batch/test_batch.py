"""Batch scoring: the same report bytes as scoring one by one, in the order given, bad traces reported not fatal."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from scripted_sessions import expert_session, novice_session, write_scripted_trace

from surgsim.batch import json_paths, run_batch, score_many
from surgsim.cli import main
from surgsim.errors import InputError

SCORING_TESTS = Path(__file__).parents[1] / "scoring"


@pytest.fixture
def traces(tmp_path) -> list[str]:
    procedure = Path(shutil.copy(SCORING_TESTS / "box_trainer.yaml", tmp_path / "box_trainer.yaml"))
    paths = []
    for k, end_s in enumerate((20.0, 23.0, 26.0)):
        tips, events = expert_session()
        paths.append(write_scripted_trace(tmp_path / f"expert{k}.jsonl", procedure, tips, events, end_s=end_s))
        tips, events = novice_session()
        paths.append(write_scripted_trace(tmp_path / f"novice{k}.jsonl", procedure, tips, events, end_s=end_s + 5,
                                          end_reason="quit"))
    return [str(path) for path in paths]


def one_by_one(traces: list[str], folder: Path) -> dict[str, bytes]:
    reports = {}
    for trace in traces:
        out = folder / (Path(trace).stem + ".score.json")
        assert main(["score", trace, "--no-verify", "--json", str(out)]) in (0, 1)
        reports[trace] = out.read_bytes()
    return reports


def test_pool_gives_the_same_bytes_as_one_by_one_in_order(traces, tmp_path):
    expected = one_by_one(traces, tmp_path / "single")
    for jobs in (1, 2):
        results = score_many(traces, jobs=jobs, verify=False)
        assert [result.trace for result in results] == traces
        for result in results:
            assert result.report_json == expected[result.trace], (jobs, result.trace)
    assert [result.passed for result in results] == [True, False] * 3


def test_run_batch_writes_each_report_and_exit_code(traces, tmp_path, capsys):
    expected = one_by_one(traces, tmp_path / "single")
    folder = tmp_path / "batch"
    # the novices fail
    assert run_batch(traces, jobs=2, json_out=str(folder), procedure=None, trainee=None, verify=False) == 1
    for trace, path in zip(traces, json_paths(traces, folder)):
        assert path.read_bytes() == expected[trace]
    # experts only
    assert run_batch(traces[::2], jobs=2, json_out=None, procedure=None, trainee=None, verify=False) == 0
    assert "3 trace(s)" in capsys.readouterr().out


def test_a_bad_trace_is_reported_and_the_rest_still_scored(traces, tmp_path, capsys):
    broken = tmp_path / "broken.jsonl"
    broken.write_text("not a trace\n")
    mixed = [traces[0], str(broken), traces[2]]
    results = score_many(mixed, jobs=2, verify=False)
    assert [result.ok for result in results] == [True, False, True]
    assert str(broken) in results[1].problem
    folder = tmp_path / "out"
    assert run_batch(mixed, jobs=2, json_out=str(folder), procedure=None, trainee=None, verify=False) == 2
    assert sorted(path.name for path in folder.iterdir()) == ["expert0.score.json", "expert1.score.json"]
    assert str(broken) in capsys.readouterr().err


def test_same_names_and_bad_jobs_are_input_errors(traces, tmp_path):
    with pytest.raises(InputError):
        json_paths([traces[0], str(tmp_path / "elsewhere" / Path(traces[0]).name)], tmp_path)
    with pytest.raises(InputError):
        score_many(traces, jobs=0)


def test_results_go_into_the_trainee_history(traces, tmp_path, monkeypatch):
    from surgsim.history import open_history

    monkeypatch.setenv("SURGSIM_HOME", str(tmp_path / "home"))
    assert run_batch(traces, jobs=2, json_out=None, procedure=None, trainee="dana", verify=False) == 1
    with open_history() as history:
        assert [attempt.trace_path for attempt in history.attempts("dana")] == [
            str(Path(trace).resolve()) for trace in traces]


def test_a_manifest_records_each_trace_for_its_trainee(traces, tmp_path, monkeypatch):
    from surgsim.history import open_history

    monkeypatch.setenv("SURGSIM_HOME", str(tmp_path / "home"))
    manifest = tmp_path / "course.csv"
    manifest.write_text("trace,trainee\n" + "".join(f"{Path(t).name},{'gail' if k % 2 else 'hugo'}\n"
                                                    for k, t in enumerate(traces)))
    assert run_batch([], jobs=2, json_out=None, procedure=None, trainee=None, manifest=str(manifest),
                     verify=False) == 1
    with open_history() as history:
        assert len(history.attempts("hugo")) == 3 and all(a.passed for a in history.attempts("hugo"))
        assert len(history.attempts("gail")) == 3 and not any(a.passed for a in history.attempts("gail"))


def test_workers_are_spawned_not_forked_so_a_process_that_ran_taichi_can_batch():
    from surgsim.batch import worker_pool

    with worker_pool(1) as pool:
        assert pool._mp_context.get_start_method() == "spawn"
        assert pool.submit(os.getpid).result(timeout=60) != os.getpid()


def test_default_jobs_use_the_cores_for_re_simulation_only(monkeypatch):
    from surgsim import batch

    monkeypatch.setattr(batch.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(batch, "_memory_for_workers", lambda: 64)
    assert batch.default_jobs(10, verify=True) == 4  # one per core
    assert batch.default_jobs(3, verify=True) == 3  # one per trace at most
    assert batch.default_jobs(1, verify=True) == 1
    assert batch.default_jobs(10, verify=False) == 1  # reading a recorded outcome: cheaper than a worker's start
    monkeypatch.setattr(batch, "_memory_for_workers", lambda: 2)
    assert batch.default_jobs(10, verify=True) == 2  # as many as the memory holds


def test_memory_for_workers_reads_the_available_memory(monkeypatch):
    from surgsim import batch

    available = batch._available_memory_bytes()
    assert available is None or available > 0
    if available is not None:
        assert abs(batch._memory_for_workers() - available // batch.WORKER_MEMORY_BYTES) <= 1
    monkeypatch.setattr(batch, "_available_memory_bytes", lambda: 3 * batch.WORKER_MEMORY_BYTES + 1)
    assert batch._memory_for_workers() == 3
    monkeypatch.setattr(batch, "_available_memory_bytes", lambda: 10)
    assert batch._memory_for_workers() == 1  # never none
    monkeypatch.setattr(batch, "_available_memory_bytes", lambda: None)
    assert batch._memory_for_workers() > 1000  # the system does not say: no limit from memory


def test_the_command_line_picks_the_default_jobs_for_several_traces(traces, monkeypatch):
    from surgsim import batch

    seen = []

    def recording_score_many(traces, jobs, procedure, progress=None, verify=True, arch="cpu"):
        seen.append((len(traces), jobs, verify))
        return [batch.score_one(trace, procedure, verify, arch) for trace in traces]

    monkeypatch.setattr(batch, "score_many", recording_score_many)
    monkeypatch.setattr(batch, "default_jobs", lambda count, verify=True: 7 if verify else 1)
    assert main(["score", *traces[:2], "--no-verify"]) == 1
    assert main(["score", *traces[:2], "--no-verify", "--jobs", "3"]) == 1
    assert seen == [(2, 1, False), (2, 3, False)]


def test_the_longest_traces_go_to_the_workers_first_and_results_keep_the_given_order(traces, monkeypatch):
    from concurrent.futures import Future

    from surgsim import batch

    submitted = []

    class InlinePool:
        def __enter__(self):
            return self

        def __exit__(self, *exc_info):
            return False

        def submit(self, function, trace, *args):
            submitted.append(trace)
            future = Future()
            future.set_result(function(trace, *args))
            return future

    monkeypatch.setattr(batch, "worker_pool", lambda workers: InlinePool())
    results = batch.score_many(traces, jobs=2, verify=False)
    assert [result.trace for result in results] == traces
    sizes = [os.path.getsize(trace) for trace in submitted]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]
