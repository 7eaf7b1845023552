"""Where a `surgsim replay` + score spends its time, phase by phase, each trace in a fresh process.

The issue's measure is the whole `surgsim replay` (set-up included); this splits it: importing surgsim, reading the
trace and building the session, the first ticks (Taichi compiles the tissue kernels in the first tissue step), the
rest of the ticks, what follows the last tick (comparing the replay with the recording) and scoring. Prints seconds
per phase and the ticks' ms per tick; ``--json`` writes them.

    python tools/replay_phases.py                          # the shipped expert traces
    python tools/replay_phases.py session.jsonl --runs 3   # a trace of yours, three fresh processes
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRST_TICKS = 200  # covers the first tissue step at every shipped tissue rate, and with it the kernels' compilation

# Runs in a fresh interpreter: the imports are part of what is measured.
CHILD = r"""
import json, sys, time
started = time.perf_counter()
from surgsim.replay import replay_trace
from surgsim.scoring import score_session
from surgsim.verify import scored_trace
imported = time.perf_counter()
marks = {}
def on_start(ticks):
    marks["start"] = time.perf_counter()
def on_tick(session):
    if session.tick_count == FIRST_TICKS:
        marks["first"] = time.perf_counter()
    marks["last"] = time.perf_counter()
result = replay_trace(sys.argv[1], arch="cpu", allow_unproven=True, on_start=on_start, on_tick=on_tick)
replayed = time.perf_counter()
report = score_session(result.source.procedure.spec, scored_trace(result), verified=True, source=result.source)
scored = time.perf_counter()
first = marks.get("first", marks["last"])
rest_ticks = max(result.ticks - FIRST_TICKS, 0)
print(json.dumps({
    "ticks": result.ticks, "simulated_s": result.ticks * result.recorded.header.dt_s,
    "bit_for_bit": result.matches, "reproduces": result.reproduces, "passed": report.passed,
    "phases_s": {"import": imported - started, "read and build the session": marks["start"] - imported,
                 f"first {FIRST_TICKS} ticks (compiling)": first - marks["start"], "other ticks": marks["last"] - first,
                 "compare with the recording": replayed - marks["last"], "score": scored - replayed},
    "ms_per_tick_after_first": 1e3 * (marks["last"] - first) / rest_ticks if rest_ticks else None,
    "total_s": scored - started,
}))
""".replace("FIRST_TICKS", str(FIRST_TICKS))


def measure(trace: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(trace)], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:  # the trace's own problem, as `surgsim replay` would name it (no traceback)
        problem = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit code {done.returncode}"
        problem = problem.removeprefix("surgsim.errors.InputError: ")
        print(f"replay_phases: {trace}: the replay failed: {problem}", file=sys.stderr)
        raise SystemExit(2)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("traces", nargs="*", type=Path, help="traces (default: the shipped expert traces)")
    parser.add_argument("--runs", type=int, default=1, help="fresh processes per trace (default 1)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    traces = args.traces or sorted((ROOT / "procedures" / "traces").glob("*.expert.jsonl"))
    missing = [str(trace) for trace in traces if not trace.is_file()]
    if missing:
        print(f"replay_phases: no such trace file: {', '.join(missing)}", file=sys.stderr)
        return 2
    results = {}
    for trace in traces:
        runs = [measure(trace) for _ in range(max(1, args.runs))]
        results[str(trace)] = runs
        for run in runs:
            phases = "  ".join(f"{name} {seconds:.2f}" for name, seconds in run["phases_s"].items())
            tick = run["ms_per_tick_after_first"]
            print(f"{trace.name}: {run['total_s']:.2f} s for {run['simulated_s']:.2f} s simulated "
                  f"({run['simulated_s'] / run['total_s']:.2f}× real time; "
                  f"{'bit for bit' if run['bit_for_bit'] else 'within tolerance' if run['reproduces'] else 'DIFFERS'})"
                  f"\n    {phases}" + (f"  ({tick:.3f} ms a tick)" if tick else ""))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
