"""How fast the shipped expert sessions are scored, against the simulated time they cover.

Two ways to score a session, both measured for each ``procedures/traces/<procedure>.expert.jsonl``:

- **score**: ``surgsim score`` — read the trace and score its recorded samples and events (no simulation);
- **replay + score**: ``surgsim replay`` — re-run the whole session from its commands through the session loop
  (headless, the backend given, default CPU), check it reproduces the recording, and score the replay.

Each figure is the wall time of the step and the speed-up over real time (simulated seconds / wall seconds; the
project's goal is ≥ 10× for replay-and-score). Replay wall time is reported split into the session's set-up (scene
import from the cache, tissue settling) and the ticks.

    python tools/bench_scoring.py                          # every procedure, score and replay
    python tools/bench_scoring.py --no-replay              # scoring only (seconds)
    python tools/bench_scoring.py --procedure liver_retraction --json out/bench_scoring.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRACES = ROOT / "procedures" / "traces"
PROCEDURES = ("liver_retraction", "gallbladder_dissection", "pattern_cutting")


def bench_score(trace: Path, repeats: int) -> dict:
    from surgsim.scoring import score_session
    from surgsim.scoring.inputs import load_session_source

    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        source = load_session_source(trace, allow_unproven=True)  # unverified: the scorer's own cost
        recorded = source.trace
        report = score_session(source.procedure.spec, recorded, source=source)
        times.append(time.perf_counter() - started)
    return {"wall_s": min(times), "simulated_s": recorded.duration_s, "passed": report.passed,
            "score": report.score, "records": {"commands": len(recorded.commands), "samples": len(recorded.samples),
                                                "events": len(recorded.events)}}


def bench_replay(trace: Path, arch: str) -> dict:
    from surgsim.replay import replay_trace
    from surgsim.scoring import score_session
    from surgsim.verify import scored_trace

    first_tick: list[float] = []

    def on_tick(session) -> None:
        if not first_tick:
            first_tick.append(time.perf_counter())

    started = time.perf_counter()
    result = replay_trace(trace, arch=arch, on_tick=on_tick, allow_unproven=True)
    replayed = time.perf_counter()
    report = score_session(result.source.procedure.spec, scored_trace(result), verified=result.reproduces,
                           source=result.source)
    finished = time.perf_counter()
    setup = (first_tick[0] if first_tick else replayed) - started
    return {"wall_s": finished - started, "setup_s": setup, "ticks_wall_s": replayed - started - setup,
            "score_wall_s": finished - replayed, "ticks": result.ticks, "nodes": None,
            "simulated_s": result.recorded.duration_s, "reproduced": result.reproduces, "bit_identical": result.matches, "passed": report.passed,
            "backend": result.backend}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--procedure", choices=PROCEDURES, action="append", help="only this one (repeatable)")
    parser.add_argument("--no-replay", action="store_true", help="score the recorded samples only")
    parser.add_argument("--arch", default="cpu", help="backend for the replays (default cpu)")
    parser.add_argument("--repeats", type=int, default=3, help="scoring runs per trace; the fastest counts")
    parser.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    rows = []
    for name in args.procedure or PROCEDURES:
        trace = TRACES / f"{name}.expert.jsonl"
        row = {"procedure": name, "trace": str(trace.relative_to(ROOT)), "trace_bytes": trace.stat().st_size,
               "score": bench_score(trace, args.repeats)}
        if not args.no_replay:
            row["replay"] = bench_replay(trace, args.arch)
        rows.append(row)
        print(format_row(row), flush=True)
    machine = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
               "processor": platform.processor() or platform.machine()}
    print(f"\nmachine: {machine['cpus']} CPUs ({machine['processor']}), Python {machine['python']}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"machine": machine, "traces": rows}, indent=2, sort_keys=True) + "\n")
    return 0


def format_row(row: dict) -> str:
    score = row["score"]
    simulated = score["simulated_s"]
    lines = [f"{row['procedure']}: {simulated:.1f} s simulated, trace {row['trace_bytes'] / 1e6:.1f} MB",
             f"  score only:       {score['wall_s']:7.2f} s wall  {simulated / score['wall_s']:8.1f}x real time"
             f"  ({'pass' if score['passed'] else 'FAIL'}, {score['score']:.1f})"]
    replay = row.get("replay")
    if replay is not None:
        lines.append(
            f"  replay + score:   {replay['wall_s']:7.2f} s wall  {simulated / replay['wall_s']:8.2f}x real time"
            f"  (set-up {replay['setup_s']:.1f} s, {replay['ticks']} ticks {replay['ticks_wall_s']:.1f} s = "
            f"{1e3 * replay['ticks_wall_s'] / max(replay['ticks'], 1):.2f} ms/tick, score "
            f"{replay['score_wall_s']:.2f} s; {'reproduced' if replay['reproduced'] else 'DIFFERS'}, "
            f"{'pass' if replay['passed'] else 'FAIL'}, {replay['backend']})")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
