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
