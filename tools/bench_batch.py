"""Batch scoring timings: the shipped traces (each repeated --repeat times) scored with 1, 2, ... worker processes,
alternating the job counts over --rounds rounds so that a busy machine weighs on all of them alike; checks that every
job count gives the same report bytes.

    python tools/bench_batch.py                      # jobs 1 and 2
    python tools/bench_batch.py --jobs 1 2 4 8 --repeat 4 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from surgsim.batch import score_many

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=2, help="score each shipped trace this many times (default 2)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("traces", nargs="*", help="traces to score (default: the shipped ones)")
    args = parser.parse_args(argv)
    traces = args.traces or sorted(str(p) for p in (ROOT / "procedures" / "traces").glob("*.jsonl"))
    traces = traces * args.repeat
    times: dict[int, list[float]] = {jobs: [] for jobs in args.jobs}
    reference = None
    for _ in range(args.rounds):
        for jobs in args.jobs:
            started = time.perf_counter()
            results = score_many(traces, jobs=jobs)
            times[jobs].append(time.perf_counter() - started)
            reports = [result.report_json for result in results]
            if reference is None:
                reference = reports
            elif reports != reference:
                print(f"jobs={jobs}: the reports differ from the first run's", file=sys.stderr)
                return 1
    print(f"{len(traces)} traces, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    for jobs, seconds in times.items():
        print(f"  --jobs {jobs}: median {statistics.median(seconds):.2f} s (runs: "
              f"{', '.join(f'{s:.2f}' for s in seconds)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
