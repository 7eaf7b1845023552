"""`surgsim score TRACE`: re-simulate a recorded session, check it, and score it against its procedure's rubric."""

from __future__ import annotations

import argparse
import sys

EXIT_PASS = 0
EXIT_FAIL = 1


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score a session trace (re-simulated and verified): metrics per step, 0-100 score, pass/fail",
        description="Score a session trace against the rubric of the procedure it was recorded with (found from the "
        "trace's header). By default the trainee's commands are re-simulated headless and the recorded events and "
        "samples must agree with the re-simulation within stated tolerances (surgsim/reproduction.py); the "
        "re-simulated outcome is scored. --no-verify scores the outcome as recorded (the report says "
        '"verified": false). The procedure\'s physics (scene, instruments, goals, zones) must be the recording\'s; '
        "its rubric may have changed since: the session is then rescored, and the report says so. Exit code: 0 "
        "pass, 1 fail, 2 bad input (unreadable trace, procedure missing or its physics changed, a recording the "
        "re-simulation does not reproduce). A trace cut short (no end record) is verified and scored up to its last "
        'record, with a warning and "truncated": true in the report.',
        epilog="examples:\n"
        "  surgsim score traces/session.jsonl\n"
        "  surgsim score session.jsonl --json session.score.json\n"
        "  surgsim score session.jsonl --procedure procedures/pattern_cutting.yaml   rescore with an edited rubric\n"
        "  surgsim score session.jsonl --no-verify          fast: trust the recorded outcome",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("trace", nargs="*", metavar="TRACE",
                        help="session traces (.jsonl); several are scored as a batch (surgsim.batch)")
    parser.add_argument("--json", metavar="OUT", dest="json_out", help="also write the report as JSON to OUT")
    parser.add_argument(
        "--procedure", metavar="FILE",
        help="score against this procedure file (moved since the recording, or with an edited rubric)",
    )
    parser.add_argument("--no-verify", action="store_true",
                        help="score the outcome recorded in the trace without re-simulating it")
    parser.add_argument("--arch", default="cpu", choices=("auto", "cuda", "vulkan", "metal", "cpu"),
                        help="compute backend of the re-simulation (default cpu)")
    # Batch scoring (surgsim.batch): several traces, worker processes or Ray, results into the trainee history.
    parser.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="score the traces in N worker processes (default with several traces: one per CPU core, "
                             "at most one per trace, as many as memory allows; 1 with --no-verify)")
    parser.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                        help="score the traces as Ray tasks: a local Ray instance, or the cluster at ADDRESS "
                             "(needs surgsim[cluster])")
    parser.add_argument("--trainee", metavar="ID", help="also record each attempt in this trainee's history")
    parser.add_argument("--manifest", metavar="CSV", help="traces and whose they are (columns trace, trainee)")
    parser.set_defaults(func=run, score_parser=parser)


def run(args) -> int:
    if not args.trace and not args.manifest:
        args.score_parser.error("the following arguments are required: TRACE (or --manifest CSV)")
    if len(args.trace) != 1 or args.jobs not in (None, 1) or args.ray or args.trainee or args.manifest:
        from surgsim.batch import run_batch

        return run_batch(args.trace, jobs=args.jobs, json_out=args.json_out, procedure=args.procedure,
                         trainee=args.trainee, manifest=args.manifest, ray_address=args.ray,
                         verify=not args.no_verify, arch=args.arch)
    args.trace = args.trace[0]
    from rich.console import Console

    from surgsim.fileio import prepare_output
    from surgsim.scoring import score_session
    from surgsim.scoring.inputs import load_session_source
    from surgsim.scoring.report import render

    if args.json_out:
        prepare_output(args.json_out)  # a folder or device in the way is refused before any work
    if args.no_verify:
        source = load_session_source(args.trace, args.procedure, allow_unproven=False)
        report = score_session(source.procedure.spec, source.trace, verified=False, source=source)
    else:
        from surgsim.verify import resimulate, scored_trace

        result = resimulate(args.trace, args.procedure, arch=args.arch)
        report = score_session(result.source.procedure.spec, scored_trace(result), verified=True,
                               source=result.source)
    if args.json_out:
        report.write_json(args.json_out)
    if report.truncated:
        print(
            f"surgsim: warning: {args.trace} was cut short (no end record); "
            f"{'verified and ' if report.verified else ''}scored up to its last record.",
            file=sys.stderr,
        )
    console = Console(width=None if Console().is_terminal else 110)
    render(report, console)
    return EXIT_PASS if report.passed else EXIT_FAIL
