"""The ``surgsim`` command line.

Each command group lives in its own module under :mod:`surgsim.commands` and exposes ``register(subparsers)``; the
module adds its parser(s) and sets ``func`` to a handler ``handler(args) -> int``. This file only wires them and turns
:class:`~surgsim.errors.InputError` into a one-paragraph message and exit code 2.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import shutil
import sys
import textwrap

from surgsim import __version__
from surgsim.errors import InputError

# Order is the order shown by --help.
COMMAND_MODULES = (
    "demo", "doctor", "run", "mesh", "procedure", "score", "replay", "bench", "history", "rubric", "report", "script",
    "preview",
)

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
  surgsim history add s/*.jsonl --trainee alice    record attempts; `surgsim history` lists them
  surgsim report trainee alice -o alice.html       learning curves, CUSUM, proficiency (also session, cohort)
  surgsim rubric derive liver_retraction --experts e/*.jsonl --novices n/*.jsonl -o rubric.yaml
  surgsim script procedures/examples/tissue_lift.yaml demo.py -o demo.jsonl   record a scripted demonstration
  surgsim preview liver_retraction --snapshot scene.png    the scene without simulating
  surgsim score sessions/*.jsonl --jobs 4 --json reports/   score many traces in worker processes
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="surgsim",
        description="surgsim: patient-specific surgical training simulator.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"surgsim {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"surgsim.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"surgsim.commands.{name}":
                continue  # a command group not built yet
            raise
        module.register(subparsers)
    _accept_verbose_after_the_command(parser)
    return parser


VERBOSE_HELP = "show the libraries' start-up banners and surgsim's progress log"


def _accept_verbose_after_the_command(parser: argparse.ArgumentParser) -> None:
    """Let ``--verbose`` follow any (sub)command too (``surgsim run x --verbose``), not only precede it.

    argparse has no public way to list a parser's subcommands, hence ``_actions``. SUPPRESS as the default keeps a
    ``--verbose`` given before the command from being reset by the subcommand's parser.
    """
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in set(action.choices.values()):
                taken = set(subparser._option_string_actions)
                flags = [flag for flag in ("-v", "--verbose") if flag not in taken]  # a command's own -v wins
                if flags:
                    subparser.add_argument(*flags, action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
                _accept_verbose_after_the_command(subparser)


def report_input_error(error: InputError) -> None:
    """Print the error as one paragraph: wrapped to the terminal's width on a terminal, one line otherwise.

    Off a terminal (a pipe, a log, a test) the text is left whole, so that tools and people searching it find
    "tick 351" however long the file name before it is.
    """
    message = f"surgsim: error: {error.source}: {error.problem}"
    if _stderr_is_terminal():
        width = max(40, shutil.get_terminal_size(fallback=(100, 24)).columns - 1)
        message = textwrap.fill(
            message, width=width, subsequent_indent="  ", break_on_hyphens=False, break_long_words=False
        )
    print(message, file=sys.stderr)


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


# Refusals by the machine rather than by surgsim's code: the file system is full or read-only. Wherever such an
# error escapes a command's own handling it is still the user's environment, not a bug, so it gets no traceback.
_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EROFS, getattr(errno, "EDQUOT", errno.ENOSPC)}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose:
        from surgsim.quiet import set_verbose

        set_verbose(True)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except InputError as error:
        report_input_error(error)
        return 2
    except OSError as error:
        if error.errno not in _ENVIRONMENT_ERRNOS:
            raise
        from surgsim.fileio import output_problem

        report_input_error(InputError(error.filename or "output", output_problem(error)))
        return 2
    except KeyboardInterrupt:
        print("surgsim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
