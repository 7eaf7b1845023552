"""`surgsim score TRACE... --jobs N`: the batch through the command line gives the one-by-one reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from test_batch import one_by_one, traces  # noqa: F401  (fixture)

from surgsim.cli import main


def test_score_many_traces_with_jobs_writes_the_one_by_one_reports(traces, tmp_path, capsys):  # noqa: F811
    expected = one_by_one(traces, tmp_path / "single")
    folder = tmp_path / "batch"
    assert main(["score", *traces, "--no-verify", "--jobs", "2", "--json", str(folder)]) == 1  # the novices fail
    for trace in traces:
        assert (folder / (Path(trace).stem + ".score.json")).read_bytes() == expected[trace]
    assert f"{len(traces)} trace(s)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exited:  # nothing to score: a usage error
        main(["score", "--jobs", "2"])
    assert exited.value.code == 2
    assert main(["score", traces[0], "--jobs", "0"]) == 2


def test_score_with_a_manifest_records_whose_each_trace_is(traces, tmp_path, monkeypatch):  # noqa: F811
    from surgsim.history import open_history

    monkeypatch.setenv("SURGSIM_HOME", str(tmp_path / "home"))
    manifest = tmp_path / "course.csv"
    manifest.write_text("trace,trainee\n" + "".join(f"{Path(t).name},trainee{k % 3}\n" for k, t in enumerate(traces)))
    assert main(["score", "--manifest", str(manifest), "--no-verify", "--jobs", "2"]) == 1
    with open_history() as history:
        assert {trainee: len(history.attempts(trainee)) for trainee in history.trainees()} == {
            "trainee0": 2, "trainee1": 2, "trainee2": 2}
