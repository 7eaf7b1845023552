"""The error of a coarser tissue rate or fewer solver iterations, measured on the shipped expert sessions.

Each shipped expert trace's commands are replayed headless with the tissue at several (step, iterations) settings and
compared with a reference run (1 ms tissue step, 8 iterations: the previous defaults). At every 100 Hz sample the
script records each instrument's force and the positions of the nodes the reference run's grasps hold, then prints
per setting: the largest and the RMS deviation of the tool forces (N, and relative to the largest reference force),
the largest deviation of a grasped node (mm), the coupling events that differ (kinds and counts), and the solver's
share of the wall time.

    python tools/bench_multirate.py                                   # all shipped procedures, default settings
    python tools/bench_multirate.py --procedure liver_retraction --settings 2:8,2:6,2:4 --json out/multirate.json

A setting is ``STEP_MS:ITERATIONS`` followed by optional ``:KEY=VALUE`` solver options (``ms`` mass scaling,
``sub`` sub-steps, ``cap`` 0 or 1 the Chebyshev bound's cap; e.g. ``2:4:sub=2``).
This is a measurement script, never a test.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TRACES = ROOT / "procedures" / "traces"
PROCEDURES = ("liver_retraction", "gallbladder_dissection", "pattern_cutting")
SAMPLE_EVERY = 10


def run(trace_path: Path, tissue_dt_s: float, options: dict, max_ticks: int | None) -> dict:
    from surgsim.devices.replay import ReplayDevice
    from surgsim.replay import replay_ticks
    from surgsim.scoring import load_session
    from surgsim.session import Session

    procedure, recorded = load_session(trace_path)
    ticks = replay_ticks(recorded) if max_ticks is None else min(max_ticks, replay_ticks(recorded))
    device = ReplayDevice.from_trace(recorded)
    forces, grasped, held_positions = [], {}, []
    with Session(procedure.path, arch="cpu", dt_s=recorded.header.dt_s, tissue_dt_s=tissue_dt_s,
                 solver_options=options) as session:
        started = time.perf_counter()
        for _ in range(ticks):
            session.tick(device.read().commands)
            if session.tick_count % SAMPLE_EVERY == 0:
                coupler = session.coupler
                forces.append(np.array([coupler.reaction_force(name) for name in session.instrument_names]))
                for name, grasp in coupler.grasping.grasps.items():
                    grasped.setdefault(name, set()).update(int(n) for n in grasp.nodes)
                held_positions.append(coupler.positions())
        wall = time.perf_counter() - started
        events = Counter(e.kind for e in session.events)
    return {"forces": np.array(forces), "grasped": grasped, "positions": np.array(held_positions), "wall_s": wall,
            "ticks": ticks, "events": events}


def compare(reference: dict, other: dict) -> dict:
    f_ref, f = reference["forces"], other["forces"]
    scale = float(np.linalg.norm(f_ref, axis=2).max()) or 1.0
    deviation = np.linalg.norm(f - f_ref, axis=2)
    nodes = sorted(set().union(*reference["grasped"].values())) if reference["grasped"] else []
    if nodes:
        node_dev = np.linalg.norm(other["positions"][:, nodes] - reference["positions"][:, nodes], axis=2)
        node_max_mm = 1e3 * float(node_dev.max())
        node_rms_mm = 1e3 * float(np.sqrt(np.mean(node_dev**2)))
    else:
        node_max_mm = node_rms_mm = 0.0
    events = {k: other["events"].get(k, 0) - reference["events"].get(k, 0)
              for k in set(reference["events"]) | set(other["events"])}
    return {
        "force_max_dev_n": float(deviation.max()), "force_rms_dev_n": float(np.sqrt(np.mean(deviation**2))),
        "force_max_ref_n": scale, "force_max_dev_rel": float(deviation.max()) / scale,
        "grasped_nodes": len(nodes), "grasped_max_dev_mm": node_max_mm, "grasped_rms_dev_mm": node_rms_mm,
        "event_count_changes": {k: v for k, v in sorted(events.items()) if v},
        "ms_per_tick": 1e3 * other["wall_s"] / other["ticks"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--procedure", action="append", choices=PROCEDURES)
    parser.add_argument("--settings", default="2:8,2:6,2:4", help="comma-separated STEP_MS:ITERATIONS")
    parser.add_argument("--reference", default="1:8", help="STEP_MS:ITERATIONS of the reference (default 1:8)")
    parser.add_argument("--max-ticks", type=int, default=None, help="replay at most this many ticks")
    parser.add_argument("--json", dest="json_path", default=None)
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)

    def parse(text: str) -> tuple[float, dict]:
        step, iterations, *extra = text.split(":")
        options = {"iterations": int(iterations)}
        names = {"ms": ("mass_scaling", float), "sub": ("substeps", int),
                 "cap": ("chebyshev_cap", lambda v: bool(int(v)))}
        for item in extra:
            key, value = item.split("=")
            option, kind = names[key]
            options[option] = kind(value)
        return float(step) * 1e-3, options

    results = {}
    for name in args.procedure or PROCEDURES:
        trace = TRACES / f"{name}.expert.jsonl"
        ref_setting = parse(args.reference)
        reference = run(trace, *ref_setting, args.max_ticks)
        rows = {args.reference: {"ms_per_tick": 1e3 * reference["wall_s"] / reference["ticks"],
                                 "events": dict(reference["events"])}}
        print(f"{name}: reference {args.reference} ms:it, {rows[args.reference]['ms_per_tick']:.2f} ms/tick, "
              f"events {dict(reference['events'])}", flush=True)
        for text in args.settings.split(","):
            row = compare(reference, run(trace, *parse(text), args.max_ticks))
            rows[text] = row
            print(f"  {text:>5}: force max dev {row['force_max_dev_n']:.3f} N ({100 * row['force_max_dev_rel']:.1f} % "
                  f"of {row['force_max_ref_n']:.2f} N), rms {row['force_rms_dev_n']:.3f} N; grasped nodes "
                  f"({row['grasped_nodes']}) max dev {row['grasped_max_dev_mm']:.2f} mm, rms "
                  f"{row['grasped_rms_dev_mm']:.2f} mm; event count changes {row['event_count_changes']}; "
                  f"{row['ms_per_tick']:.2f} ms/tick", flush=True)
        results[name] = rows
    if args.json_path:
        Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_path).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
