"""Make the shipped reference traces: run each procedure's scripted expert and novice through the session loop
(headless), record ``procedures/traces/<procedure>.<kind>.jsonl``, score it and check the verdict.

    python tools/make_traces.py                                  # every procedure, expert and novice
    python tools/make_traces.py --procedure liver_retraction --kind novice

The scripts are in ``tools/scripted/<procedure>.py`` (``expert(ctl)``, ``novice(ctl)``, ``NOVICE_REASON``,
``NOVICE_FAILURE``), built on :mod:`surgsim.script`. Each trace is written under a temporary name and renamed only
when the run finished and the verdict is the intended one (the expert passes; the novice fails, for the stated
reason and no other besides its score), so a failed or wrong run leaves the shipped trace as it was. ``--keep`` renames it regardless (to look
at a wrong one). Exit code: 0 when every trace came out as intended, 1 otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/ (the scripted package)

PROCEDURES = ("liver_retraction", "gallbladder_dissection", "pattern_cutting")
KINDS = ("expert", "novice")
TRACES = ROOT / "procedures" / "traces"
# A script that runs away still ends: at most this much simulated time past its procedure's steps.
MAX_S = 60.0


def make_trace(procedure: str, kind: str, *, out_dir: Path, arch: str, keep: bool,
               procedures_dir: Path = ROOT / "procedures") -> bool:
    from surgsim.scoring import score_session
    from surgsim.scoring.report import render
    from surgsim.script import run_script
    from surgsim.session import Session
    from surgsim.trace import read_trace

    script_module = importlib.import_module(f"scripted.{procedure}")
    script = getattr(script_module, kind)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / f"{procedure}.{kind}.jsonl"
    temporary = out_dir / f".{procedure}.{kind}.{os.getpid()}.jsonl.tmp"
    temporary.unlink(missing_ok=True)
    started = time.perf_counter()
    try:
        session = Session(procedures_dir / f"{procedure}.yaml", arch=arch, trace_path=temporary)
        built = time.perf_counter()
        with session:
            run_script(session, script, max_s=MAX_S)
        simulated = session.time_s
        finished = time.perf_counter()
        report = score_session(session.spec, read_trace(temporary))
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    from rich.console import Console

    render(report, Console(width=110))
    failures = list(report.failures)
    if kind == "expert":
        intended = report.passed
        verdict = "passes" if report.passed else "FAILS (an expert trace must pass)"
    else:
        # The stated reason, and no other but the score: the rubric is tuned so that a novice's score falls below
        # the pass mark too (tools/tune_rubrics.py).
        wanted = script_module.NOVICE_FAILURE
        reasons = [failure for failure in failures if not failure.startswith("score:")]
        intended = not report.passed and len(reasons) == 1 and wanted in reasons[0]
        verdict = (f"fails as intended: {'; '.join(failures)}" if intended else
                   f"NOT AS INTENDED (wanted one failure, '{wanted}', besides the score): {failures or 'it passes'}")
    print(f"{procedure}.{kind}: score {report.score:.1f}, {verdict}; {simulated:.2f} s simulated in "
          f"{finished - built:.1f} s wall ({simulated / (finished - built):.2f}x real time; session set-up "
          f"{built - started:.1f} s)")
    if intended or keep:
        os.replace(temporary, final)
        print(f"wrote {final.relative_to(ROOT) if final.is_relative_to(ROOT) else final}")
    else:
        temporary.unlink(missing_ok=True)
        print(f"left {final.name} as it was")
    return intended


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--procedure", choices=PROCEDURES, action="append",
                        help="only this procedure (repeatable; default: all)")
    parser.add_argument("--kind", choices=KINDS, action="append", help="only this kind (default: both)")
    parser.add_argument("--out-dir", type=Path, default=TRACES, help=f"default: {TRACES.relative_to(ROOT)}")
    parser.add_argument("--arch", default="cpu", help="Taichi backend to record on (default: cpu)")
    parser.add_argument("--keep", action="store_true", help="write the trace even when the verdict is not the intended one")
    parser.add_argument("--procedures-dir", type=Path, default=ROOT / "procedures",
                        help="where the procedure files are (default: procedures/; try variants of them elsewhere)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    ok = True
    for procedure in args.procedure or PROCEDURES:
        for kind in args.kind or KINDS:
            ok &= make_trace(procedure, kind, out_dir=args.out_dir, arch=args.arch, keep=args.keep,
                             procedures_dir=args.procedures_dir)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
