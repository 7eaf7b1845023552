"""What works on this machine and what to install: Python, packages, compute backends, display, devices."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import shutil
import sys
from dataclasses import dataclass

from surgsim.hostinfo import cpu_label


@dataclass(frozen=True)
class Check:
    area: str
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


# (import name, distribution name, what it is for)
REQUIRED_PACKAGES = (
    ("numpy", "numpy", "arrays"),
    ("scipy", "scipy", "geometry helpers"),
    ("taichi", "taichi", "tissue solver kernels"),
    ("pybullet", "pybullet", "instruments (rigid bodies)"),
    ("pyvista", "pyvista", "mesh I/O, surfaces, offscreen render"),
    ("gmsh", "gmsh", "surface remeshing and well-shaped tetrahedra"),
    ("tetgen", "tetgen", "tetrahedral meshing (fallback)"),
    ("pymeshfix", "pymeshfix", "surface repair"),
    ("meshio", "meshio", "mesh I/O"),
    ("nibabel", "nibabel", "NIfTI label maps"),
    ("nrrd", "pynrrd", "NRRD label maps"),
    ("pydicom", "pydicom", "DICOM series"),
    ("pydantic", "pydantic", "procedure schema"),
    ("yaml", "pyyaml", "procedure files"),
    ("rich", "rich", "terminal output"),
    ("OpenGL", "pyopengl", "trainee window"),
    ("glfw", "glfw", "trainee window"),
)

# (import name, distribution name, pip requirement, what it is for)
OPTIONAL_PACKAGES = (
    ("pyopenhaptics", "pyopenhaptics", "surgsim[haptics]", "3D Systems Touch haptic device"),
    ("forcedimension_core", "forcedimension-core", "surgsim[haptics]", "Force Dimension haptic devices"),
    ("pyspacemouse", "pyspacemouse", "surgsim[haptics]", "3Dconnexion SpaceMouse"),
    ("warp", "warp-lang", "surgsim[bench]", "warp.sim peer in `surgsim bench solver`"),
)


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _package_check(module: str, distribution: str, purpose: str, *, required: bool, fix: str) -> Check:
    from surgsim.quiet import quiet_import

    try:
        quiet_import(module)  # PyBullet prints a banner from C when loaded
    except Exception as exc:  # a broken binary wheel is as unusable as a missing one
        return Check("packages", distribution, False, f"{purpose}: not importable ({type(exc).__name__})", fix, required)
    return Check("packages", distribution, True, f"{_version(distribution)} — {purpose}", "", required)


def python_checks() -> list[Check]:
    ok = sys.version_info >= (3, 10)
    return [
        Check(
            "python",
            "Python",
            ok,
            f"{platform.python_version()} ({platform.machine()}, {platform.system()})",
            "install Python 3.10-3.13 (taichi 1.7.4 has wheels for these)",
        ),
        # Not a requirement: what a benchmark or a trace's bit-for-bit replay depends on (surgsim/hostinfo.py).
        Check("python", "CPU", True, f"{cpu_label()}, {os.cpu_count()} cores", required=False),
    ]


def package_checks() -> list[Check]:
    checks = [
        _package_check(mod, dist, purpose, required=True, fix=f"pip install {dist}")
        for mod, dist, purpose in REQUIRED_PACKAGES
    ]
    checks += [
        _package_check(mod, dist, purpose, required=False, fix=f"pip install '{req}'")
        for mod, dist, req, purpose in OPTIONAL_PACKAGES
    ]
    return checks


def backend_checks() -> list[Check]:
    try:
        from surgsim.backend import available_gpu_archs, choose_backend
        from surgsim.gpuinfo import vulkan_devices

        gpus = available_gpu_archs()
        auto, notes = choose_backend("auto")
        devices = vulkan_devices()
    except Exception as exc:
        return [Check("compute", "taichi", False, f"cannot probe backends: {exc}", "pip install 'taichi==1.7.4'")]
    checks = [Check("compute", "cpu", True, "Taichi CPU backend (always available)")]
    if devices:
        checks.append(Check("compute", "vulkan devices", True, "; ".join(d.describe() for d in devices),
                            required=False))
    if gpus and auto != "cpu":
        checks.append(Check("compute", "gpu", True, f"Taichi GPU backends: {', '.join(gpus)} (auto picks {auto})"))
    elif gpus:
        checks.append(Check("compute", "gpu", False,
                            f"Taichi GPU backends: {', '.join(gpus)}, none suitable: {'; '.join(notes)}",
                            "install the NVIDIA driver (CUDA) or a hardware Vulkan driver for large meshes in real "
                            "time; --arch vulkan still uses a software device", required=False))
    else:
        checks.append(
            Check(
                "compute",
                "gpu",
                False,
                "no GPU backend (CUDA/Vulkan/Metal) usable; the solver runs on the CPU",
                "install the NVIDIA driver (CUDA) or a Vulkan driver for large meshes in real time",
                required=False,
            )
        )
    return checks


def display_checks() -> list[Check]:
    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    checks = []
    if display:
        checks.append(Check("display", "display", True, f"display {display}", required=False))
    else:
        checks.append(
            Check(
                "display",
                "display",
                False,
                "no DISPLAY/WAYLAND_DISPLAY: the trainee window cannot open; headless replay and scoring still work",
                "run on a desktop, or use `xvfb-run -a surgsim ...` for offscreen windows",
                required=False,
            )
        )
    xvfb = shutil.which("xvfb-run") or shutil.which("Xvfb")
    checks.append(
        Check(
            "display",
            "xvfb",
            bool(xvfb),
            f"virtual display: {xvfb}" if xvfb else "Xvfb not found (needed for offscreen window tests)",
            "" if xvfb else "apt-get install xvfb libgl1-mesa-dri",
            required=False,
        )
    )
    return checks


def run_checks() -> list[Check]:
    return python_checks() + package_checks() + backend_checks() + display_checks()


def all_required_ok(checks: list[Check]) -> bool:
    return all(c.ok for c in checks if c.required)
