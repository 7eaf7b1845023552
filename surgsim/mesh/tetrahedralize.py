"""Filling a closed surface with quality tetrahedra whose node count lands near a target, with tetgen.

The node count is steered through one length, the target edge length ``h``: the surface is decimated to the point
count that triangles of side ``h`` would need, and tetgen's volume bound is the volume of a regular tet of side
``h``. The first ``h`` comes from a calibration (below); if tetgen's node count then misses the target by more than
:data:`NODE_COUNT_TOLERANCE`, ``h`` is corrected from the observed count and tetgen runs again, a few times at most,
and the closest mesh wins. Thin organs need more nodes than their volume suggests (tetgen refines to keep tets well
shaped), which is what the correction absorbs; and ``h`` is capped so that thin parts keep their shape, which can
give more nodes than asked for small targets.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from surgsim.errors import InputError

if TYPE_CHECKING:
    import pyvista as pv

LOG = logging.getLogger(__name__)

MIN_TARGET_NODES = 20
MAX_TARGET_NODES = 2_000_000

# tetgen -q bounds: radius-edge ratio ≤ 1.5 and dihedral angles ≥ 10° (its docs' "reasonable" values; tighter
# bounds add many Steiner points and can keep tetgen refining for minutes).
MAX_RADIUS_EDGE_RATIO = 1.5
MIN_DIHEDRAL_DEG = 10.0
MAX_DIHEDRAL_DEG = 165.0
OPTIMISATION_PASSES = 10

# Calibrated on a sphere, the SOFA liver and the LapGym gallbladder at 5k-100k nodes: with a volume bound Vmax,
# tetgen's tets average about Vmax / 2 and there are about 5.7 tets per node, so V / (2.9 Vmax) nodes.
NODES_PER_VOLUME_BOUND = 2.9
# Area per surface point of a mesh of equilateral triangles of side h: two triangles per point, √3/4 h² each.
SURFACE_AREA_PER_POINT = math.sqrt(3.0) / 2.0
# The edge length never exceeds 3 V/A (V volume, A area): 1.5 tube radii, 1 sphere radius, 1.5 slab thicknesses.
# Coarser meshes flatten thin organs (a vessel meshed with 100 nodes keeps under half its volume); at this bound a
# vessel keeps 97 % and a sphere 84 % of its volume, so a small target on a thin organ gives more nodes than asked.
MAX_EDGE_PER_VOLUME_AREA_RATIO = 3.0
NODE_COUNT_TOLERANCE = 0.15
MAX_SIZING_ATTEMPTS = 4
# Node count n ∝ h^-exponent: 3 when interior nodes dominate, 2 when the surface does; used until two attempts give a
# measured value.
DEFAULT_SIZE_EXPONENT = 2.5


@dataclass(frozen=True)
class TetMesh:
    """Tetrahedra over points: ``points`` [N, 3] metres, ``tets`` [M, 4] node ids (orientation not guaranteed)."""

    points: np.ndarray
    tets: np.ndarray

    @property
    def used_node_count(self) -> int:
        return int(np.unique(self.tets).size)


def check_target_nodes(target_nodes: int) -> int:
    """``target_nodes`` as an int, or InputError naming ``--target-nodes`` when it is outside the supported range."""
    if isinstance(target_nodes, bool) or not isinstance(target_nodes, (int, np.integer)):
        raise InputError("--target-nodes", f"the target node count must be a whole number, not {target_nodes!r}.")
    if not MIN_TARGET_NODES <= target_nodes <= MAX_TARGET_NODES:
        raise InputError(
            "--target-nodes",
            f"{target_nodes:,} nodes is outside the supported range {MIN_TARGET_NODES}..{MAX_TARGET_NODES:,}.",
        )
    return int(target_nodes)


def tetrahedralize(surface: pv.PolyData, target_nodes: int, *, source: str | Path) -> TetMesh:
    """Quality tetrahedra filling the closed, outward-wound ``surface`` (metres), with about ``target_nodes`` nodes.

    A surface that tetgen refuses (self-intersections, degeneracies) is repaired with pymeshfix and tried again;
    InputError naming ``source`` if it is refused still.
    """
    # surface (and with it VTK) is imported here so that check_target_nodes stays cheap to import.
    from surgsim.mesh.surface import signed_enclosed_volume, surface_area

    target_nodes = check_target_nodes(target_nodes)
    volume = signed_enclosed_volume(surface)
    if volume <= 0:
        raise InputError(source, "the surface encloses no volume.")
    longest_edge = MAX_EDGE_PER_VOLUME_AREA_RATIO * volume / surface_area(surface)
    edge_length = _edge_length_for_volume_bound(volume / (NODES_PER_VOLUME_BOUND * target_nodes))
    edge_length = min(edge_length, longest_edge)
    attempts: list[tuple[float, TetMesh]] = []
    for _ in range(MAX_SIZING_ATTEMPTS):
        mesh = _mesh_with_edge_length(surface, edge_length, target_nodes, source=source)
        attempts.append((edge_length, mesh))
        node_count = mesh.used_node_count
        if abs(node_count / target_nodes - 1.0) <= NODE_COUNT_TOLERANCE:
            break
        corrected = edge_length * (node_count / target_nodes) ** (1.0 / _size_exponent(attempts))
        if edge_length >= longest_edge and corrected >= longest_edge:
            LOG.info(
                "%s: %d nodes instead of %d, as fewer would flatten the organ's thinnest parts.",
                Path(source).name,
                node_count,
                target_nodes,
            )
            break
        edge_length = min(corrected, longest_edge)
    best_edge_length, best = min(attempts, key=lambda attempt: abs(math.log(attempt[1].used_node_count / target_nodes)))
    LOG.debug(
        "tetrahedralized with edge length %.3g m: %d nodes for a target of %d after %d attempt(s)",
        best_edge_length,
        best.used_node_count,
        target_nodes,
        len(attempts),
    )
    return best


def _size_exponent(attempts: list[tuple[float, TetMesh]]) -> float:
    """How steeply the node count falls with the edge length, measured from the last two attempts when possible."""
    if len(attempts) < 2:
        return DEFAULT_SIZE_EXPONENT
    (h0, mesh0), (h1, mesh1) = attempts[-2:]
    if h0 == h1 or mesh0.used_node_count == mesh1.used_node_count:
        return DEFAULT_SIZE_EXPONENT
    measured = -math.log(mesh1.used_node_count / mesh0.used_node_count) / math.log(h1 / h0)
    return float(np.clip(measured, 1.0, 4.0))


def _edge_length_for_volume_bound(volume_bound: float) -> float:
    """Side of the regular tetrahedron of that volume (V = h³ / (6√2))."""
    return (6.0 * math.sqrt(2.0) * volume_bound) ** (1.0 / 3.0)


def _mesh_with_edge_length(surface: pv.PolyData, edge_length: float, target_nodes: int, *, source) -> TetMesh:
    """tetgen on the surface decimated for ``edge_length``; on refusal, on its repair, then on the full surface."""
    from surgsim.mesh.surface import decimate_surface, repair_surface, surface_area

    surface_points = math.ceil(surface_area(surface) / (SURFACE_AREA_PER_POINT * edge_length**2))
    decimated = decimate_surface(surface, surface_points)
    volume_bound = edge_length**3 / (6.0 * math.sqrt(2.0))
    # Decimation can create slivers that tetgen's refinement trips over, hence the undecimated surface as a fallback.
    candidates = [lambda: decimated, lambda: repair_surface(decimated, source=source)]
    if decimated is not surface:
        candidates += [lambda: surface, lambda: repair_surface(surface, source=source)]
    refusals = []
    for candidate in candidates:
        try:
            return _run_tetgen(candidate(), volume_bound, target_nodes)
        except (RuntimeError, InputError) as refusal:
            reason = refusal.problem if isinstance(refusal, InputError) else str(refusal)
            LOG.info("%s: tetgen refused a version of the surface (%s).", Path(source).name, reason)
            refusals.append(reason)
    raise InputError(
        source,
        f"tetgen cannot fill this surface with tetrahedra, even after repair: {refusals[-1].rstrip('.')}.",
    )


def _run_tetgen(surface: pv.PolyData, volume_bound: float, target_nodes: int) -> TetMesh:
    """One tetgen run; RuntimeError when tetgen refuses the surface.

    tetgen first keeps the surface as it is (no Steiner points on it): splitting boundary edges near sharp rims
    leaves springs of a few hundredths of a millimetre, which would set the solver's time step. Only when the
    surface cannot be kept may tetgen split it.
    """
    import tetgen

    from surgsim.mesh.surface import triangle_array

    points, triangles = np.asarray(surface.points, dtype=np.float64), triangle_array(surface).astype(np.int32)
    with _in_scratch_folder():
        try:
            return _tetgen_mesh(tetgen.TetGen(points, triangles), volume_bound, target_nodes, keep_surface=True)
        except RuntimeError:
            return _tetgen_mesh(tetgen.TetGen(points, triangles), volume_bound, target_nodes, keep_surface=False)


def _tetgen_mesh(mesher, volume_bound: float, target_nodes: int, *, keep_surface: bool) -> TetMesh:
    points, tets, *_ = mesher.tetrahedralize(
        quality=True,
        nobisect=keep_surface,
        minratio=MAX_RADIUS_EDGE_RATIO,
        mindihedral=MIN_DIHEDRAL_DEG,
        fixedvolume=True,
        maxvolume=volume_bound,
        # More flip/smooth passes than tetgen's default 3, and a tighter bound on the largest dihedral angle, remove
        # about two thirds of the slivers (< 5°) that skinny surface triangles leave near the boundary.
        opt_iterations=OPTIMISATION_PASSES,
        optmaxdihedral=MAX_DIHEDRAL_DEG,
        # tetgen stops adding points after this many; its default (100,000) would cap big meshes below target.
        steinerleft=max(100_000, 4 * target_nodes),
    )
    if len(tets) == 0:
        raise RuntimeError("tetgen produced no tetrahedra")
    return TetMesh(np.asarray(points, dtype=np.float64), np.asarray(tets, dtype=np.int64))


@contextlib.contextmanager
def _in_scratch_folder() -> Iterator[None]:
    """Run with a temporary working folder: tetgen writes _skipped.node/.face into the working folder when it
    refuses a surface, which would litter the user's folder."""
    previous = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="surgsim-tetgen-") as scratch:
        os.chdir(scratch)
        try:
            yield
        finally:
            os.chdir(previous)
