"""surgsim: a GPU-accelerated surgical training simulator.

Patient imaging becomes a tetrahedral mass-spring tissue model (:mod:`surgsim.mesh`), which a Taichi solver
(:mod:`surgsim.tissue`) simulates at the haptic rate. Coordinates are metres in the patient's RAS frame.
"""

import os as _os

__version__ = "0.1.0"

# Taichi prints a banner on import and warns about every GPU driver it cannot find; surgsim reports the backend
# itself (surgsim.backend, `surgsim doctor`), so keep the terminal quiet unless the user asked otherwise.
_os.environ.setdefault("ENABLE_TAICHI_HEADER_PRINT", "False")
_os.environ.setdefault("TI_LOG_LEVEL", "error")


def init(arch: str = "auto", **options) -> str:
    """Choose and start the compute backend ("auto", "cuda", "vulkan", "metal" or "cpu"); see :mod:`surgsim.backend`."""
    from surgsim import backend

    return backend.init(arch, **options)


# The public Python API (README "Python API"), imported on first use so that `import surgsim` stays fast (a session
# pulls in Taichi and PyBullet).
_EXPORTS = {
    "Session": "surgsim.session",
    "InstrumentCommand": "surgsim.instrument_command",
    "FreePoseCommand": "surgsim.instrument_command",
    "Command": "surgsim.instrument_command",
    "Event": "surgsim.events",
    "InputError": "surgsim.errors",
}

__all__ = ["init", "__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'surgsim' has no attribute '{name}'")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
