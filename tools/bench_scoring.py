"""Benchmark: replay-and-score of each shipped expert trace against its simulated duration, and scoring alone.

Prints a table: simulated seconds, wall seconds to score from the recorded samples, wall seconds to replay through
the session loop and score, and the speed of each relative to real time (goal: replay-and-score >= 10x real time).

    python tools/bench_scoring.py [--skip-replay] [--procedure NAME]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from surgsim.replay import replay_trace
from surgsim.scoring import load_session, score_session

TRACES = Path(__file__).resolve().parents[1] / "procedures" / "traces"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-replay", action="store_true", help="time scoring from the recorded samples only")
    parser.add_argument("--procedure", help="only this shipped procedure")
    args = parser.parse_args()
    table = Table(title="replay and score the shipped expert traces (CPU backend)")
    for column in ("trace", "simulated s", "score only s", "× real time", "replay+score s", "× real time", "same"):
        table.add_column(column, justify="right")
    for trace in sorted(TRACES.glob(f"{args.procedure or '*'}.expert.jsonl")):
        started = time.perf_counter()
        procedure, recorded = load_session(trace)
        score_session(procedure.spec, recorded)
        scoring_s = time.perf_counter() - started
        simulated_s = recorded.duration_s
        row = [trace.stem, f"{simulated_s:.1f}", f"{scoring_s:.2f}", f"{simulated_s / scoring_s:.0f}×"]
        if args.skip_replay:
            row += ["-", "-", "-"]
        else:
            with tempfile.TemporaryDirectory() as scratch:
                started = time.perf_counter()
                result = replay_trace(trace, Path(scratch) / "replay.jsonl", arch="cpu")
                score_session(procedure.spec, result.replayed)
                replay_s = time.perf_counter() - started
            row += [f"{replay_s:.1f}", f"{simulated_s / replay_s:.2f}×", "yes" if result.matches else "NO"]
        table.add_row(*row)
    Console().print(table)


if __name__ == "__main__":
    main()
