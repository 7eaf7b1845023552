"""`surgsim doctor`: a table of what works here and what to install."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check Python, packages, GPU backends, display and devices",
        description="Check what works on this machine and say what to install for what does not.",
        epilog="example:\n  surgsim doctor",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=run)


def run(args) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from surgsim.doctor import all_required_ok, run_checks

    checks = run_checks()
    table = Table(title="surgsim doctor", show_lines=False)
    for column in ("area", "item", "status", "detail", "to fix"):
        table.add_column(column)
    for check in checks:
        if check.ok:
            status = "[green]ok[/green]"
        elif check.required:
            status = "[red]missing[/red]"
        else:
            status = "[yellow]optional[/yellow]"
        # The checks' own words are plain text: "pip install 'surgsim[haptics]'" must not be read as rich markup.
        cells = (check.area, check.name, check.detail, "" if check.ok else check.fix)
        area, name, detail, fix = (escape(cell) for cell in cells)
        table.add_row(area, name, status, detail, fix)
    console = Console(width=None if Console().is_terminal else 140)
    console.print(table)
    if all_required_ok(checks):
        console.print("Everything surgsim needs is here.")
        return 0
    console.print("[red]Some required parts are missing: see 'to fix'.[/red]")
    return 1
