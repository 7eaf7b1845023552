"""The one place where the Taichi runtime is initialised.

``init(arch="auto")`` picks the best GPU backend present (CUDA, then Vulkan) that can run the float64 solver on a GPU
(not Metal, which has no float64, nor Vulkan on a software driver such as Mesa's lavapipe: :func:`gpu_unsuitable`)
and falls back to the CPU with a warning that says why; the chosen backend is logged and returned so that session
traces can record it. Calling ``init`` again with the same request is a no-op; asking for a different backend after
the first call is an error, because Taichi fields already allocated would silently belong to the old runtime.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger("surgsim.backend")

ARCH_CHOICES = ("auto", "cuda", "vulkan", "metal", "cpu")
_GPU_PREFERENCE = ("cuda", "vulkan", "metal")

_active: str | None = None


def import_taichi():
    """Import Taichi (once), reading the lines its decorators ask for from the line cache.

    Importing Taichi decorates ~90 kernels and functions of its own, and each decorator reads its caller's line with
    ``inspect.getframeinfo``, which looks the frame's module up by scanning ``sys.modules``: 0.1-0.3 s of every
    session's start, growing with the modules already imported. While Taichi is imported, frames are answered from
    ``linecache`` (the same line; other callers and traceback objects get the standard function).
    """
    import sys

    if "taichi" in sys.modules:
        return sys.modules["taichi"]
    import inspect
    import linecache
    import types

    standard = inspect.getframeinfo

    def getframeinfo(frame, context=1):
        if not isinstance(frame, types.FrameType) or context != 1:
            return standard(frame, context)
        code = frame.f_code
        line = linecache.getline(code.co_filename, frame.f_lineno, frame.f_globals)
        return inspect.Traceback(code.co_filename, frame.f_lineno, code.co_name, [line] if line else None,
                                 0 if line else None)

    inspect.getframeinfo = getframeinfo
    try:
        import taichi
    finally:
        inspect.getframeinfo = standard
    return taichi


def available_gpu_archs() -> list[str]:
    """GPU backends that this machine's Taichi build can use, best first (may start a Taichi runtime probe)."""
    ti = import_taichi()
    found = []
    for name in _GPU_PREFERENCE:
        arch = getattr(ti, name, None)
        try:
            if arch is not None and ti.lang.misc.is_arch_supported(arch):
                found.append(name)
        except Exception:  # a broken driver is "not available", not a crash
            continue
    return found


@dataclass(frozen=True)
class Unsuitable:
    """Why a present GPU backend should not run the solver; ``software``: it would run, on the CPU (a software
    driver), so an explicit request for it is honoured."""

    reason: str
    software: bool = False

    def __str__(self) -> str:
        return self.reason


def gpu_unsuitable(name: str, default_fp: str = "f64") -> Unsuitable | None:
    """Why the GPU backend ``name`` (present) should not run the tissue solver, or None. Metal has no float64; a
    Vulkan backend whose device (the one Taichi picks, :mod:`surgsim.gpuinfo`) is a software driver or lacks float64
    in shaders is passed over by ``auto``. Where the Vulkan loader cannot be asked, Taichi's word that Vulkan works
    stands."""
    if default_fp != "f64":
        return None
    if name == "metal":
        return Unsuitable("Metal has no float64 (the solver computes in float64)")
    if name == "vulkan":
        from surgsim.gpuinfo import taichi_vulkan_device, vulkan_devices, vulkan_unsuitable

        devices = vulkan_devices()
        if devices:
            device = taichi_vulkan_device(devices)
            reason = vulkan_unsuitable(device)
            if reason is not None:
                return Unsuitable(reason, software=device.software and device.float64)
    return None


def choose_backend(arch: str = "auto", default_fp: str = "f64") -> tuple[str, list[str]]:
    """(the backend :func:`init` starts for ``arch``, what it has to say about the choice): a backend that is not
    here or cannot run the solver falls back to the CPU; ``auto`` passes over unsuitable GPUs (:func:`gpu_unsuitable`)
    and says why when it ends on the CPU; an explicit software Vulkan device is used, with a note."""
    candidates = _GPU_PREFERENCE if arch == "auto" else (arch,)
    if candidates == ("cpu",):
        return "cpu", []
    available = available_gpu_archs()
    notes: list[str] = []
    passed_over: list[str] = []
    for name in candidates:
        if name not in available:
            if arch != "auto":
                notes.append(f"backend '{name}' is not available here; falling back to the CPU")
            continue
        verdict = gpu_unsuitable(name, default_fp)
        if verdict is None:
            return name, notes
        if arch != "auto" and verdict.software:
            notes.append(f"{verdict}: it computes, slowly (asked for explicitly)")
            return name, notes
        passed_over.append(str(verdict))
        if arch != "auto":
            notes.append(f"{verdict}; falling back to the CPU")
    if arch == "auto":
        why = f" ({'; '.join(passed_over)})" if passed_over else ""
        notes.append(f"no GPU backend found{why}; running Taichi on the CPU")
    return "cpu", notes


