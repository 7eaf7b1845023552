"""The ``surgsim`` command line.

Each command group lives in its own module under :mod:`surgsim.commands` and exposes ``register(subparsers)``; the
module adds its parser(s) and sets ``func`` to a handler ``handler(args) -> int``. This file only wires them and turns
:class:`~surgsim.errors.InputError` into a one-paragraph message and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import textwrap

from surgsim import __version__
from surgsim.errors import InputError

# Order is the order shown by --help.
COMMAND_MODULES = ("demo", "doctor", "run", "mesh", "procedure", "score", "replay", "bench")

EPILOG = """\
examples:
  surgsim demo                                     the default procedure (headless: replay, score, snapshot)
  surgsim run liver_retraction                     train in a window (mouse/keyboard or --device touch)
  surgsim doctor                                   what works on this machine and what to install
  surgsim mesh import assets/meshes/liver.stl -o liver.npz --target-nodes 3000
  surgsim mesh import seg.nii.gz --label liver=5,gallbladder=4 -o organs.npz
  surgsim mesh info liver.npz                      counts, size, volume, mesh quality
  surgsim validate procedures/*.yaml               check procedure files (file:line:column errors)
  surgsim schema > procedures/procedure.schema.json    JSON Schema for editor completion
  surgsim score session.jsonl --json score.json    score a recorded session (exit 0 pass, 1 fail)
  surgsim replay session.jsonl                     re-run a session headless, check it reproduces, score it
  surgsim bench solver                             solver speed on 1k-100k node meshes
  surgsim bench tick                               the whole tick by stage, real-time factor per procedure
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="surgsim",
        description="surgsim: patient-specific surgical training simulator.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"surgsim {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"surgsim.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"surgsim.commands.{name}":
                continue  # a command group not built yet
            raise
        module.register(subparsers)
    return parser


def report_input_error(error: InputError) -> None:
    message = f"surgsim: error: {error.source}: {error.problem}"
    paragraph = textwrap.fill(
        message, width=100, subsequent_indent="  ", break_on_hyphens=False, break_long_words=False
    )
    print(paragraph, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except InputError as error:
        report_input_error(error)
        return 2
    except KeyboardInterrupt:
        print("surgsim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
