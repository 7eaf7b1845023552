"""`surgsim rubric derive`: a procedure's rubric benchmarks from recorded expert (and novice) sessions."""

from __future__ import annotations

import argparse
import datetime
import sys

from surgsim.errors import InputError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "rubric",
        help="rubric benchmarks from recorded sessions (rubric derive)",
        description="Work with a procedure's scoring rubric.",
    )
    commands = parser.add_subparsers(dest="rubric_command", metavar="SUBCOMMAND", required=True)
    derive = commands.add_parser(
        "derive",
        help="derive benchmarks (expert, zero_at, pass mark) from expert and novice traces",
        description="Score the expert (and novice) traces of a procedure and derive its rubric: per metric n, mean, "
        "median, SD and 95%% CI; `expert` from the experts' mean (or median), `zero_at` from the novices (or the "
        "expert spread), and with novices a contrasting-groups pass mark with its sensitivity and specificity. "
        "Writes the rubric block, the statistics and a provenance block (sessions, dates, surgsim version, the "
        "procedure's sha256) as YAML. Weights and the other pass thresholds are kept from the procedure.",
        epilog="examples:\n"
        "  surgsim rubric derive liver_retraction --experts experts/*.jsonl -o liver_retraction.rubric.yaml\n"
        "  surgsim rubric derive procedures/pattern_cutting.yaml --experts e/*.jsonl --novices n/*.jsonl "
        "-o pc.rubric.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    derive.add_argument("procedure", metavar="PROCEDURE", help="a procedure file, or the name of a shipped one")
    derive.add_argument("--experts", nargs="+", default=[], metavar="TRACE", help="expert session traces")
    derive.add_argument("--novices", nargs="+", default=[], metavar="TRACE", help="novice session traces")
    derive.add_argument("--expert-group", metavar="GROUP",
                        help="also the attempts of the trainees in this history group (surgsim history cohort)")
    derive.add_argument("--novice-group", metavar="GROUP", help="likewise for the novices")
    derive.add_argument("--statistic", choices=("mean", "median"), default="mean",
                        help="expert benchmark and novice anchor: mean (default) or median")
    derive.add_argument("-o", "--output", required=True, metavar="RUBRIC.yaml", help="where to write the result")
    derive.set_defaults(func=run_derive)


def run_derive(args) -> int:
    import yaml
    from rich.console import Console
    from rich.table import Table

    from surgsim.commands.run import resolve_procedure
    from surgsim.derivation import derive_rubric, score_traces
    from surgsim.fileio import atomic_output
    from surgsim.procedure.loader import load_procedure

    procedure = load_procedure(resolve_procedure(args.procedure))
    overlap = set(args.experts) & set(args.novices)
    if overlap:
        raise InputError(sorted(overlap)[0], "is given both as an expert and as a novice session.")
    experts = score_traces(procedure.path, args.experts)
    novices = score_traces(procedure.path, args.novices)
    if args.expert_group or args.novice_group:
        from surgsim.reports.kinds import group_sessions

        experts += group_sessions(procedure, args.expert_group) if args.expert_group else []
        novices += group_sessions(procedure, args.novice_group) if args.novice_group else []
    if not experts:
        raise InputError("--experts", "benchmarks need expert sessions: traces, or a history group with "
                                      "--expert-group.")
    derivation = derive_rubric(procedure, experts, novices, args.statistic)
    derived_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    text = (
        f"# Rubric of {procedure.spec.name} derived by `surgsim rubric derive` from {len(experts)} expert and "
        f"{len(novices)} novice session(s).\n"
        "# Copy `rubric:` into the procedure file to use it; `derivation` and `provenance` record how it was made.\n"
        + yaml.safe_dump(derivation.to_yaml_data(derived_at), sort_keys=False, width=120, allow_unicode=True)
    )
    with atomic_output(args.output) as tmp:
        tmp.write_text(text)

    console = Console(width=None if Console().is_terminal else 120)
    table = Table(title=f"{procedure.spec.title}: derived benchmarks", title_justify="left")
    for column in ("metric", "n", "expert mean", "SD", "95% CI", "novice mean", "expert", "zero at", "from"):
        table.add_column(column, justify="left" if column in ("metric", "from") else "right")
    for metric in derivation.metrics:
        experts_summary, novices_summary = metric.experts, metric.novices
        ci = f"{experts_summary.ci95[0]:.3g}–{experts_summary.ci95[1]:.3g}" if experts_summary.ci95 else "-"
        table.add_row(
            metric.metric, str(experts_summary.n), _fmt(experts_summary.mean), _fmt(experts_summary.sd), ci,
            _fmt(novices_summary.mean) if novices_summary else "-", _fmt(metric.expert), _fmt(metric.zero_at),
            metric.zero_at_from,
        )
    console.print(table)
    if derivation.pass_mark is not None:
        mark = derivation.pass_mark
        console.print(f"pass mark (contrasting groups): {mark.threshold:.1f}, sensitivity {mark.sensitivity:.2f}, "
                      f"specificity {mark.specificity:.2f}")
    if len(experts) < 5:
        print(f"surgsim: warning: only {len(experts)} expert session(s); benchmarks from so few are uncertain "
              "(see the 95% CI).", file=sys.stderr)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
