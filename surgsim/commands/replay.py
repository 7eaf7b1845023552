"""`surgsim replay TRACE`: re-run a recorded session headless, check it reproduces, score it, optionally draw it."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from surgsim.errors import InputError
from surgsim.fileio import prepare_output

EXIT_MATCH_PASS = 0
EXIT_FAIL = 1
EXIT_BAD = 2


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="re-run a recorded session headless: same events and samples within tolerance, then its score",
        description="Re-run a session trace's commands through the same loop, headless, on this machine's backend; "
        "check that the replay reproduces the recorded events and samples within stated tolerances (positions and "
        "forces 1e-6 absolute + 1e-6 relative, event times within one tick, kinds, regions and instruments exact: "
        "surgsim/reproduction.py), report the largest deviation of each quantity and whether it is bit-identical, "
        "and score the replay. A trace cut short is replayed up to its last record. Exit code: 0 reproduced and "
        "passed (with --check: reproduced), 1 reproduced but failed the rubric, 2 bad input (unreadable trace, "
        "procedure missing or its physics changed since the recording) or a replay outside tolerance.",
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

    from surgsim.scoring import score_session
    from surgsim.scoring.report import render
    from surgsim.verify import resimulate, scored_trace

    if args.out and (Path(args.out).exists() or Path(args.out).is_symlink()):
        raise InputError(args.out, "a trace is never overwritten; choose another --out path.")
    # Every output is checked before the replay, which can take minutes, rather than after it.
    for output in (args.out, args.json_out, args.snapshot, args.video):
        if output:
            prepare_output(output)
    viewer = _offscreen_viewer("--video" if args.video else "--snapshot") if (args.snapshot or args.video) else None
    with tempfile.TemporaryDirectory(prefix="surgsim-replay-") as scratch:
        out = Path(args.out) if args.out else Path(scratch) / "replay.jsonl"
        result = resimulate(args.trace, args.procedure, arch=args.arch, out_path=out, viewer=viewer,
                            snapshot_path=args.snapshot, video_path=args.video)
    report = None
    if not args.check:
        report = score_session(result.source.procedure.spec, scored_trace(result), verified=True,
                               source=result.source)
        if args.json_out:
            report.write_json(args.json_out)
        render(report, Console(width=None if Console().is_terminal else 110))
    if result.recorded.truncated:
        print(f"surgsim: warning: {args.trace} was cut short; replayed up to its last record.", file=sys.stderr)
    if result.recorded.header.backend != result.backend:
        print(f"surgsim: warning: {args.trace} was recorded on {result.recorded.header.backend} and replayed on "
              f"{result.backend}; only the recording's backend is promised to reproduce it.", file=sys.stderr)
    compared = result.compared
    identical = ("bit for bit" if result.matches else
                 f"within tolerance, not bit for bit (first differences in {', '.join(m.kind for m in result.mismatches)})")
    print(f"replay reproduces {args.trace} {identical}: {result.ticks} ticks on {result.backend}; "
          f"{compared['events']} events, {compared['samples']} samples and {compared['commands']} commands compared; "
          f"largest deviations: {result.comparison.largest_deviations()}; final tissue state sha256 "
          f"{result.tissue_digest[:16]}…", file=sys.stderr)
    if result.snapshot:
        print(f"snapshot: {result.snapshot}", file=sys.stderr)
    if result.video:
        print(f"video: {result.video} ({result.frames} frames)", file=sys.stderr)
    if report is None:
        return EXIT_MATCH_PASS
    return EXIT_MATCH_PASS if report.passed else EXIT_FAIL


def _offscreen_viewer(option: str):
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise InputError(option, "needs a display to render into; run under `xvfb-run -a surgsim replay …`.")
    from surgsim.render.viewer import make_viewer

    return make_viewer("offscreen")
