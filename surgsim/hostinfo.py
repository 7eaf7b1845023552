"""Which CPU this is, precisely enough to tell machines apart that the same name covers.

Two "AMD EPYC" virtual machines of different generations (Zen 3 with AVX2, Zen 4 with AVX-512) differ by 1.3-1.5× in
the tissue solver's speed and compile Taichi's float code differently (the shipped traces replay bit for bit only on
the generation that recorded them). ``platform.processor()`` says "x86_64" or nothing on Linux. Benchmarks report
:func:`cpu_description`, and the machine probe's cache (:mod:`surgsim.resolution`) keys on it, so that a home folder
shared by several machines never lends one machine's measurement to another.
"""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

# The instruction-set extensions that change the JIT's code for the solver's float64 loops.
_ISA_FLAGS = ("avx2", "fma", "avx512f")


@functools.lru_cache(maxsize=1)
def cpu_description() -> dict:
    """``{"name", "family", "model", "isa", "cores"}`` of this CPU: from /proc/cpuinfo on Linux (name, family and
    model numbers, which of :data:`_ISA_FLAGS` it has), elsewhere from :mod:`platform` with family, model and isa
    None."""
    name = platform.processor() or platform.machine()
    family = model = isa = None
    try:
        fields = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if not key:  # the first processor's block has all we need
                break
            fields.setdefault(key, value.strip())
        name = fields.get("model name", name)
        family, model = fields.get("cpu family"), fields.get("model")
        flags = set(fields.get("flags", "").split())
        isa = [flag for flag in _ISA_FLAGS if flag in flags]
    except OSError:
        pass
    return {"name": name, "family": family, "model": model, "isa": isa, "cores": os.cpu_count()}


def cpu_label() -> str:
    """``AMD EPYC (family 25 model 1: avx2 fma, no avx512f)``: the name and what tells its generation apart."""
    cpu = cpu_description()
    if cpu["isa"] is None:
        return cpu["name"]
    wide = "avx512f" if "avx512f" in cpu["isa"] else "no avx512f"
    narrow = " ".join(flag for flag in cpu["isa"] if flag != "avx512f")
    return f"{cpu['name']} (family {cpu['family']} model {cpu['model']}: {narrow}, {wide})"
