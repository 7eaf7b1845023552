#!/usr/bin/env bash
# Batch scoring on Ray, checked on a local Ray instance: installs surgsim with the optional `cluster` extra (Ray,
# ~100 MB with its dependencies, which is why CI leaves it out) into a throw-away virtual environment and runs the
# Ray test, which scores traces as Ray tasks and compares the reports byte for byte with the local process pool.
#
#     tools/check_ray_batch.sh            # exit 0 when the Ray path gives the same reports
#
# On a real cluster (every node must see the traces and procedures at the same paths):
#     ray start --head                    # on the head node; `ray start --address HEAD:6379` on the others
#     surgsim score sessions/*.jsonl --ray auto --json reports/
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$(mktemp -d)/venv"
trap 'rm -rf "$(dirname "$venv")"' EXIT
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e ".[test,cluster]"
"$venv/bin/python" -m pytest tests/batch/test_batch_ray.py -q -n 0 -p no:cacheprovider
