"""`surgsim demo`: the README's main command — train on the default procedure, or show it on a machine without a screen.

With a display it starts ``surgsim run liver_retraction`` in a window. Without one it replays the shipped expert trace
headless through the same live loop, renders the last frame offscreen (on a private Xvfb when one is installed) and
writes the score JSON and a snapshot PNG, printing where.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from surgsim.commands.run import PROCEDURES_DIR, _has_display

DEFAULT_PROCEDURE = "liver_retraction"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="start the default procedure (liver retraction); headless: replay its expert session, score, snapshot",
        description=__doc__,
        epilog="examples:\n  surgsim demo\n  surgsim demo --headless --out out/demo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--headless", action="store_true", help="replay and score even when a display exists")
    parser.add_argument("--out", metavar="DIR", default="out/demo", help="where the headless run writes its files")
    parser.add_argument("--arch", default="auto", choices=("auto", "cuda", "vulkan", "metal", "cpu"))
    parser.set_defaults(func=run)


def run(args) -> int:
    if _has_display() and not args.headless:
        from surgsim.cli import main

        return main(["run", DEFAULT_PROCEDURE, "--arch", args.arch])
    return replay_headless(Path(args.out), arch=args.arch)


def replay_headless(out_dir: Path, *, arch: str) -> int:
    from rich.console import Console

    from surgsim.render.viewer import NullViewer
    from surgsim.render.virtual_display import VirtualDisplay
    from surgsim.replay import replay_trace
    from surgsim.scoring import score_session
    from surgsim.scoring.inputs import load_session_source
    from surgsim.scoring.report import render
    from surgsim.verify import require_reproduction, scored_trace

    expert = PROCEDURES_DIR / "traces" / f"{DEFAULT_PROCEDURE}.expert.jsonl"
    out_dir.mkdir(parents=True, exist_ok=True)
    trace_path = out_dir / f"{DEFAULT_PROCEDURE}.replay.jsonl"
    score_path = out_dir / f"{DEFAULT_PROCEDURE}.score.json"
    snapshot_path = out_dir / f"{DEFAULT_PROCEDURE}.png"
    if trace_path.exists():
        trace_path.unlink()  # our own output from an earlier demo, never a user's recording
    recorded = load_session_source(expert, allow_unproven=True).trace
    print(f"no display: replaying {expert} headless ({recorded.duration_s:.1f} s of surgery)", file=sys.stderr)
    display = VirtualDisplay() if not _has_display() and VirtualDisplay.available() else None
    try:
        if display is not None:
            display.__enter__()
        viewer = _offscreen_or_null()
        result = replay_trace(expert, trace_path, arch=arch, viewer=viewer, allow_unproven=True,
                              snapshot_path=None if isinstance(viewer, NullViewer) else snapshot_path)
    finally:
        if display is not None:
            display.__exit__(None, None, None)
    require_reproduction(result)
    report = score_session(result.source.procedure.spec, scored_trace(result), verified=True, source=result.source)
    report.write_json(score_path)
    render(report, Console(width=None if Console().is_terminal else 110))
    print(f"score JSON: {score_path}", file=sys.stderr)
    print(f"replayed trace: {trace_path}", file=sys.stderr)
    if result.snapshot is not None:
        print(f"snapshot: {result.snapshot}", file=sys.stderr)
    else:
        print("snapshot: skipped (no Xvfb here: apt-get install xvfb libgl1-mesa-dri)", file=sys.stderr)
    return 0 if report.passed else 1


def _offscreen_or_null():
    from surgsim.render.viewer import NullViewer, make_viewer

    if not _has_display():
        return NullViewer()
    try:
        return make_viewer("offscreen")
    except Exception as error:  # a broken GL stack still lets the replay and the score through
        print(f"surgsim: offscreen rendering unavailable ({error}); no snapshot", file=sys.stderr)
        return NullViewer()

