"""`surgsim validate FILE…` and `surgsim schema`: checking procedure files and exporting their JSON Schema."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    validate = subparsers.add_parser(
        "validate",
        help="check procedure files and report every problem with its line and column",
        description="Check procedure files. Every problem is reported as FILE:LINE:COLUMN: message; the exit code is "
        "0 when all files are valid and 2 otherwise. A file without problems of its own is then built into its scene "
        "(organs meshed, cached after the first time) to find regions that select no node of their organ, and "
        "anchors or grasp/retract goals on regions without tissue.",
        epilog="example:\n  surgsim validate procedures/*.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="procedure YAML files")
    validate.add_argument("--no-scene", action="store_true",
                          help="check the files only, without building their scenes (no meshing)")
    validate.set_defaults(func=run_validate)

    schema = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of procedure files (for editor completion)",
        description="Print the JSON Schema of procedure files on standard output.",
        epilog="example:\n  surgsim schema > procedures/procedure.schema.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    schema.set_defaults(func=run_schema)


def run_validate(args) -> int:
    from surgsim.procedure import check_procedure
    from surgsim.procedure.scene_builder import scene_issues

    problem_count = 0
    for path in args.files:
        procedure, issues = check_procedure(path)
        if procedure is not None and not args.no_scene:
            issues = scene_issues(procedure, str(path))
        for issue in issues:
            print(issue, file=sys.stderr)
        if issues:
            problem_count += len(issues)
        else:
            print(f"{path}: ok")
    if problem_count:
        print(f"{problem_count} problem{'s' if problem_count > 1 else ''} found.", file=sys.stderr)
        return 2
    return 0


def schema_text() -> str:
    from surgsim.procedure import procedure_json_schema

    return json.dumps(procedure_json_schema(), indent=2, ensure_ascii=False) + "\n"


def run_schema(args) -> int:
    sys.stdout.write(schema_text())
    return 0
