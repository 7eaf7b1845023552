"""How the CLI speaks: error paragraphs that tools can search, quiet start-up, `--verbose`, `surgsim doctor`'s advice."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from surgsim import cli
from surgsim.cli import main, report_input_error
from surgsim.errors import InputError

REPO = Path(__file__).resolve().parents[1]
PROBLEM = "the command at tick 351 cannot be replayed: left_grasper takes InstrumentCommand, not FreePoseCommand."


def surgsim_process(*argv: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    environment = {name: value for name, value in os.environ.items() if name != "SURGSIM_VERBOSE"}
    environment.update(env or {})
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          env=environment)


# -- error paragraphs --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name_length", [1, 20, 38, 60, 99, 150, 260])
def test_an_error_off_a_terminal_is_one_line_whatever_the_path_length(name_length, capsys):
    path = f"/tmp/{'d' * name_length}/wrong_kind.jsonl"
    report_input_error(InputError(path, PROBLEM))
    err = capsys.readouterr().err
    assert err == f"surgsim: error: {path}: {PROBLEM}\n"


def test_an_error_on_a_terminal_is_wrapped_to_its_width(capsys, monkeypatch):
    monkeypatch.setattr(cli, "_stderr_is_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "60")
    report_input_error(InputError("/tmp/some/where/session.jsonl", PROBLEM))
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) > 1 and all(len(line) < 60 for line in lines)
    assert " ".join(line.strip() for line in lines) == f"surgsim: error: /tmp/some/where/session.jsonl: {PROBLEM}"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_full_or_read_only_disk_anywhere_is_exit_2_without_a_traceback(code, monkeypatch, capsys):
    def validate_on_a_broken_disk(args):
        raise OSError(code, os.strerror(code), "/mnt/out/report.json")

    monkeypatch.setattr("surgsim.commands.procedure.run_validate", validate_on_a_broken_disk)
    assert main(["validate", "whatever.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("surgsim: error: /mnt/out/report.json: cannot be written") and os.strerror(code) in err


def test_other_os_errors_are_bugs_and_keep_their_traceback(monkeypatch):
    def validate_with_a_bug(args):
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr("surgsim.commands.procedure.run_validate", validate_with_a_bug)
    with pytest.raises(OSError):
        main(["validate", "whatever.yaml"])


# -- --verbose and quiet start-up --------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [["--verbose", "schema"], ["schema", "--verbose"], ["-v", "schema"],
                                  ["mesh", "info", "x.npz", "-v"]])
def test_verbose_is_accepted_before_and_after_the_command(argv):
    args = cli.build_parser().parse_args(argv)
    assert args.verbose is True


def test_without_verbose_the_flag_is_false_for_every_command():
    assert cli.build_parser().parse_args(["schema"]).verbose is False
    assert cli.build_parser().parse_args(["mesh", "info", "x.npz"]).verbose is False


QUIET_START = (
    "import sys; from surgsim import backend, instruments; backend.init('cpu'); print('started', file=sys.stderr)"
)


def test_start_up_prints_no_library_banners():
    started = surgsim_process("-c", QUIET_START)
    assert started.returncode == 0, started.stderr
    assert "started" in started.stderr
    output = started.stdout + started.stderr
    assert "pybullet build time" not in output and "[Taichi]" not in output


def test_verbose_start_up_shows_the_library_banners():
    started = surgsim_process("-c", QUIET_START, env={"SURGSIM_VERBOSE": "1"})
    assert started.returncode == 0, started.stderr
    output = started.stdout + started.stderr
    assert "pybullet build time" in output and "[Taichi] Starting on arch=" in output


def test_doctor_is_quiet_and_its_advice_keeps_square_brackets():
    doctor = surgsim_process("-m", "surgsim", "doctor")
    assert doctor.returncode in (0, 1), doctor.stderr
    assert "pybullet build time" not in doctor.stdout + doctor.stderr
    assert "Traceback" not in doctor.stderr


def test_doctor_prints_pip_extras_literally(monkeypatch, capsys):
    from surgsim.doctor import Check

    checks = [Check("packages", "pyopenhaptics", False, "3D Systems Touch [device]", "pip install 'surgsim[haptics]'",
                    required=False)]
    monkeypatch.setattr("surgsim.doctor.run_checks", lambda: checks)
    assert main(["doctor"]) == 0
    printed = capsys.readouterr().out
    assert "pip install 'surgsim[haptics]'" in printed and "[device]" in printed
