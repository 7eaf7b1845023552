"""`surgsim score --json OUT` where OUT cannot be written: exit 2 (never 1, which means "the trainee failed"), one
message naming OUT, and nothing left behind."""

from __future__ import annotations

import errno
import os
import pathlib

import pytest

from surgsim.cli import main


def score_into(expert_trace, out, capsys) -> tuple[int, str]:
    code = main(["score", "--no-verify", str(expert_trace), "--json", str(out)])  # a hand-written trace
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("code", "advice"),
    [(errno.EROFS, "the file system is read-only"), (errno.ENOSPC, "the disk is full"),
     (errno.EACCES, "you may not write there")],
)
def test_a_report_the_disk_refuses_is_exit_2_and_leaves_nothing(code, advice, expert_trace, tmp_path, monkeypatch,
                                                                 capsys):
    out = tmp_path / "reports" / "expert.json"

    def refused(self, data):
        raise OSError(code, os.strerror(code), str(self))

    monkeypatch.setattr(pathlib.Path, "write_bytes", refused)
    exit_code, err = score_into(expert_trace, out, capsys)
    assert exit_code == 2
    assert err.startswith(f"surgsim: error: {out}: cannot be written ({os.strerror(code)}); {advice}")
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert list(out.parent.iterdir()) == []  # neither the report nor its temporary file


def test_a_read_only_folder_is_refused_before_scoring(expert_trace, tmp_path, monkeypatch, capsys):
    out = tmp_path / "expert.json"

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr("surgsim.fileio.tempfile.mkstemp", read_only)
    exit_code, err = score_into(expert_trace, out, capsys)
    assert exit_code == 2 and f"{out}: cannot be written (Read-only file system)" in err
    assert not out.exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_or_folder_as_the_report_is_refused_and_kept(expert_trace, tmp_path, capsys):
    fifo, folder = tmp_path / "pipe.json", tmp_path / "folder.json"
    os.mkfifo(fifo)
    folder.mkdir()
    for out, kind in ((fifo, "a named pipe (FIFO)"), (folder, "a folder")):
        exit_code, err = score_into(expert_trace, out, capsys)
        assert exit_code == 2 and f"{out}: is {kind}; give the name of a file to write." in err
    assert fifo.exists() and not fifo.is_file() and folder.is_dir() and not any(folder.iterdir())


def test_a_report_under_a_file_names_the_file(expert_trace, tmp_path, capsys):
    blocker = tmp_path / "score.json"
    blocker.write_text("kept")
    exit_code, err = score_into(expert_trace, blocker / "expert.json", capsys)
    assert exit_code == 2 and f"{blocker} is a file, not a folder." in err
    assert blocker.read_text() == "kept"
