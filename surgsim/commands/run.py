"""`surgsim run PROCEDURE`: the trainee's command — a live session in a window, recorded and scored at the end."""

from __future__ import annotations

import argparse
import datetime
import math
import os
import sys
from pathlib import Path

from surgsim.errors import InputError
from surgsim.fileio import prepare_output, require_input_file

PROCEDURES_DIR = Path(__file__).resolve().parents[2] / "procedures"
DEVICES = ("mouse", "touch", "force_dimension", "spacemouse")
END_SCREEN_S = 4.0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run",
        help="train: run a procedure in a window with mouse/keyboard or a haptic device; score at the end",
        description="Run a procedure live in a window (glfw + OpenGL). The session is recorded as a trace (--trace, "
        "default sessions/<procedure>-<time>.jsonl) and scored when it ends. Mouse: right-drag pivots the active "
        "instrument, wheel inserts, shift+right-drag rolls, left button or space closes the jaws, 1/2/3 switch "
        "instrument, E energy, C camera, P pause, R restart, Esc quit.",
        epilog="examples:\n"
        "  surgsim run liver_retraction\n"
        "  surgsim run procedures/pattern_cutting.yaml --device touch\n"
        "  xvfb-run -a surgsim run liver_retraction --viewer offscreen --max-seconds 5   (no screen)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("procedure", metavar="PROCEDURE", help="a procedure file, or the name of a shipped one")
    parser.add_argument("--device", choices=DEVICES, default="mouse", help="input device (default: mouse)")
    parser.add_argument("--arch", default="auto", choices=("auto", "cuda", "vulkan", "metal", "cpu"),
                        help="compute backend (default: the best GPU that runs the float64 solver, else the CPU; "
                             "never a software Vulkan driver)")
    parser.add_argument("--trace", metavar="PATH", help="where to record the session")
    parser.add_argument("--viewer", choices=("window", "offscreen", "null"), default="window",
                        help="window (default); offscreen or null for machines without a screen")
    parser.add_argument("--max-seconds", type=float, metavar="S", help="stop after S simulated seconds")
    parser.add_argument("--resolution", default="auto", metavar="auto|full|SHARE",
                        help="tissue model resolution: auto (default) measures this machine and, when it cannot hold "
                             "real time, meshes the organs more coarsely; full forces the procedure's own; a share "
                             "in (0, 1] of the organs' target_nodes")
    parser.add_argument("--trainee", metavar="ID", help="record the attempt in this trainee's history (surgsim history)")
    parser.set_defaults(func=run)


def resolve_procedure(name_or_path: str) -> Path:
    """A procedure file path, or ``procedures/<name>.yaml`` for the name of a shipped procedure."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.exists():
        require_input_file(path, "procedure file")  # a folder, a FIFO or a device: say which
    shipped = PROCEDURES_DIR / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    known = ", ".join(sorted(p.stem for p in PROCEDURES_DIR.glob("*.yaml")))
    raise InputError(name_or_path, f"no such procedure file or shipped procedure; shipped: {known}.")


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run(args) -> int:
    from rich.console import Console

    from surgsim.devices.factory import open_device
    from surgsim.live import LiveLoop
    from surgsim.procedure import load_procedure
    from surgsim.render.viewer import make_viewer
    from surgsim.resolution import parse_resolution
    from surgsim.scoring import score_session
    from surgsim.scoring.report import render
    from surgsim.session import Session
    from surgsim.trace import read_trace

    procedure = resolve_procedure(args.procedure)
    # A procedure with problems is the first thing to hear about, before the display or the devices.
    procedure_file = load_procedure(procedure)
    if args.max_seconds is not None and not 0 < args.max_seconds < math.inf:
        raise InputError("--max-seconds", f"must be a positive, finite number of seconds, not {args.max_seconds}.")
    if args.trainee:
        from surgsim.history.record import check_can_record

        check_can_record(args.trainee)
    if args.viewer != "null" and not _has_display():
        expert = PROCEDURES_DIR / "traces" / f"{procedure.stem}.expert.jsonl"
        raise InputError(
            "display",
            "this machine has no display, so the training window cannot open. Without a screen, replay and score "
            f"a recorded session instead: `surgsim replay {expert}`, or run the window on a virtual screen: "
            f"`xvfb-run -a surgsim run {args.procedure} --viewer offscreen`.",
        )
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    trace_path = Path(args.trace or f"sessions/{procedure.stem}-{stamp}.jsonl")
    if trace_path.exists() or trace_path.is_symlink():
        raise InputError(trace_path, "a trace is never overwritten; choose another --trace path.")
    prepare_output(trace_path)

    resolution = parse_resolution(args.resolution)
    if resolution is None:
        from surgsim import backend
        from surgsim.resolution import choose_resolution

        console = Console(stderr=True)
        with console.status("measuring what this machine can hold in real time…"):
            choice = choose_resolution(procedure, arch=args.arch, procedure_sha256=procedure_file.sha256,
                                       backend=backend.init(args.arch))
        console.print(choice.describe(procedure.stem), highlight=False, markup=False, soft_wrap=True)
        resolution = choice.resolution
    session = Session(procedure, arch=args.arch, trace_path=trace_path, resolution=resolution)
    # Compiled before the clock starts, not in the first tissue tick; from nothing (the first run after installing,
    # Taichi's offline cache empty) this takes ~15-25 s on a 2-core CPU, later ~1-2 s: say what the wait is.
    with Console(stderr=True).status("compiling the physics kernels (the first run after installing takes a while)…"):
        session.warm_up()
    device = open_device("mouse" if args.device == "mouse" else args.device,
                         instruments=session.instrument_names)
    viewer = make_viewer(args.viewer, title=f"surgsim — {session.spec.title}")
    max_ticks = round(args.max_seconds / session.dt_s) if args.max_seconds else None
    try:
        result = LiveLoop(session, device, viewer, realtime=args.viewer == "window", max_ticks=max_ticks).run()
        report = score_session(session.spec, read_trace(trace_path))
        _show_end_screen(viewer, session, report, linger=args.viewer == "window")
    finally:
        viewer.close()
        device.close()
    console = Console(width=None if Console().is_terminal else 110)
    render(report, console)
    if args.trainee:
        from surgsim.history import record_live_attempt

        record_live_attempt(args.trainee, trace_path, procedure, report)
    print(f"session {result.reason} after {result.ticks * session.dt_s:.1f} s; trace: {trace_path}", file=sys.stderr)
    return 0 if report.passed else 1


def _show_end_screen(viewer, session, report, *, linger: bool) -> None:
    """The score table over the last frame, until the window closes or a few seconds pass."""
    import dataclasses
    import time

    from surgsim.render.frame import EndReport

    rows = [("Score", f"{report.score:.0f} / 100"), ("Time", f"{report.metrics.time_s:.1f} s")]
    rows += [(failure, "") for failure in report.failures[:4]]
    frame = session.frame()
    frame = dataclasses.replace(frame, hud=dataclasses.replace(
        frame.hud, end_report=EndReport(rows=tuple(rows), passed=report.passed, title=session.spec.title)))
    shown = time.perf_counter()
    while time.perf_counter() - shown < END_SCREEN_S and not viewer.should_close():
        viewer.poll_input()
        viewer.draw(frame)
        if not linger:
            break
        time.sleep(1 / 30)
