"""Reading organ surfaces and tetrahedral meshes from files, and making a surface fit for meshing.

A surface (STL, OBJ, PLY, VTP, legacy VTK polydata) becomes a closed, consistently outward-wound triangle surface in
metres: read (:func:`read_mesh_file`), converted to metres (:func:`metres_per_file_unit`), cleaned
(:func:`clean_surface`), closed (:func:`make_watertight`, which falls back on :func:`repair_surface`, i.e. pymeshfix)
and, for big surfaces, decimated (:func:`decimate_surface`). A VTU or legacy VTK unstructured grid that already holds
volume cells is not re-meshed: :func:`tetrahedra_of` returns its tetrahedra.

Every problem with the user's file is an :class:`~surgsim.errors.InputError` naming the file and the reason.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
import pyvista as pv
import vtk

from surgsim.errors import InputError

LOG = logging.getLogger(__name__)

METRES_PER_UNIT = {"m": 1.0, "cm": 0.01, "mm": 0.001}
# No organ is 5 m across, and few are 5 mm across: a bounding-box diagonal above this many file units means millimetres.
MILLIMETRE_GUESS_DIAGONAL = 5.0

# Holes up to this fraction of the bounding-box diagonal (radius of the hole) are closed with flat patches; larger
# gaps are left to pymeshfix, which fills them along the surrounding curvature.
SMALL_HOLE_FRACTION = 0.05
# Points closer than this fraction of the bounding-box diagonal are one point (STL repeats every vertex per triangle,
# exporters round differently).
MERGE_TOLERANCE_FRACTION = 1e-7
# A triangle whose area is below this fraction of diagonal² is a sliver that tetgen would reject.
DEGENERATE_AREA_FRACTION = 1e-14
# A surface enclosing less than this fraction of diagonal³ is flat (a sheet, a single triangle, a collapsed object).
MIN_VOLUME_FRACTION = 1e-9

_VOLUME_CELL_TYPES = np.array(
    [pv.CellType.TETRA, pv.CellType.VOXEL, pv.CellType.HEXAHEDRON, pv.CellType.WEDGE, pv.CellType.PYRAMID]
)


@contextlib.contextmanager
def quiet_vtk() -> Iterator[None]:
    """Silence VTK's own error and warning printing; surgsim reports problems itself, once, as an InputError."""
    previous_display = vtk.vtkObject.GetGlobalWarningDisplay()
    previous_verbosity = vtk.vtkLogger.GetCurrentVerbosityCutoff()
    vtk.vtkObject.GlobalWarningDisplayOff()
    vtk.vtkLogger.SetStderrVerbosity(vtk.vtkLogger.VERBOSITY_OFF)
    try:
        yield
    finally:
        vtk.vtkObject.SetGlobalWarningDisplay(previous_display)
        vtk.vtkLogger.SetStderrVerbosity(previous_verbosity)


