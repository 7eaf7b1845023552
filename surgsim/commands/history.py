"""`surgsim history`: the trainee history — list attempts, import traces, follow a trainee's progress."""

from __future__ import annotations

import argparse
import json
import sys

from surgsim.errors import InputError
from surgsim.history.record import check_trainee_id

def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "history",
        help="trainee history: list attempts, import traces (add), learning curve and proficiency (progress)",
        description="The trainee history: every recorded attempt (trainee, procedure and its sha256, session time, "
        "score, metrics, trace) in a SQLite database under $SURGSIM_HOME, else the user's data directory "
        "(~/.local/share/surgsim/history.sqlite3 on Linux). Without a subcommand: list attempts. `surgsim run "
        "--trainee ID` records attempts as they end.",
        epilog="examples:\n"
        "  surgsim history add sessions/*.jsonl --trainee alice\n"
        "  surgsim history --trainee alice --procedure liver_retraction\n"
        "  surgsim history --json > attempts.json\n"
        "  surgsim history progress --trainee alice --procedure liver_retraction\n"
        "  surgsim history cohort alice PGY-2",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--trainee", dest="list_trainee", metavar="ID", help="only this trainee's attempts")
    parser.add_argument("--procedure", dest="list_procedure", metavar="NAME", help="only attempts at this procedure")
    parser.add_argument("--json", dest="list_json", action="store_true", help="print the attempts as JSON")
    parser.set_defaults(func=list_attempts)
    commands = parser.add_subparsers(dest="history_command", metavar="SUBCOMMAND")

    add = commands.add_parser(
        "add",
        help="import recorded traces as attempts of a trainee (--trainee) or of those a manifest names",
        description="Score each trace (its recorded outcome, as `surgsim score` does) and record it as an attempt of "
        "the trainee. All or nothing: if any trace cannot be scored, nothing is recorded. A trace already in this "
        "trainee's history (same sha256) is skipped.",
    )
    add.add_argument("traces", nargs="*", metavar="TRACE", help="session traces (.jsonl)")
    add.add_argument("--trainee", metavar="ID", help="whose attempts these are")
    add.add_argument("--manifest", metavar="CSV",
                     help="a CSV file with the columns trace and trainee: whose each trace is (paths relative to it)")
    add.add_argument("--procedure", metavar="FILE", help="the procedure file, when not where the traces' headers say")
    add.set_defaults(func=add_traces)

    progress = commands.add_parser(
        "progress",
        help="a trainee's learning curve, CUSUM / LC-CUSUM and proficiency at one procedure",
        description="Score and metrics over the trainee's attempts at the procedure; the CUSUM (signals a failure "
        "rate at the unacceptable level) and LC-CUSUM (signals that the trainee has reached the acceptable level) of "
        "failed attempts (Biau et al. 2007, 2008); proficient once every benchmarked metric of the rubric is at the "
        "expert benchmark on N consecutive attempts.",
    )
    progress.add_argument("--trainee", required=True, metavar="ID")
    progress.add_argument("--procedure", required=True, metavar="NAME", help="procedure name as listed by history")
    add_learning_options(progress)
    progress.add_argument("--json", action="store_true", help="print the progress as JSON")
    progress.set_defaults(func=show_progress)

    cohort = commands.add_parser(
        "cohort", help="put a trainee in a group (for cohort reports)",
        description="Put a trainee in a group (e.g. expert, novice, PGY-2); `-` takes them out of any group.",
    )
    cohort.add_argument("trainee", metavar="ID")
    cohort.add_argument("group", metavar="GROUP")
    cohort.set_defaults(func=set_cohort)


def add_learning_options(parser: argparse.ArgumentParser) -> None:
    """The options of the learning-curve analysis, shared with `surgsim report trainee`."""
    parser.add_argument("--consecutive", type=int, default=2, metavar="N",
                        help="attempts in a row meeting every benchmark for proficiency (default 2, as in FLS)")
    parser.add_argument("--acceptable", type=float, default=0.10, metavar="P",
                        help="acceptable failure rate p0 for the CUSUM charts (default 0.10)")
    parser.add_argument("--unacceptable", type=float, default=0.30, metavar="P",
                        help="unacceptable failure rate p1 (default 0.30)")
    parser.add_argument("--alpha", type=float, default=0.05, metavar="A",
                        help="type I error for the charts' decision limits (default 0.05)")
    parser.add_argument("--beta", type=float, default=0.20, metavar="B",
                        help="type II error for the decision limits (default 0.20)")


