"""Quiet start-up: the libraries' banners ("pybullet build time: …", "[Taichi] Starting on arch=x64") only with
``surgsim --verbose``.

The CLI calls :func:`set_verbose`; the setting travels in the environment (:data:`VERBOSE_VARIABLE`) so that it also
holds in child processes. PyBullet prints its banner from C when its module is first imported, so that import is done
here with the process's stdout and stderr file descriptors pointed at the null device for its duration.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import io
import logging
import os
import sys
from typing import Iterator

VERBOSE_VARIABLE = "SURGSIM_VERBOSE"


def verbose() -> bool:
    return os.environ.get(VERBOSE_VARIABLE, "") not in ("", "0")


def set_verbose(on: bool) -> None:
    """Show (or hide) the libraries' start-up banners and surgsim's own progress log from now on."""
    if not on:
        os.environ.pop(VERBOSE_VARIABLE, None)
        return
    os.environ[VERBOSE_VARIABLE] = "1"
    # Taichi reads these when it is imported, which the commands do lazily, after this call.
    os.environ["ENABLE_TAICHI_HEADER_PRINT"] = "True"
    os.environ["TI_LOG_LEVEL"] = "info"
    logger = logging.getLogger("surgsim")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


@contextlib.contextmanager
def _c_output_silenced() -> Iterator[None]:
    """Point file descriptors 1 and 2 at the null device, flushing C's buffers before they are pointed back."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        saved = [os.dup(1), os.dup(2)]
    except OSError:  # no file descriptors to redirect (an embedded interpreter): nothing to silence
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        with contextlib.suppress(Exception):
            ctypes.CDLL(None).fflush(None)  # printf's buffer would otherwise reach the real stdout later
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def quiet_import(name: str):
    """``importlib.import_module(name)`` without what the module prints from C while loading, unless verbose."""
    if name in sys.modules or verbose():
        return importlib.import_module(name)
    with _c_output_silenced():
        return importlib.import_module(name)


def import_pybullet():
    """The pybullet module, imported without its "pybullet build time: …" banner unless verbose."""
    return quiet_import("pybullet")


@contextlib.contextmanager
def taichi_banner_filtered() -> Iterator[None]:
    """Drop Taichi's "[Taichi] Starting on arch=…" line printed by ``ti.init`` unless verbose; keep anything else."""
    if verbose():
        yield
        return
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            yield
    finally:
        kept = [line for line in captured.getvalue().splitlines(keepends=True) if not line.startswith("[Taichi] ")]
        sys.stdout.write("".join(kept))
