"""`surgsim score TRACE`: score a recorded session against its procedure's rubric."""

from __future__ import annotations

import argparse
import sys

EXIT_PASS = 0
EXIT_FAIL = 1


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score a session trace: metrics per step, 0-100 score, pass/fail",
        description="Score a session trace against the rubric of the procedure it was recorded with (found from the "
        "trace's header and checked by its sha256). Prints a table; --json also writes the report. Exit code: 0 pass, "
        "1 fail, 2 bad input. A trace cut short (no end record) is scored up to its last record, with a warning and "
        '"truncated": true in the report.',
        epilog="examples:\n"
        "  surgsim score traces/session.jsonl\n"
        "  surgsim score session.jsonl --json session.score.json\n"
        "  surgsim score moved.jsonl --procedure procedures/pattern_cutting.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("trace", nargs="*", metavar="TRACE",
                        help="session traces (.jsonl); several are scored as a batch (surgsim.batch)")
    parser.add_argument("--json", metavar="OUT", dest="json_out", help="also write the report as JSON to OUT")
    parser.add_argument(
        "--procedure", metavar="FILE", help="the procedure file, when it is no longer where the trace's header says"
    )
    # Batch scoring (surgsim.batch): several traces, worker processes or Ray, results into the trainee history.
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="score the traces in N worker processes")
    parser.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                        help="score the traces as Ray tasks: a local Ray instance, or the cluster at ADDRESS "
                             "(needs surgsim[cluster])")
    parser.add_argument("--trainee", metavar="ID", help="also record each attempt in this trainee's history")
    parser.add_argument("--manifest", metavar="CSV", help="traces and whose they are (columns trace, trainee)")
    parser.set_defaults(func=run, score_parser=parser)


def run(args) -> int:
    if not args.trace and not args.manifest:
        args.score_parser.error("the following arguments are required: TRACE (or --manifest CSV)")
    if len(args.trace) != 1 or args.jobs != 1 or args.ray or args.trainee or args.manifest:
        from surgsim.batch import run_batch

        return run_batch(args.trace, jobs=args.jobs, json_out=args.json_out, procedure=args.procedure,
                         trainee=args.trainee, manifest=args.manifest, ray_address=args.ray)
    args.trace = args.trace[0]
    from rich.console import Console

    from surgsim.fileio import prepare_output
    from surgsim.scoring import load_session, score_session
    from surgsim.scoring.report import render

    if args.json_out:
        prepare_output(args.json_out)  # a folder or device in the way is refused before any work
    procedure, trace = load_session(args.trace, args.procedure)
    report = score_session(procedure.spec, trace)
    if args.json_out:
        report.write_json(args.json_out)
    if report.truncated:
        print(
            f"surgsim: warning: {args.trace} was cut short (no end record); scored up to its last record.",
            file=sys.stderr,
        )
    console = Console(width=None if Console().is_terminal else 110)
    render(report, console)
    return EXIT_PASS if report.passed else EXIT_FAIL
