#!/usr/bin/env bash
# The GPU path, checked in one run on a machine with CUDA, Vulkan or Metal (installs nothing; run it from the
# repository root in the environment where surgsim is installed):
#   1. the `gpu` tests: the liver and a shipped scene agree with the CPU, the blow-up guard works;
#   2. `surgsim bench solver` on the liver, 20k and 100k node blocks on the GPU;
#   3. `surgsim bench tick` of every shipped procedure on the GPU.
# Prints one table at the end (and leaves the JSON files in ${OUT:-out/gpu_check}).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-out/gpu_check}"
mkdir -p "$out"
python - <<'PY' | tee "$out/gpu.txt"
from surgsim.backend import available_gpu_archs, choose_backend
from surgsim.gpuinfo import vulkan_devices
found = available_gpu_archs()
print("GPU backends:", ", ".join(found) or "none")
for device in vulkan_devices():
    print("Vulkan device:", device.describe())
chosen, notes = choose_backend("auto")
print("auto runs on:", chosen, *notes)
PY
# The backend the tests run on (any GPU backend Taichi has, a software Vulkan driver included: they check the device
# code path) and the one the benchmarks time (a GPU that auto would pick: a software driver's figures say nothing).
arch="$(python -c 'from surgsim.backend import available_gpu_archs as a; print((a() or ["cpu"])[0])' 2>/dev/null | tail -1)"
bench_arch="$(python -c 'from surgsim.backend import choose_backend as c; print(c("auto")[0])' 2>/dev/null | tail -1)"
if [ "$arch" = "cpu" ]; then
    echo "no GPU backend here: nothing to check (the gpu tests skip)"; exit 1
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$out/gpu.txt"
python -m pytest -m gpu tests/gpu -q -rs 2>&1 | tee "$out/tests.txt"
tests_rc=${PIPESTATUS[0]}
rm -f "$out/solver.json" "$out/tick.json"
if [ "$bench_arch" = "cpu" ]; then
    echo "benchmarks skipped: no GPU that auto would compute on (see 'auto runs on' above)" | tee -a "$out/gpu.txt"
else
    python -m surgsim bench solver --sizes liver,20k,100k --arch "$bench_arch" --peers numpy --json "$out/solver.json" 2>&1 | tail -30
    python -m surgsim bench tick --arch "$bench_arch" --json "$out/tick.json" 2>&1 | tail -15
fi
python - "$out" "$tests_rc" <<'PY'
import json, sys
from pathlib import Path
out, rc = Path(sys.argv[1]), int(sys.argv[2])
print("\n== GPU check ==")
print((out / "gpu.txt").read_text().strip())
print("gpu tests:", "passed" if rc == 0 else f"FAILED (exit {rc})")
if not (out / "solver.json").exists() and not (out / "tick.json").exists():
    print("bench solver, bench tick: not run")
    sys.exit(0)
try:
    solver = json.loads((out / "solver.json").read_text())
    for name, row in solver.items():
        if isinstance(row, dict) and "nodes" in row:
            print(f"bench solver: {name}: {row['nodes']:,} nodes, {1e3 * row['time_per_step_s']:.3f} ms/step, "
                  f"real-time factor {row['real_time_factor']:.2f}, {row.get('speedup_vs_numpy') or 0:.1f}x numpy")
except (OSError, ValueError) as error:
    print("bench solver: no result", error)
try:
    tick = json.loads((out / "tick.json").read_text())
    for row in tick["procedures"]:
        print(f"bench tick: {row['procedure']}: {row['ms_per_tick']:.3f} ms/tick, "
              f"real-time factor {row['real_time_factor']:.2f} (host-bound ceiling "
              f"{row['host_bound_real_time_factor']:.2f}: the tick without the tissue's kernels)")
except (OSError, ValueError, KeyError) as error:
    print("bench tick: no result", error)
PY
exit $tests_rc