def init(arch: str = "auto", *, default_fp: str = "f64", offline_cache: bool = True, debug: bool = False) -> str:
    """Initialise Taichi once and return the backend name in use ("cuda", "vulkan", "metal" or "cpu")."""
    global _active
    arch = (arch or "auto").lower()
    if arch not in ARCH_CHOICES:
        raise ValueError(f"unknown arch '{arch}'; choose one of {', '.join(ARCH_CHOICES)}")
    if _active is not None:
        if arch not in ("auto", _active):
            raise RuntimeError(f"Taichi already runs on '{_active}'; cannot switch to '{arch}' in one process")
        return _active
    ti = import_taichi()
    chosen, notes = choose_backend(arch, default_fp)
    for note in notes:
        log.warning("%s", note)
    fp = ti.f64 if default_fp == "f64" else ti.f32
    from surgsim.quiet import taichi_banner_filtered

    with taichi_banner_filtered():
        ti.init(arch=getattr(ti, chosen), default_fp=fp, offline_cache=offline_cache, debug=debug, random_seed=0)
    prepare_taichi_frontend()
    if not debug:
        _plain_source_positions()
    _active = chosen
    log.info("Taichi backend: %s", chosen)
    return chosen


def _plain_source_positions() -> None:
    """Make Taichi note a kernel statement's source position as file, line and function only.

    Taichi 1.7 formats, for every statement of every kernel it compiles (in each process, also when its offline cache
    then supplies the machine code), an excerpt of the source line with a caret line under it, wrapped by textwrap:
    about 40 % of a session's kernel compilation (0.6-0.9 s of `surgsim score` and every other start). The excerpt
    only decorates Taichi's own compile errors; file and line stay (``debug=True`` keeps Taichi's full excerpt).
    """
    try:
        from taichi.lang.ast.ast_transformer_utils import ASTTransformerContext
    except ImportError:  # another Taichi layout: keep its own
        return
    if not hasattr(ASTTransformerContext, "get_pos_info"):
        return

    def get_pos_info(self, node) -> str:
        return f'File "{self.file}", line {node.lineno + self.lineno_offset}, in {self.func.func.__name__}:\n'

    ASTTransformerContext.get_pos_info = get_pos_info


def prepare_taichi_frontend() -> None:
    """Make Taichi's Python front end skip work it repeats in every process; call before kernels are decorated (the
    kernel modules do, as they may be imported before :func:`init`; it imports Taichi when that was not done).
    Calling it again does nothing."""
    import_taichi()
    _cheap_class_body_test()
    _remembered_source_lines()


def _cheap_class_body_test() -> None:
    """Make Taichi's decorators read the decorating line from the line cache instead of ``inspect.getframeinfo``.

    ``@ti.kernel`` and ``@ti.func`` ask whether they decorate inside a class by reading the caller's current source
    line with ``inspect.getframeinfo``, which looks the frame's module up by scanning ``sys.modules`` (~5 ms a call
    here): 0.85 s for the ~150 kernels and functions that a session decorates. The same line, read from
    ``linecache``, is tested against Taichi's own patterns.
    """
    try:
        from taichi.lang import kernel_impl
    except ImportError:
        return
    patterns = getattr(kernel_impl, "_KERNEL_CLASS_STACKFRAME_STMT_RES", None)
    if patterns is None or getattr(kernel_impl._inside_class, "_surgsim", False):
        return
    import linecache
    import sys

    def _inside_class(level_of_class_stackframe):
        try:
            frame = sys._getframe(level_of_class_stackframe)
            line = linecache.getline(frame.f_code.co_filename, frame.f_lineno, frame.f_globals).strip()
        except ValueError:  # no such frame
            return False
        return any(pattern.match(line) for pattern in patterns)

    _inside_class._surgsim = True
    kernel_impl._inside_class = _inside_class


def _remembered_source_lines() -> None:
    """Make Taichi look a function's source lines up once per process.

    Taichi reads a ``@ti.func``'s source again (``inspect.getsourcelines``: the file's lines, then a tokenizer pass
    to find the end of the function) every time a kernel calls it while being compiled: ~600 calls and 0.3 s in the
    first tissue step of a session, for a few dozen functions. A function's source does not change while the
    process runs, so the first answer is kept.
    """
    try:
        from taichi.lang import kernel_impl
    except ImportError:
        return
    if getattr(kernel_impl.getsourcelines, "_surgsim", False):
        return
    import functools
    import textwrap
    import types

    lookup_lines, lookup_file = kernel_impl.getsourcelines, kernel_impl.getsourcefile
    lines: dict = {}
    files: dict = {}

    def getsourcelines(obj):
        found = lines.get(obj)
        if found is None:
            found = lines[obj] = lookup_lines(obj)
        return list(found[0]), found[1]

    def getsourcefile(obj):
        found = files.get(obj)
        if found is None:
            found = files[obj] = lookup_file(obj)
        return found

    getsourcelines._surgsim = True
    kernel_impl.getsourcelines, kernel_impl.getsourcefile = getsourcelines, getsourcefile
    # It also re-wraps each source line (textwrap.fill) and dedents the function at each of those calls; both are
    # pure functions of their text, so their answers are kept too.
    if getattr(kernel_impl, "textwrap", None) is textwrap:
        kernel_impl.textwrap = types.SimpleNamespace(fill=functools.lru_cache(maxsize=None)(textwrap.fill),
                                                     dedent=functools.lru_cache(maxsize=None)(textwrap.dedent))


def active() -> str | None:
    """The backend chosen by :func:`init`, or None before it is called."""
    return _active


def float64_transcendentals() -> bool:
    """Whether the active backend has float64 trigonometric functions (acos, cos, …). Kernels compiled to SPIR-V
    (Vulkan, Metal) have float64 arithmetic and square roots, but SPIR-V's extended instruction set defines its
    transcendental functions for 16- and 32-bit floats only (Taichi refuses to compile a float64 ``acos`` there)."""
    import taichi as ti
    from taichi.lang import impl

    return impl.current_cfg().arch in (ti.x64, ti.arm64, ti.cuda, ti.amdgpu)