def read_mesh_file(path: str | Path) -> pv.DataSet:
    """Read a surface or volume mesh in its file units, with pyvista and meshio as the fallback.

    The reader follows the extension (STL, OBJ, PLY, VTP, VTU, legacy VTK, and what else VTK or meshio read).
    Raises InputError when the file is missing, unreadable or holds no cells.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file.")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise InputError(path, f"cannot be opened: {exc.strerror}.") from None

    problems = []
    with quiet_vtk():
        try:
            mesh = pv.read(path)
        except Exception as exc:  # VTK readers fail with a variety of exception types
            problems.append(f"pyvista: {exc}")
            mesh = None
    if mesh is None or mesh.n_cells == 0:
        mesh = _read_with_meshio(path, problems)
    if mesh is None or mesh.n_cells == 0:
        detail = f" ({'; '.join(problems)})" if problems else ""
        raise InputError(path, f"no mesh could be read from this {path.suffix} file: it is empty or damaged{detail}.")
    return mesh


def _read_with_meshio(path: Path, problems: list[str]) -> pv.DataSet | None:
    import meshio

    # meshio prints its own error and calls sys.exit() for some damaged files; neither may reach the user.
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return pv.from_meshio(meshio.read(path))
    except SystemExit:
        problems.append("meshio: not readable in this format")
    except Exception as exc:  # ReadError, ValueError, IndexError... on damaged files
        problems.append(f"meshio: {exc}")
    return None


def metres_per_file_unit(mesh: pv.DataSet, *, units: str | None, scale: float | None, source: str | Path) -> float:
    """The factor that turns the file's coordinates into metres.

    ``units`` names the file's unit (m, cm, mm); ``scale`` multiplies on top of it. Given only ``scale``, it is the
    whole conversion (``liver-smooth.obj`` with ``scale=0.03`` is a 19 cm liver). Given neither, the unit is guessed
    from the size: a bounding-box diagonal above 5 file units means millimetres, otherwise metres; the guess is logged.
    """
    if units is not None and units not in METRES_PER_UNIT:
        raise InputError("--units", f"unknown unit '{units}'; use one of {', '.join(METRES_PER_UNIT)}.")
    if scale is not None and not (np.isfinite(scale) and scale > 0):
        raise InputError("--scale", f"the scale factor must be a positive number, not {scale}.")
    if units is not None:
        return METRES_PER_UNIT[units] * (scale if scale is not None else 1.0)
    if scale is not None:
        return float(scale)
    diagonal = bounding_diagonal(mesh.points)
    if diagonal > MILLIMETRE_GUESS_DIAGONAL:
        LOG.info(
            "%s: the mesh is %.4g units across, so its units are taken to be millimetres "
            "(pass --units or --scale to say otherwise).",
            Path(source).name,
            diagonal,
        )
        return METRES_PER_UNIT["mm"]
    LOG.debug("%s: the mesh is %.4g units across, so its units are taken to be metres.", Path(source).name, diagonal)
    return METRES_PER_UNIT["m"]


def bounding_diagonal(points: np.ndarray) -> float:
    points = np.asarray(points)
    if len(points) == 0:
        return 0.0
    return float(np.linalg.norm(points.max(axis=0) - points.min(axis=0)))


def tetrahedra_of(mesh: pv.DataSet) -> tuple[np.ndarray, np.ndarray] | None:
    """``(points [N, 3], tets [M, 4])`` of a mesh that has volume cells (hexahedra etc. are split into tets), or None.

    Coordinates are in the file's units; nodes that no volume cell uses are kept (the model builder drops them).
    """
    if isinstance(mesh, pv.PolyData):
        return None
    grid = mesh if isinstance(mesh, pv.UnstructuredGrid) else mesh.cast_to_unstructured_grid()
    is_volume_cell = np.isin(grid.celltypes, _VOLUME_CELL_TYPES)
    if not is_volume_cell.any():
        return None
    volume_cells = grid.extract_cells(np.flatnonzero(is_volume_cell))
    if np.any(volume_cells.celltypes != pv.CellType.TETRA):
        volume_cells = volume_cells.triangulate()
    tets = volume_cells.cells_dict[pv.CellType.TETRA]
    return np.asarray(volume_cells.points, dtype=np.float64), np.asarray(tets, dtype=np.int64)


def clean_surface(mesh: pv.DataSet, *, source: str | Path) -> pv.PolyData:
    """The triangles of ``mesh`` with duplicate points merged and degenerate or repeated triangles dropped.

    Polygons are split into triangles; lines and vertices are dropped; the surface may still be open or wound
    inconsistently (see :func:`make_watertight`).
    """
    with quiet_vtk():
        if isinstance(mesh, pv.PolyData):
            polydata = mesh
        else:
            with warnings.catch_warnings():
                # pyvista ≥ 0.46 warns that the default algorithm will change; both give a volume mesh's boundary.
                warnings.simplefilter("ignore", pv.core.errors.PyVistaFutureWarning)
                polydata = mesh.extract_surface()
        polydata = polydata.triangulate()
        diagonal = bounding_diagonal(polydata.points)
        if len(triangle_array(polydata)) == 0 or diagonal == 0:
            raise InputError(source, "the file holds no surface triangles with any extent.")
        merged = pv.PolyData.from_regular_faces(np.asarray(polydata.points), triangle_array(polydata)).clean(
            tolerance=MERGE_TOLERANCE_FRACTION, absolute=False, point_merging=True
        )
    points = np.asarray(merged.points, dtype=np.float64)
    triangles = triangle_array(merged)
    triangles = triangles[_triangle_areas(points, triangles) > DEGENERATE_AREA_FRACTION * diagonal**2]
    _, first = np.unique(np.sort(triangles, axis=1), axis=0, return_index=True)
    triangles = triangles[np.sort(first)]
    if len(triangles) == 0:
        raise InputError(source, "every triangle in the file is degenerate (zero area).")
    return _compact_surface(points, triangles)


def make_watertight(surface: pv.PolyData, *, source: str | Path) -> pv.PolyData:
    """A closed, manifold, outward-wound version of a cleaned surface, or InputError saying why there is none.

    Small holes are patched flat; anything else wrong (big holes, non-manifold edges) goes to :func:`repair_surface`.
    """
    if not is_closed_manifold(surface):
        with quiet_vtk():
            patched = surface.fill_holes(SMALL_HOLE_FRACTION * bounding_diagonal(surface.points)).triangulate()
        if is_closed_manifold(patched):
            LOG.info("%s: closed small holes in the surface.", Path(source).name)
            surface = patched
        else:
            open_edges, nonmanifold_edges = edge_defects(triangle_array(surface))
            LOG.info(
                "%s: the surface has %d open and %d non-manifold edges; repairing it with pymeshfix.",
                Path(source).name,
                open_edges,
                nonmanifold_edges,
            )
            surface = repair_surface(surface, source=source)
    return orient_outward(surface, source=source)


def repair_surface(surface: pv.PolyData, *, source: str | Path) -> pv.PolyData:
    """Repair with pymeshfix: removes self-intersections and degeneracies, fills holes, keeps the largest piece.

    Raises InputError when the result is still not a closed surface enclosing a volume.
    """
    import pymeshfix

    volume_before = abs(signed_enclosed_volume(surface))
    fixer = pymeshfix.MeshFix(np.asarray(surface.points, dtype=np.float64), triangle_array(surface).astype(np.int32))
    fixer.repair(joincomp=False, remove_smallest_components=True)
    points, triangles = np.asarray(fixer.points, dtype=np.float64), np.asarray(fixer.faces, dtype=np.int64)
    if len(triangles) == 0:
        raise InputError(source, "the surface could not be repaired: nothing of it survives removing its defects.")
    repaired = pv.PolyData.from_regular_faces(points, triangles)
    if not is_closed_manifold(repaired):
        open_edges, nonmanifold_edges = edge_defects(triangles)
        raise InputError(
            source,
            f"the surface is not closed and could not be repaired ({open_edges} open and {nonmanifold_edges} "
            "non-manifold edges remain); a tissue model needs a closed organ surface.",
        )
    volume_after = abs(signed_enclosed_volume(repaired))
    if volume_before > 0 and abs(volume_after - volume_before) > 0.01 * volume_before:
        LOG.info(
            "%s: repair changed the enclosed volume from %.4g to %.4g m³ (small pieces or open parts removed).",
            Path(source).name,
            volume_before,
            volume_after,
        )
    return repaired


def orient_outward(surface: pv.PolyData, *, source: str | Path) -> pv.PolyData:
    """Wind every triangle counter-clockwise seen from outside; InputError if the surface encloses no volume."""
    with quiet_vtk():
        oriented = surface.compute_normals(
            cell_normals=True,
            point_normals=False,
            consistent_normals=True,
            auto_orient_normals=True,
            split_vertices=False,
        )
    points, triangles = np.asarray(oriented.points, dtype=np.float64), triangle_array(oriented)
    volume = signed_enclosed_volume(pv.PolyData.from_regular_faces(points, triangles))
    if volume < 0:
        triangles = triangles[:, [0, 2, 1]]
    diagonal = bounding_diagonal(points)
    if abs(volume) <= MIN_VOLUME_FRACTION * diagonal**3:
        raise InputError(source, "the surface encloses no volume (it is flat or collapsed).")
    return pv.PolyData.from_regular_faces(points, triangles)


def decimate_surface(surface: pv.PolyData, target_points: int) -> pv.PolyData:
    """Reduce a closed surface to about ``target_points`` points without opening it.

    Quadric decimation (volume preserving) is tried first, topology-preserving decimate_pro second. Very strong
    reductions can tear a surface (a thin tube collapses); then the target is doubled until a closed result comes
    out, and the surface is returned unchanged if none does. A surface already that small is returned as is.
    """
    requested = target_points = max(int(target_points), 4)
    while target_points < surface.n_points:
        decimated = _closed_decimation(surface, 1.0 - target_points / surface.n_points)
        if decimated is not None:
            return decimated
        target_points *= 2
    if target_points != requested:
        LOG.info("decimation would open the surface; keeping all %d surface points.", surface.n_points)
    return surface


def _closed_decimation(surface: pv.PolyData, reduction: float) -> pv.PolyData | None:
    """The surface decimated by ``reduction`` (a fraction of its points), outward-wound, or None if it opened."""
    with quiet_vtk():
        candidates = (
            lambda: surface.decimate(reduction, volume_preservation=True),
            lambda: surface.decimate_pro(reduction, preserve_topology=True, boundary_vertex_deletion=False),
        )
        for decimate in candidates:
            decimated = decimate()
            points, triangles = np.asarray(decimated.points), triangle_array(decimated)
            if len(triangles) >= 4 and edge_defects(triangles) == (0, 0):
                if signed_enclosed_volume(decimated) < 0:
                    triangles = triangles[:, [0, 2, 1]]
                return pv.PolyData.from_regular_faces(points, triangles)
    return None


def is_closed_manifold(surface: pv.PolyData) -> bool:
    """True when every edge is shared by exactly two triangles."""
    triangles = triangle_array(surface)
    return len(triangles) > 0 and edge_defects(triangles) == (0, 0)


def edge_defects(triangles: np.ndarray) -> tuple[int, int]:
    """``(open edges, non-manifold edges)``: edges used by one triangle, and by more than two."""
    edges = np.sort(np.asarray(triangles)[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    return int(np.sum(counts == 1)), int(np.sum(counts > 2))


def signed_enclosed_volume(surface: pv.PolyData) -> float:
    """Enclosed volume in the surface's units³ by the divergence theorem; negative when wound inward."""
    triangles = triangle_array(surface)
    if len(triangles) == 0:
        return 0.0
    points = np.asarray(surface.points, dtype=np.float64)
    a, b, c = (points[triangles[:, k]] for k in range(3))
    # Relative to the centroid the sum stays exact for surfaces far from the origin (patient coordinates).
    centre = points.mean(axis=0)
    return float(np.einsum("ij,ij->", a - centre, np.cross(b - centre, c - centre)) / 6.0)


