"""Time the label-map import: a 256³ phantom NIfTI → tissue model (goal < 30 s), then the cached re-run (goal < 1 s).

    python tools/bench_mesh.py [--size 256] [--target-nodes 3000]

The phantom comes from tools/make_phantom.py (liver with a vessel through it, gallbladder). The cache goes to a
temporary folder, so the first import always builds and the second always hits.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from surgsim.mesh.pipeline import DEFAULT_TARGET_NODES, import_model

TOOLS = Path(__file__).resolve().parent
BUILD_GOAL_S = 30.0
CACHED_GOAL_S = 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256, help="phantom voxels per axis (default 256)")
    parser.add_argument("--target-nodes", type=int, default=DEFAULT_TARGET_NODES)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="surgsim-bench-") as scratch:
        phantom = Path(scratch) / f"phantom_{args.size}.nii.gz"
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, str(TOOLS / "make_phantom.py"), "--size", str(args.size), "-o", str(phantom)], check=True
        )
        print(f"phantom {args.size}³ written in {time.perf_counter() - started:.1f} s (not part of the timing)")
        os.environ["SURGSIM_CACHE_DIR"] = str(Path(scratch) / "cache")

        stage_times: dict[str, float] = {}
        clock = {"stage": None, "since": time.perf_counter()}

        def time_stage(stage: str) -> None:
            now = time.perf_counter()
            if clock["stage"] is not None:
                stage_times[clock["stage"]] = now - clock["since"]
            clock.update(stage=stage, since=now)

        started = time.perf_counter()
        model = import_model(phantom, target_nodes=args.target_nodes, progress=time_stage)
        build_s = time.perf_counter() - started
        time_stage("done")

        started = time.perf_counter()
        import_model(phantom, target_nodes=args.target_nodes)
        cached_s = time.perf_counter() - started

    stages = ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in stage_times.items())
    print(f"model: {model.node_count:,} nodes, {model.tet_count:,} tets, regions {', '.join(model.region_names)}")
    print(f"import {args.size}³ → model: {build_s:6.2f} s  ({_verdict(build_s, BUILD_GOAL_S)})")
    print(f"  stages: {stages}")
    print(f"cached re-run:       {cached_s:6.3f} s  ({_verdict(cached_s, CACHED_GOAL_S)})")
    return 0 if build_s < BUILD_GOAL_S and cached_s < CACHED_GOAL_S else 1


def _verdict(seconds: float, goal: float) -> str:
    return f"goal < {goal:g} s: {'met' if seconds < goal else 'MISSED'}"


if __name__ == "__main__":
    sys.exit(main())
