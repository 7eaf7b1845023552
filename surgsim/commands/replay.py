"""`surgsim replay TRACE`: re-run a recorded session headless, check it reproduces, score it, optionally draw it."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
from pathlib import Path

from surgsim.errors import InputError
from surgsim.fileio import prepare_output

EXIT_MATCH_PASS = 0
EXIT_FAIL = 1
EXIT_BAD = 2


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="re-run a recorded session headless: same events and tissue state, then its score",
        description="Re-run a session trace's commands through the same loop, headless, on this machine's backend; "
        "check that the replay reproduces the recorded events and samples (bit for bit on the backend that "
        "recorded it) and score it. A trace cut short is replayed up to its last record. Exit code: 0 reproduced "
        "and passed (with --check: reproduced), 1 reproduced but failed the rubric, 2 bad input (unreadable trace, "
        "procedure missing or changed since the recording) or a replay that differs from the recording.",
        epilog="examples:\n"
        "  surgsim replay procedures/traces/liver_retraction.expert.jsonl\n"
        "  surgsim replay session.jsonl --json score.json --snapshot last.png\n"
        "  surgsim replay session.jsonl --check            reproduces? (no score)\n"
        "  xvfb-run -a surgsim replay session.jsonl --video session.mp4",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("trace", metavar="TRACE", help="a session trace (.jsonl)")
    parser.add_argument("--out", metavar="PATH", help="keep the replayed trace here (default: a temporary file)")
    parser.add_argument("--json", metavar="OUT", dest="json_out", help="write the replay's score report as JSON")
    parser.add_argument("--snapshot", metavar="PNG", help="render the last frame offscreen to this PNG")
    parser.add_argument("--video", metavar="MP4", help="render the replay offscreen to an MP4 (30 fps of simulated "
                        "time; needs surgsim[video])")
    parser.add_argument("--procedure", metavar="FILE", help="the procedure file, if it moved since recording")
    parser.add_argument("--arch", default="cpu", choices=("auto", "cuda", "vulkan", "metal", "cpu"),
                        help="compute backend (default cpu: the backend CI records with)")
    parser.add_argument("--check", action="store_true",
                        help="only check that the replay reproduces the recording (no score): exit 0 or 2")
    parser.set_defaults(func=run)


def run(args) -> int:
    from rich.console import Console

    from surgsim.replay import replay_trace
    from surgsim.scoring import score_session
    from surgsim.scoring.report import render

    if args.out and (Path(args.out).exists() or Path(args.out).is_symlink()):
        raise InputError(args.out, "a trace is never overwritten; choose another --out path.")
    # Every output is checked before the replay, which can take minutes, rather than after it.
    for output in (args.out, args.json_out, args.snapshot, args.video):
        if output:
            prepare_output(output)
    viewer = _offscreen_viewer("--video" if args.video else "--snapshot") if (args.snapshot or args.video) else None
    with tempfile.TemporaryDirectory(prefix="surgsim-replay-") as scratch:
        out = Path(args.out) if args.out else Path(scratch) / "replay.jsonl"
        result = replay_trace(args.trace, out, arch=args.arch, procedure_path=args.procedure, viewer=viewer,
                              snapshot_path=args.snapshot, video_path=args.video)
        report = None if args.check else score_session(_procedure_of(args), result.replayed)
    if report is not None:
        if args.json_out:
            report.write_json(args.json_out)
        render(report, Console(width=None if Console().is_terminal else 110))
    if result.recorded.truncated:
        print(f"surgsim: warning: {args.trace} was cut short; replayed up to its last record.", file=sys.stderr)
    if result.recorded.header.backend != result.backend:
        print(f"surgsim: warning: {args.trace} was recorded on {result.recorded.header.backend} and replayed on "
              f"{result.backend}; only a replay on the recording's backend is promised to be bit-identical.",
              file=sys.stderr)
    if not result.matches:
        what = [mismatch.kind for mismatch in result.mismatches]
        print(f"surgsim: error: {args.trace}: the replay differs from the recording ({', '.join(what)}); "
              "was it recorded on another backend or surgsim version?", file=sys.stderr)
        for mismatch in result.mismatches:
            print(f"  {textwrap.shorten(mismatch.describe(), 400)}", file=sys.stderr)
        return EXIT_BAD
    compared = result.compared
    print(f"replay reproduces {args.trace}: {result.ticks} ticks on {result.backend}; {compared['events']} events, "
          f"{compared['samples']} samples and {compared['commands']} commands identical; final tissue state "
          f"sha256 {result.tissue_digest[:16]}…", file=sys.stderr)
    if result.snapshot:
        print(f"snapshot: {result.snapshot}", file=sys.stderr)
    if result.video:
        print(f"video: {result.video} ({result.frames} frames)", file=sys.stderr)
    if report is None:
        return EXIT_MATCH_PASS
    return EXIT_MATCH_PASS if report.passed else EXIT_FAIL


def _procedure_of(args):
    from surgsim.scoring import load_session

    procedure, _ = load_session(args.trace, args.procedure)
    return procedure.spec


def _offscreen_viewer(option: str):
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise InputError(option, "needs a display to render into; run under `xvfb-run -a surgsim replay …`.")
    from surgsim.render.viewer import make_viewer

    return make_viewer("offscreen")
