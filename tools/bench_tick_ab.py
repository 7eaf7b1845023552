"""The whole tick of this checkout against another (a baseline commit), side by side in one run.

    git worktree add /tmp/baseline 3bc4209        # the checkout to compare with
    python tools/bench_tick_ab.py /tmp/baseline [--ticks 3000 | --ticks 0 (whole sessions)] [--repeats 2]

For each shipped procedure, each checkout replays the first ``--ticks`` ticks of its *own* expert trace after a
500-tick warm-up, in a fresh process (its own code, procedures and traces), alternating A B A B; the table gives the
median ms per tick and real-time factor of each, and the set-up time. Works on checkouts older than
``surgsim bench tick`` (it only needs ``Session`` and ``ReplayDevice``). A script, never a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROCEDURES = ("liver_retraction", "gallbladder_dissection", "pattern_cutting")

PROBE = r"""
import json, sys, time, logging
logging.disable(logging.WARNING)
started = time.perf_counter()
from surgsim.devices.replay import ReplayDevice
from surgsim.scoring import load_session
from surgsim.session import Session
name, ticks = sys.argv[1], int(sys.argv[2])
procedure, recorded = load_session(f"procedures/traces/{name}.expert.jsonl")
session = Session(procedure.path, arch="cpu", dt_s=recorded.header.dt_s)
setup = time.perf_counter() - started
device = ReplayDevice.from_trace(recorded)
if ticks <= 0:  # the whole session after the warm-up
    from surgsim.replay import replay_ticks
    ticks = replay_ticks(recorded) - 500
for _ in range(500):
    session.tick(device.read().commands)
t = time.perf_counter()
for _ in range(ticks):
    session.tick(device.read().commands)
wall = time.perf_counter() - t
print(json.dumps({"ms_per_tick": 1e3 * wall / ticks, "setup_s": setup, "nodes": session.scene.model.node_count,
                  "dt_s": session.dt_s}))
"""


def measure(checkout: Path, name: str, ticks: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    result = subprocess.run([sys.executable, "-c", PROBE, name, str(ticks)], cwd=checkout, env=env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{checkout}: {name} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("baseline", type=Path, help="the other checkout (B)")
    parser.add_argument("--ticks", type=int, default=3000, help="ticks timed after the warm-up; 0: the whole session")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--procedure", action="append", choices=PROCEDURES)
    args = parser.parse_args(argv)
    rows = []
    for name in args.procedure or PROCEDURES:
        runs = {"A": [], "B": []}
        for _ in range(args.repeats):
            runs["A"].append(measure(ROOT, name, args.ticks))
            runs["B"].append(measure(args.baseline.resolve(), name, args.ticks))
        row = {"procedure": name}
        for side, results in runs.items():
            ms = statistics.median(r["ms_per_tick"] for r in results)
            row[side] = {"ms_per_tick": ms, "real_time_factor": results[0]["dt_s"] * 1e3 / ms,
                         "setup_s": statistics.median(r["setup_s"] for r in results), "nodes": results[0]["nodes"]}
        rows.append(row)
        a, b = row["A"], row["B"]
        print(f"{name:<24} this: {a['ms_per_tick']:.3f} ms/tick (RTF {a['real_time_factor']:.2f}, set-up "
              f"{a['setup_s']:.1f} s, {a['nodes']:,} nodes)   baseline: {b['ms_per_tick']:.3f} ms/tick (RTF "
              f"{b['real_time_factor']:.2f}, set-up {b['setup_s']:.1f} s)   speed-up {b['ms_per_tick'] / a['ms_per_tick']:.2f}x",
              flush=True)
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
