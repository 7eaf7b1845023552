"""`surgsim report`: self-contained HTML reports of a session, a trainee, or a cohort."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from surgsim.errors import InputError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="HTML report of a session, a trainee's history, or a cohort (expert vs novice)",
        description="Write one self-contained HTML file (figures embedded as PNG; opens offline in any browser). "
        "--png DIR also writes each figure as its own PNG.",
        epilog="examples:\n"
        "  surgsim report session sessions/alice-1.jsonl -o alice-1.html\n"
        "  xvfb-run -a surgsim report session s.jsonl --replay -o s.html   (verified, with the last frame)\n"
        "  surgsim report trainee alice -o alice.html --png figures/\n"
        "  surgsim report cohort liver_retraction --experts e/*.jsonl --novices n/*.jsonl -o cohort.html\n"
        "  surgsim report cohort liver_retraction --expert-group faculty --novice-group PGY-1 -o cohort.html",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = parser.add_subparsers(dest="report_kind", metavar="KIND", required=True)

    session = kinds.add_parser("session", help="one session: result, metrics, steps, force over time, tip paths",
                               description="One session: verdict, metrics with rubric points, per-step table, tip "
                               "force over time with the force limit, tip paths in three projections, and the last "
                               "frame when given with --snapshot.")
    session.add_argument("trace", metavar="TRACE")
    session.add_argument("--procedure", metavar="FILE", help="the procedure file, when not where the header says")
    session.add_argument("--snapshot", metavar="PNG", help="a last-frame PNG to include (surgsim replay --snapshot)")
    session.add_argument("--replay", action="store_true",
                         help="re-simulate the session: check it reproduces the recording, and draw its last frame "
                              "when a display (or Xvfb) is available")
    session.add_argument("--arch", default="cpu", choices=("auto", "cuda", "vulkan", "metal", "cpu"),
                         help="backend for --replay (default cpu)")
    _output_options(session)
    session.set_defaults(func=run_session)

    trainee = kinds.add_parser("trainee", help="one trainee: learning curves, CUSUM charts, proficiency",
                               description="One trainee from the history: per procedure the score and every "
                               "benchmarked metric over attempts, the CUSUM and LC-CUSUM charts, and proficiency.")
    trainee.add_argument("trainee", metavar="ID")
    trainee.add_argument("--procedure", metavar="NAME", help="only this procedure (default: every one attempted)")
    from surgsim.commands.history import add_learning_options

    add_learning_options(trainee)
    _output_options(trainee)
    trainee.set_defaults(func=run_trainee)

    cohort = kinds.add_parser("cohort", help="experts vs novices: distributions, Mann-Whitney U, effect size, ROC",
                              description="Expert and novice sessions of one procedure: each metric's distribution "
                              "per group, Mann-Whitney U with its p-value and effect size, and the ROC curve of the "
                              "score with the pass mark (the procedure's, or --rubric's).")
    cohort.add_argument("procedure", metavar="PROCEDURE", help="a procedure file, or the name of a shipped one")
    cohort.add_argument("--experts", nargs="+", default=[], metavar="TRACE", help="expert session traces")
    cohort.add_argument("--novices", nargs="+", default=[], metavar="TRACE", help="novice session traces")
    cohort.add_argument("--expert-group", metavar="GROUP",
                        help="also the attempts of the trainees in this history group (surgsim history cohort)")
    cohort.add_argument("--novice-group", metavar="GROUP", help="likewise for the novices")
    cohort.add_argument("--rubric", metavar="RUBRIC.yaml", help="score with this rubric (surgsim rubric derive output)")
    _output_options(cohort)
    cohort.set_defaults(func=run_cohort)


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", required=True, metavar="OUT.html", help="the HTML file to write")
    parser.add_argument("--png", metavar="DIR", help="also write every figure as DIR/<figure>.png")


def _write(page, args) -> int:
    if not str(args.output).lower().endswith((".html", ".htm")):
        raise InputError(args.output, "the report is HTML; give the output a .html name.")
    if args.png and Path(args.png).exists() and not Path(args.png).is_dir():
        raise InputError(args.png, "--png names a folder for the figures, and this is a file.")
    page.write(args.output)
    print(f"wrote {args.output}", file=sys.stderr)
    if args.png:
        for path in page.write_pngs(args.png):
            print(f"wrote {path}", file=sys.stderr)
    return 0


def run_session(args) -> int:
    from surgsim.reports.kinds import session_page

    return _write(session_page(args.trace, args.procedure, args.snapshot, args.replay, args.arch), args)


def run_trainee(args) -> int:
    from surgsim.commands.history import learning_settings
    from surgsim.reports.kinds import trainee_page

    return _write(trainee_page(args.trainee, args.procedure, learning_settings(args), args.consecutive), args)


def run_cohort(args) -> int:
    from surgsim.commands.run import resolve_procedure
    from surgsim.reports.kinds import cohort_page

    procedure = resolve_procedure(args.procedure)
    return _write(cohort_page(str(procedure), args.experts, args.novices, args.rubric, args.expert_group,
                              args.novice_group), args)