def learning_settings(args):
    from surgsim.history.learning import CusumSettings

    if args.consecutive < 1:
        raise InputError("--consecutive", "must be at least 1 attempt.")
    return CusumSettings.checked(args.acceptable, args.unacceptable, args.alpha, args.beta)


def list_attempts(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from surgsim.history import open_history

    with open_history() as history:
        attempts = history.attempts(args.list_trainee, args.list_procedure)
        where = history.path
    if args.list_json:
        print(json.dumps([attempt.to_json() for attempt in attempts], indent=2, sort_keys=True))
        return 0
    console = Console(width=None if Console().is_terminal else 140)
    if not attempts:
        console.print(f"no attempts recorded yet in {where} matching the filter")
        return 0
    table = Table(title=f"attempts ({where})", title_justify="left")
    for column in ("#", "trainee", "procedure", "session (UTC)", "score", "result", "scored", "trace"):
        table.add_column(column, justify="right" if column in ("#", "score") else "left")
    for attempt in attempts:
        table.add_row(str(attempt.id), attempt.trainee, attempt.procedure_name, attempt.session_time,
                      f"{attempt.score:.1f}", "pass" if attempt.passed else "fail", attempt.verification,
                      attempt.trace_path)
    console.print(table)
    return 0


def add_traces(args) -> int:
    from surgsim.history import open_history, score_trace_for_history

    from surgsim.history.record import read_manifest

    pairs = read_manifest(args.manifest) if args.manifest else []
    if args.traces:
        if not args.trainee:
            raise InputError("--trainee", "say whose the traces are: --trainee ID (or list them in a --manifest).")
        pairs += [(trace, check_trainee_id(args.trainee)) for trace in args.traces]
    elif args.trainee and not args.manifest:
        raise InputError("TRACE", "no traces given: list the trace files to record for the trainee.")
    if not pairs:
        raise InputError("TRACE", "no traces given: list trace files with --trainee ID, or give a --manifest.")
    # Score everything before opening the database, so that a bad trace leaves the history as it was.
    attempts = [score_trace_for_history(trainee, trace, args.procedure) for trace, trainee in pairs]
    with open_history() as history:
        ids = history.add_all(attempts)
        where = history.path
    for (trace, trainee), attempt, attempt_id in zip(pairs, attempts, ids):
        outcome = "pass" if attempt.report["passed"] else "fail"
        if attempt_id is None:
            print(f"{trace}: already in {trainee}'s history, skipped")
        else:
            print(f"{trace}: attempt {attempt_id} of {trainee}, {attempt.report['procedure']['name']}, "
                  f"score {attempt.report['score']:.1f} ({outcome})")
    trainees = ", ".join(sorted({trainee for _, trainee in pairs}))
    print(f"{sum(i is not None for i in ids)} attempt(s) recorded for {trainees} in {where}", file=sys.stderr)
    return 0


def show_progress(args) -> int:
    from rich.console import Console

    from surgsim.history import open_history
    from surgsim.history.learning import progress_of

    settings = learning_settings(args)
    with open_history() as history:
        attempts = history.attempts(args.trainee, args.procedure)
    if not attempts:
        raise InputError("--trainee", f"{args.trainee} has no recorded attempts at '{args.procedure}'.")
    progress = progress_of(attempts, settings, consecutive=args.consecutive)
    if args.json:
        print(json.dumps(progress.to_json(), indent=2, sort_keys=True))
        return 0
    console = Console(width=None if Console().is_terminal else 140)
    render_progress(progress, console)
    return 0


def render_progress(progress, console) -> None:
    from rich.table import Table

    table = Table(title=f"{progress.trainee} — {progress.procedure}", title_justify="left")
    for column in ("attempt", "score", "result", "benchmarks met", "CUSUM", "LC-CUSUM"):
        table.add_column(column, justify="left" if column == "result" else "right")
    for k, row in enumerate(progress.rows):
        met = sum(row.benchmarks_met.values())
        table.add_row(str(k + 1), f"{row.score:.1f}", "pass" if row.passed else "fail",
                      f"{met}/{len(row.benchmarks_met)}", f"{progress.cusum.values[k]:.2f}",
                      f"{progress.lc_cusum.values[k]:.2f}")
    console.print(table)
    console.print(progress.summary())


def set_cohort(args) -> int:
    from surgsim.history import open_history

    trainee = check_trainee_id(args.trainee)
    group = None if args.group == "-" else args.group.strip()
    if group == "":
        raise InputError("GROUP", "a group name cannot be empty; use - to take the trainee out of any group.")
    with open_history() as history:
        history.set_cohort(trainee, group)
    print(f"{trainee}: {'in no group' if group is None else 'group ' + group}")
    return 0
