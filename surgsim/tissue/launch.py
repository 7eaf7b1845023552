"""Kernel calls whose arguments never change: launched without Taichi's per-call argument processing.

A Taichi kernel call on the CPU spends ~150 µs in Python before the kernel runs (looking up the compiled instance
from the arguments' types, then converting each argument), more than the tool-contact pass itself takes on an organ.
The pass is called every tissue step with the same arrays (the two states alternate), so :class:`BoundLaunch`
looks the compiled kernel and each argument's setter up once per argument tuple; a call then only fills a fresh
launch context (a launch consumes its context) and launches it: ndarrays are passed by their device allocation,
NumPy arrays by their (fixed) host address, exactly as Taichi's own ``Kernel.launch_kernel`` sets them.
Only ndarray and C-contiguous NumPy arguments are supported; a NumPy argument must stay the same object with the same
shape (its contents may change).

Taichi internals used (pinned by the dependency ``taichi>=1.7.4,<1.8``): ``wrapped._primal`` (the Kernel),
``Kernel.ensure_compiled``, ``Kernel.compiled_kernels``, ``make_launch_context``, ``set_arg_ndarray``,
``set_arg_external_array_with_shape``, ``prog.compile_kernel``, ``prog.launch_kernel`` and ``impl.current_cfg`` (the
compile options). Any of them missing makes :class:`BoundLaunch` fall back to the ordinary call.
"""

from __future__ import annotations

import contextlib

import numpy as np


class BoundLaunch:
    """``BoundLaunch(kernel)(*args)`` runs ``kernel(*args)``; the first call with a given tuple of argument objects
    prepares its launch, later calls with the same objects only launch it. ``compile_options``: Taichi compile
    options (``CompileConfig`` fields) that this kernel is compiled with instead of the process's."""

    def __init__(self, kernel, *, compile_options: dict | None = None):
        self._kernel = kernel
        self._prepared: dict[tuple[int, ...], tuple] = {}
        self._fallback = False
        self._options = dict(compile_options or {})

    def __call__(self, *args) -> None:
        if self._fallback:
            self.unbound(*args)
            return
        key = tuple(id(a) for a in args)
        entry = self._prepared.get(key)
        if entry is None:
            try:
                with compile_options(self._options):
                    entry = self._prepare(args)
            except (AttributeError, TypeError, KeyError):
                self._fallback = True
                self.unbound(*args)
                return
            self._prepared[key] = entry
        prog, compiled, t_kernel, setters, _keep = entry
        context = t_kernel.make_launch_context()
        for set_arg in setters:
            set_arg(context)
        prog.launch_kernel(compiled, context)

    def unbound(self, *args) -> None:
        """``kernel(*args)`` through Taichi's ordinary call, keeping nothing of ``args`` (a one-off launch, e.g. to
        compile the kernel ahead of its first bound call)."""
        with compile_options(self._options):
            self._kernel(*args)

    def _prepare(self, args) -> tuple:
        from taichi.lang import impl

        primal = self._kernel._primal
        key = primal.ensure_compiled(*args)
        t_kernel = primal.compiled_kernels[key]
        setters = []
        for index, (value, argument) in enumerate(zip(args, primal.arguments)):
            if isinstance(value, np.ndarray):
                if not value.flags.c_contiguous:
                    raise TypeError("a NumPy argument must be C-contiguous")
                element_dims = getattr(argument.annotation.dtype, "ndim", 0) or 0
                shape = tuple(value.shape[: value.ndim - element_dims] if element_dims else value.shape)
                address, size = int(value.ctypes.data), value.nbytes
                setters.append(lambda ctx, i=index, a=address, n=size, s=shape:
                               ctx.set_arg_external_array_with_shape((i,), a, n, s, 0))
            elif hasattr(value, "arr"):
                setters.append(lambda ctx, i=index, arr=value.arr: ctx.set_arg_ndarray((i,), arr))
            else:
                raise TypeError(f"argument {index} is neither an ndarray nor a NumPy array")
        prog = impl.get_runtime().prog
        compiled = prog.compile_kernel(prog.config(), prog.get_device_caps(), t_kernel)
        return prog, compiled, t_kernel, setters, args  # args kept alive: the setters hold their addresses


@contextlib.contextmanager
def compile_options(options: dict):
    """Taichi's compile options set to ``options`` while a kernel is compiled (Taichi reads its ``CompileConfig``
    when it compiles a kernel and keys its offline cache by it), and restored afterwards."""
    if not options:
        yield
        return
    from taichi.lang import impl

    config = impl.current_cfg()
    saved = {name: getattr(config, name) for name in options}
    for name, value in options.items():
        setattr(config, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(config, name, value)
