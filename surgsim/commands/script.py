"""`surgsim script PROCEDURE SCRIPT.py -o TRACE`: run a scripted demonstration headless and record it."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import traceback
from pathlib import Path

from surgsim.errors import InputError

# A script that never ends still stops: this long past the procedure's own time limit at most.
DEFAULT_FUNCTION = "script"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "script",
        help="run a scripted demonstration (SCRIPT.py) headless, record its trace and score it",
        description="Run the generator function `script(ctl)` of SCRIPT.py on the procedure, headless, one physics "
        "tick per yield (see surgsim.script for the motions: grasp, retract, touch, cauterize, clip, cut_along, "
        "demonstrate), until it ends, the procedure is finished or its time limit passes. The session is recorded "
        "to TRACE and scored. Exit code: 0 pass, 1 fail, 2 bad input (or an error raised by the script).",
        epilog="examples:\n"
        "  surgsim script procedures/examples/tissue_lift.yaml lift.py -o expert.jsonl\n"
        "  surgsim script my_procedure.yaml demo.py --function novice -o novice.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("procedure", metavar="PROCEDURE", help="a procedure file, or the name of a shipped one")
    parser.add_argument("script", metavar="SCRIPT.py", help="a Python file defining script(ctl)")
    parser.add_argument("-o", "--output", required=True, metavar="TRACE", help="where to record the session")
    parser.add_argument("--function", default=DEFAULT_FUNCTION, metavar="NAME",
                        help=f"the generator function to run (default: {DEFAULT_FUNCTION})")
    parser.add_argument("--arch", default="cpu", choices=("auto", "cuda", "vulkan", "metal", "cpu"),
                        help="compute backend (default: cpu, as the shipped traces are recorded)")
    parser.add_argument("--json", metavar="OUT", dest="json_out", help="also write the score report as JSON")
    parser.set_defaults(func=run)


def load_script(path: str, function: str):
    """The generator function ``function`` of the Python file at ``path``."""
    source = Path(path)
    if not source.is_file():
        raise InputError(path, "no such script file.")
    spec = importlib.util.spec_from_file_location(f"surgsim_user_script_{source.stem}", source)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the user's file: say where it broke, not our traceback
        raise InputError(path, f"the script failed to load: {_where(error, source)}") from error
    script = getattr(module, function, None)
    if not callable(script):
        raise InputError(path, f"defines no function '{function}(ctl)'; write one that yields once per tick (see "
                               "surgsim.script), or name another with --function.")
    return script


def _where(error: BaseException, source: Path) -> str:
    """``Type: message (SCRIPT.py, line N)``: the innermost frame of the user's file."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if Path(frame.filename) == source]
    line = f" ({source.name}, line {frames[-1].lineno})" if frames else ""
    if isinstance(error, SyntaxError) and error.lineno:
        line = f" ({source.name}, line {error.lineno})"
    return f"{type(error).__name__}: {error}{line}."


def run(args) -> int:
    from rich.console import Console

    from surgsim.commands.run import resolve_procedure
    from surgsim.fileio import prepare_output
    from surgsim.scoring import score_session
    from surgsim.scoring.inputs import load_session_source
    from surgsim.scoring.report import render
    from surgsim.script import run_script
    from surgsim.session import Session

    procedure = resolve_procedure(args.procedure)
    script = load_script(args.script, args.function)
    output = Path(args.output)
    if output.exists():
        raise InputError(output, "a trace is never overwritten; choose another -o path.")
    prepare_output(output)  # a folder, a device or an unwritable place is refused before the session is built
    temporary = output.with_name(f".{output.name}.partial")
    temporary.unlink(missing_ok=True)
    try:
        session = Session(procedure, arch=args.arch, trace_path=temporary)
        with session:
            try:
                run_script(session, script, max_s=session.spec.time_limit_s)
            except InputError:
                raise
            except Exception as error:
                raise InputError(args.script, f"the script raised {_where(error, Path(args.script))} No trace was "
                                              "written.") from error
        source = load_session_source(temporary, allow_unproven=False)
        report = score_session(source.procedure.spec, source.trace, source=source)
        temporary.replace(output)
    finally:
        temporary.unlink(missing_ok=True)
    if args.json_out:
        report.write_json(args.json_out)
    render(report, Console(width=None if Console().is_terminal else 110))
    print(f"{session.time_s:.2f} s simulated; trace: {output}", file=sys.stderr)
    return 0 if report.passed else 1