def surface_area(surface: pv.PolyData) -> float:
    triangles = triangle_array(surface)
    return float(_triangle_areas(np.asarray(surface.points, dtype=np.float64), triangles).sum())


def triangle_array(surface: pv.PolyData) -> np.ndarray:
    """The [F, 3] vertex ids of the surface's triangles (non-triangle polygons and lines are ignored)."""
    faces = np.asarray(surface.faces)
    if faces.size == 0:
        return np.zeros((0, 3), dtype=np.int64)
    if faces.size % 4 == 0 and np.all(faces[::4] == 3):
        return faces.reshape(-1, 4)[:, 1:].astype(np.int64)
    triangles, offset = [], 0
    while offset < len(faces):
        size = faces[offset]
        if size == 3:
            triangles.append(faces[offset + 1 : offset + 4])
        offset += size + 1
    return np.array(triangles, dtype=np.int64).reshape(-1, 3)


def _triangle_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    a, b, c = (points[triangles[:, k]] for k in range(3))
    return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)


def _compact_surface(points: np.ndarray, triangles: np.ndarray) -> pv.PolyData:
    """A PolyData with only the points that the triangles use."""
    used, remapped = np.unique(triangles, return_inverse=True)
    return pv.PolyData.from_regular_faces(points[used], remapped.reshape(-1, 3))
