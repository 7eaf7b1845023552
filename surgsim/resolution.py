"""Choosing the tissue's resolution this machine can hold in real time.

A procedure states how finely its organs are meshed (``target_nodes``). A machine that cannot step that model at the
wall clock would show the trainee slow motion, so ``surgsim run`` measures first: it builds the scene at a
resolution, settles it and times :data:`PROBE_TICKS` idle ticks of the whole session loop (solver, contact, goals),
and walks down :data:`LADDER` (shares of the organs' ``target_nodes`` together, taken first from the organs no step
works on: :func:`surgsim.procedure.scene_builder.organ_target_nodes`; the importer caches every model it makes)
until the real-time factor reaches :data:`HEADROOM` (instruments in contact cost more than idle ticks). The choice is
remembered per machine, backend and procedure in the cache folder, so the measurement runs once; the resolution a
session ran at is written in its trace's header, and replays use it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

LADDER = (1.0, 0.7, 0.5, 0.35, 0.25)
PROBE_TICKS = 300
# Idle ticks are cheaper than ticks with instruments in contact (contact pass, grasps): aim above real time.
HEADROOM = 1.25

log = logging.getLogger("surgsim.resolution")


@dataclass(frozen=True)
class ResolutionChoice:
    resolution: float
    real_time_factor: float  # measured on idle ticks at that resolution
    nodes: int
    full_real_time_factor: float | None  # measured at the procedure's own resolution (None: not measured now)
    remembered: bool = False  # read from the cache, not measured

    def describe(self, procedure: str) -> str:
        if self.resolution == 1.0:
            return f"{procedure}: full resolution ({self.nodes:,} tissue nodes) runs at {self.real_time_factor:.1f}× " \
                   f"real time on this machine."
        full = (f" at full resolution it runs at {self.full_real_time_factor:.2f}× real time;"
                if self.full_real_time_factor is not None else "")
        return (f"{procedure}: this machine cannot hold real time with the procedure's own tissue model;{full} using "
                f"{100 * self.resolution:.0f} % of its organs' nodes ({self.nodes:,} nodes, "
                f"{self.real_time_factor:.1f}× real time). `--resolution full` forces the procedure's own.")


def _cache_file() -> Path:
    from surgsim.mesh.cache import cache_dir

    return cache_dir() / "resolution.json"


def _machine_key(procedure_sha256: str, backend: str) -> str:
    from surgsim import __version__

    from surgsim.hostinfo import cpu_label

    # The CPU's generation, not only its name: two "AMD EPYC"s can differ by 1.5× (surgsim/hostinfo.py).
    text = "|".join([procedure_sha256, backend, cpu_label(), str(os.cpu_count()), __version__])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def probe(procedure_path, *, arch: str, resolution: float, ticks: int = PROBE_TICKS) -> tuple[float, int]:
    """(real-time factor of idle ticks, tissue nodes) of the procedure's session at ``resolution``."""
    from surgsim.session import Session

    session = Session(procedure_path, arch=arch, resolution=resolution)
    try:
        for _ in range(min(50, ticks)):  # compile, warm caches
            session.tick()
        started = time.perf_counter()
        for _ in range(ticks):
            session.tick()
        wall = time.perf_counter() - started
    finally:
        session.finish("quit")
    return ticks * session.dt_s / wall, session.scene.model.node_count


def choose_resolution(procedure_path, *, arch: str, procedure_sha256: str, backend: str,
                      remember: bool = True) -> ResolutionChoice:
    """The finest resolution of :data:`LADDER` whose idle ticks run at :data:`HEADROOM` × real time (the coarsest
    when none does)."""
    key = _machine_key(procedure_sha256, backend)
    cache = _cache_file()
    known: dict = {}
    if remember:
        try:
            known = json.loads(cache.read_text())
            entry = known[key]
            return ResolutionChoice(float(entry["resolution"]), float(entry["real_time_factor"]), int(entry["nodes"]),
                                    entry.get("full_real_time_factor"), remembered=True)
        except (OSError, ValueError, KeyError, TypeError):
            known = known if isinstance(known, dict) else {}
    from surgsim.procedure import load_procedure
    from surgsim.procedure.scene_builder import meshes_organs

    ladder = LADDER if meshes_organs(load_procedure(procedure_path).spec) else LADDER[:1]
    full_rtf = None
    choice = None
    candidates = list(ladder)
    while candidates:
        resolution = candidates.pop(0)
        rtf, nodes = probe(procedure_path, arch=arch, resolution=resolution)
        log.info("resolution %.2f: %d nodes, %.2f× real time (idle)", resolution, nodes, rtf)
        if resolution == 1.0:
            full_rtf = rtf
        choice = ResolutionChoice(resolution, rtf, nodes, full_rtf)
        if rtf >= HEADROOM:
            break
        # The tick's cost grows about in proportion to the nodes: skip the rungs that cannot be fast enough (each
        # probe meshes the organs anew the first time, which takes seconds).
        reachable = resolution * rtf / HEADROOM
        candidates = [r for r in candidates if r <= reachable] or candidates[-1:]
    if remember and choice is not None:
        known[key] = {"resolution": choice.resolution, "real_time_factor": choice.real_time_factor,
                      "nodes": choice.nodes, "full_real_time_factor": full_rtf}
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp")
            tmp.write_text(json.dumps(known, indent=1))
            tmp.replace(cache)
        except OSError:
            pass  # a read-only cache only costs the measurement next time
    return choice


def parse_resolution(text: str) -> float | None:
    """``auto`` → None (measure), ``full`` → 1, or a share in (0, 1]."""
    from surgsim.errors import InputError

    if text == "auto":
        return None
    if text == "full":
        return 1.0
    try:
        value = float(text)
    except ValueError:
        raise InputError("--resolution", f"'{text}' is not auto, full or a number in (0, 1].") from None
    if not 0.0 < value <= 1.0:
        raise InputError("--resolution", f"{value} is out of range; it must lie in (0, 1] (1 = full).")
    return value
