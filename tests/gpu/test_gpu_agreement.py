"""The GPU backend agrees with the CPU (runs only where Taichi finds CUDA, Vulkan or Metal; skipped otherwise).

A software Vulkan driver counts (Mesa's lavapipe, which CI installs): it runs the device code path that a GPU runs
(the kernels compiled to SPIR-V, parallel loops, arrays copied between host and device), only slowly. That is how
these tests first ran, and they found two faults no CPU run could: a float64 ``acos`` that SPIR-V cannot compile (the
tear test), and a grasp force read as ~0 on every pass that tested the springs (a loop inside a branch of the contact
pass).

Both backends compute in float64. The CPU runs the solver's loops serially, a GPU in parallel: the Jacobi sweeps
gather in a fixed order on both, but the compilers contract and reorder float operations differently, so results
agree to rounding, which 300 steps of a damped, stable system do not amplify beyond the tolerances below (1 µm on
positions, 1 mN on tool forces: three orders of magnitude under what a trainee or a score can tell)."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.gpu

CASE = Path(__file__).with_name("run_case.py")
POSITION_TOLERANCE_M = 1e-6
FORCE_TOLERANCE_N = 1e-3


@functools.lru_cache(maxsize=None)
def gpu_arch() -> str | None:
    probe = subprocess.run([sys.executable, "-c", "from surgsim.backend import available_gpu_archs as a; "
                                                  "print(','.join(a()))"], capture_output=True, text=True)
    found = probe.stdout.strip().splitlines()[-1] if probe.stdout.strip() else ""
    return found.split(",")[0] or None


@pytest.fixture(scope="module")
def arch():
    found = gpu_arch()
    if found is None:
        pytest.skip("no GPU backend (CUDA, Vulkan or Metal) on this machine: the GPU path cannot be checked here")
    return found


def run_case(case: str, arch: str, tmp_path: Path) -> dict:
    out = tmp_path / f"{case}-{arch}.npz"
    result = subprocess.run([sys.executable, str(CASE), case, arch, str(out)], capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


def test_the_liver_on_the_gpu_matches_the_cpu(arch, tmp_path):
    gpu, cpu = run_case("liver", arch, tmp_path), run_case("liver", "cpu", tmp_path)
    assert str(gpu["backend"]) == arch and str(cpu["backend"]) == "cpu"
    moved = np.abs(cpu["positions"]).max()
    assert moved > 0
    assert np.abs(gpu["positions"] - cpu["positions"]).max() < POSITION_TOLERANCE_M
    assert int(gpu["events"]) == int(cpu["events"]) == 0


def test_a_shipped_scene_on_the_gpu_matches_the_cpu(arch, tmp_path):
    gpu, cpu = run_case("scene", arch, tmp_path), run_case("scene", "cpu", tmp_path)
    held = np.linalg.norm(cpu["forces"], axis=-1).max(axis=1)
    assert held[-1] > 0.1, "the case must reach the grasp: the force that holds the liver"
    assert np.abs(gpu["positions"] - cpu["positions"]).max() < POSITION_TOLERANCE_M
    assert np.abs(gpu["forces"] - cpu["forces"]).max() < FORCE_TOLERANCE_N
    assert np.abs(gpu["tips"] - cpu["tips"]).max() < POSITION_TOLERANCE_M


def test_the_contact_pass_on_the_gpu_matches_the_cpu(arch, tmp_path):
    """Pressing, sliding, burning, a grasp pulled up, tets over a low failure stretch (the tear test's eigenvalue: on
    SPIR-V its angle is refined from float32) and a cutter: the same flags, counts and forces."""
    gpu, cpu = run_case("contact", arch, tmp_path), run_case("contact", "cpu", tmp_path)
    assert int(cpu["torn"]) > 0 and int(cpu["cut"]) > 0 and cpu["burn"].max() > 0
    assert int(gpu["torn"]) == int(cpu["torn"]) and int(gpu["cut"]) == int(cpu["cut"])
    np.testing.assert_array_equal(gpu["active"], cpu["active"])
    assert np.abs(gpu["positions"] - cpu["positions"]).max() < POSITION_TOLERANCE_M
    assert np.abs(gpu["outputs"] - cpu["outputs"]).max() < FORCE_TOLERANCE_N
    assert np.abs(gpu["burn"] - cpu["burn"]).max() < 1e-9


def test_the_blowup_guard_works_on_the_gpu(arch, tmp_path):
    gpu = run_case("blowup", arch, tmp_path)
    assert int(gpu["events"]) == 1
    assert bool(gpu["finite"])
