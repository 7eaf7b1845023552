"""One call from an input file to a simulation-ready :class:`~surgsim.mesh.model.TissueModel`, cached.

Inputs:

- an organ surface (STL, OBJ, PLY, VTP, legacy VTK polydata): read → metres → clean → closed (repaired if needed)
  → remeshed isotropically and filled with well-shaped tets at the target node count
  (:mod:`surgsim.mesh.tetrahedralize`) → quality checked against the goals (:mod:`surgsim.mesh.quality`) → model
  with one region;
- a tetrahedral mesh (VTU, legacy VTK unstructured grid): its tets are used as they are;
- a segmentation label map (NIfTI, NRRD, a DICOM folder or DICOM-SEG file): each chosen label becomes a closed
  surface (:mod:`surgsim.mesh.volume`) that is tetrahedralized on its own, the target node count shared in proportion
  to volume; the pieces form one model with one region per label.

The model's metadata records the source file name, its sha256 and every parameter, so that a model file says how it
was made. The stages reported to ``progress`` are :data:`PIPELINE_STAGES`, or ``"cached"`` after ``"read"`` when
the model came from the cache (:mod:`surgsim.mesh.cache`).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

import numpy as np

from surgsim.errors import InputError
from surgsim.fileio import require_input_file
from surgsim.mesh import cache
from surgsim.mesh.label_names import resolve_label_names
from surgsim.mesh.materials import MATERIALS, Material, material_for_region
from surgsim.mesh.materials import material as material_by_name
from surgsim.mesh.model import TissueModel
from surgsim.mesh.tetrahedralize import MESHER_VERSION, MIN_TARGET_NODES, TetMesh, check_target_nodes

if TYPE_CHECKING:
    import pyvista as pv

DEFAULT_TARGET_NODES = 3000
DEFAULT_SMOOTHING_ITERATIONS = 20
PIPELINE_STAGES = ("read", "surface", "repair", "tetrahedralize", "model")
CACHED_STAGE = "cached"
SURFACE_SUFFIXES = (".stl", ".obj", ".ply", ".vtp", ".vtk")
TET_MESH_SUFFIXES = (".vtu", ".vtk")
MESH_SUFFIXES = tuple(dict.fromkeys(SURFACE_SUFFIXES + TET_MESH_SUFFIXES))
LABEL_MAP_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".dcm")
# Label surfaces from marching cubes can have 10⁵-10⁶ points; they are first decimated to this many times the points
# the mesher is expected to need, which leaves it room to choose its own surface resolution.
LABEL_SURFACE_POINTS_PER_TARGET_NODE = 2
MIN_LABEL_SURFACE_POINTS = 5000
# A label whose node count exceeds its share by more than this fraction makes the others give up nodes.
LABEL_SHARE_TOLERANCE = 0.15
# Plausible sizes of one organ (region). Below the minimum a model is refused: a region smaller than a cubic
# millimetre has no tissue to simulate and is always a unit mistake or a stray voxel. Above the maximum, more than a
# whole adult body (~70 l), it is imported with a warning that names the likely unit mistake.
MIN_REGION_VOLUME_M3 = 1e-9
MAX_MODEL_VOLUME_M3 = 0.1
# The volume the unit suggestion aims for: an organ of about a litre.
_TYPICAL_ORGAN_VOLUME_M3 = 1e-3

Progress = Callable[[str], None]
LOG = logging.getLogger(__name__)


def parse_target_nodes(value: int | str | Mapping[str, int]) -> int | dict[str, int]:
    """A ``--target-nodes`` value: one count (``3000``), or one per label of a label map (``liver=3000,
    gallbladder=800``), each checked against the supported range."""
    if isinstance(value, Mapping):
        return {str(name): check_target_nodes(count) for name, count in value.items()}
    if not isinstance(value, str):
        return check_target_nodes(value)
    if value.strip().isdigit():
        return check_target_nodes(int(value))
    counts: dict[str, int] = {}
    for item in value.split(","):
        name, _, count = item.strip().partition("=")
        if not name.strip() or not count.strip().isdigit() or name.strip() in counts:
            raise InputError("--target-nodes", f"cannot read '{item.strip()}' in '{value}'; give one node count "
                                               "(3000) or one per label, each once (liver=3000,gallbladder=800).")
        counts[name.strip()] = check_target_nodes(int(count))
    return counts


def import_model(
    input_path: str | Path,
    *,
    labels: str | None = None,
    label_names: str | Path | None = None,
    target_nodes: int | str | Mapping[str, int] = DEFAULT_TARGET_NODES,
    material: str | None = None,
    units: str | None = None,
    scale: float | None = None,
    smoothing: int = DEFAULT_SMOOTHING_ITERATIONS,
    use_cache: bool = True,
    progress: Progress | None = None,
) -> TissueModel:
    """Import a surface, tetrahedral mesh or label map as a tissue model (positions in metres).

    ``labels``: for label maps, ``"5"`` or ``"liver=5,gallbladder=4"``, or names (``"liver,gallbladder"``) in
    TotalSegmentator's numbering or in the names file ``label_names`` (:mod:`surgsim.mesh.label_names`); default:
    every label. ``target_nodes``: the node count to aim for (the result lands within ±15 %, or above it for organs
    too thin for so few nodes), shared among a label map's labels by volume, or a count per label name
    (``{"liver": 3000, "gallbladder": 800}`` or ``"liver=3000,gallbladder=800"``). A label that reaches the
    scan's edge (an organ cut off by the scan) is imported with a warning. ``material``: a built-in material for every
    region (default: from the file name for surfaces, from each label's name for label maps). ``units``/``scale``:
    the surface file's unit (m, cm, mm) and an extra factor (see
    :func:`~surgsim.mesh.surface.metres_per_file_unit`). ``smoothing``: smoothing iterations of label surfaces.
    Every problem with the input raises :class:`InputError`.
    """
    report = progress or (lambda stage: None)
    path = Path(input_path)
    target_nodes = parse_target_nodes(target_nodes)
    chosen_material = material_by_name(material) if material is not None else None
    if isinstance(smoothing, bool) or not isinstance(smoothing, (int, np.integer)) or smoothing < 0:
        raise InputError("--smoothing", f"the smoothing iteration count must be a whole number ≥ 0, not {smoothing}.")
    is_label_map = _is_label_map(path)
    if is_label_map and (units is not None or scale is not None):
        raise InputError(
            "--units/--scale",
            f"{path.name} is a label map, whose voxel size and position come from the file; units and scale apply "
            "to surface meshes only.",
        )
    if not is_label_map and labels is not None:
        raise InputError("--label", f"{path.name} is a mesh, not a label map; --label chooses labels of a label map.")
    if not is_label_map and isinstance(target_nodes, dict):
        raise InputError("--target-nodes", f"{path.name} is a mesh, one organ: give one node count, not one per label.")
    labels = resolve_label_names(labels, label_names)
    if not path.exists():
        raise InputError(path, "no such file or folder.")
    if not path.is_dir():
        require_input_file(path, "mesh or label map file")  # a FIFO or a device would never finish reading

    report("read")
    source_sha256 = cache.input_sha256(path)
    parameters = {
        "labels": labels,
        "target_nodes": target_nodes,
        "material": chosen_material.name if chosen_material else None,
        "units": units,
        "scale": scale,
        "smoothing": int(smoothing),
    }
    # The mesher's version is part of the key: a model cached by an older mesher is not what this one would make.
    key = cache.cache_key(source_sha256, {**parameters, "mesher": MESHER_VERSION})
    if use_cache:
        cached = cache.load_cached(key)
        if cached is not None:
            report(CACHED_STAGE)
            check_plausible_size(cached, path)
            return dataclasses.replace(cached, metadata={**cached.metadata, "source": path.name})

    metadata = {
        "source": path.name,
        "source_sha256": source_sha256,
        "parameters": parameters,
        "mesher": MESHER_VERSION,
    }
    # Heavy imports (VTK, gmsh, tetgen) wait until a model is really built, so that a cache hit stays fast.
    from surgsim.mesh.surface import quiet_vtk

    with quiet_vtk():
        if is_label_map:
            model = _import_label_map(path, labels, target_nodes, chosen_material, int(smoothing), metadata, report)
        else:
            model = _import_mesh(path, target_nodes, chosen_material, units, scale, metadata, report)
    check_plausible_size(model, path)
    if use_cache:
        cache.store_cached(key, model)
    return model


def _is_label_map(path: Path) -> bool:
    """True for label maps, False for meshes; InputError for an extension surgsim does not read."""
    name = path.name.lower()
    if path.is_dir() or name.endswith(LABEL_MAP_SUFFIXES):
        return True
    if path.suffix.lower() in MESH_SUFFIXES:
        return False
    raise InputError(
        path,
        f"unknown file type '{path.suffix or path.name}'; surgsim imports surfaces and tetrahedral meshes "
        f"({', '.join(MESH_SUFFIXES)}) and label maps ({', '.join(LABEL_MAP_SUFFIXES)} or a DICOM folder).",
    )


def _import_mesh(
    path: Path,
    target_nodes: int,
    chosen_material: Material | None,
    units: str | None,
    scale: float | None,
    metadata: dict,
    report: Progress,
) -> TissueModel:
    from surgsim.mesh.surface import (
        clean_surface,
        make_watertight,
        metres_per_file_unit,
        read_mesh_file,
        signed_enclosed_volume,
        tetrahedra_of,
    )
    from surgsim.mesh.quality import check_generated_mesh
    from surgsim.mesh.tetrahedralize import tetrahedralize

    _refuse_unterminated_ply_header(path)
    mesh = read_mesh_file(path)
    _check_mesh_data(mesh, path)
    metres_per_unit = metres_per_file_unit(mesh, units=units, scale=scale, source=path)
    region_material = chosen_material or _material_from_file_name(path)
    region_name = region_material.name if region_material.name != "generic" else path.stem
    metadata.update(metres_per_file_unit=metres_per_unit, region_materials=[region_material.name])

    given_tets = tetrahedra_of(mesh)
    if given_tets is not None:
        points, tets = given_tets
        check_generated_mesh(points, tets, source=path, refuse_inverting=False)
        metadata.update(input_kind="tetrahedra")
        report("model")
        return _build(points * metres_per_unit, tets, [region_name], [region_material], metadata, source=path)

    report("surface")
    surface = clean_surface(mesh.scale(metres_per_unit), source=path)
    report("repair")
    surface = make_watertight(surface, source=path)
    report("tetrahedralize")
    tet_mesh = tetrahedralize(surface, target_nodes, source=path)
    check_generated_mesh(tet_mesh.points, tet_mesh.tets, source=path)
    metadata.update(input_kind="surface", surface_volume_m3=signed_enclosed_volume(surface))
    report("model")
    return _build(tet_mesh.points, tet_mesh.tets, [region_name], [region_material], metadata, source=path)


# How far into a PLY file its header must end. The PLY readers are C++ and trusting: meshio's (the fallback) loops for
# ever on a header without "end_header", and VTK's frees an invalid pointer and aborts the process on an element
# without the properties it expects. A header is therefore checked line by line before either reader sees the file.
_PLY_HEADER_LIMIT_BYTES = 1 << 16
_PLY_FORMATS = ("ascii", "binary_little_endian", "binary_big_endian")
_PLY_TYPES = ("char", "uchar", "short", "ushort", "int", "uint", "float", "double", "int8", "uint8", "int16", "uint16",
              "int32", "uint32", "float32", "float64")


def _refuse_unterminated_ply_header(path: Path) -> None:
    if path.suffix.lower() != ".ply":
        return
    with path.open("rb") as stream:
        head = stream.read(_PLY_HEADER_LIMIT_BYTES)
    end = head.find(b"end_header")
    if not head.startswith(b"ply") or end < 0:
        raise InputError(path, "not a PLY file: it must start with 'ply' and end its header with 'end_header'.")
    problem = _ply_header_problem(head[:end].decode("latin-1").split("\n"))
    if problem:
        raise InputError(path, f"a damaged PLY header: {problem}")


def _ply_header_problem(lines: list[str]) -> str | None:
    """What is wrong with the header lines before "end_header", or None."""
    elements: list[tuple[str, list[list[str]]]] = []
    for number, line in enumerate((line.rstrip("\r") for line in lines), start=1):
        if any(not (" " <= character <= "~") for character in line):
            return f"line {number} holds a control character."
        words = line.split(" ")
        keyword = words[0]
        if number == 1:
            if line != "ply":
                return "the first line must be 'ply'."
            continue
        if keyword in ("", "comment", "obj_info"):
            continue
        if keyword == "format":
            if len(words) != 3 or words[1] not in _PLY_FORMATS:
                return f"line {number}: expected 'format ascii|binary_little_endian|binary_big_endian 1.0'."
        elif keyword == "element":
            if len(words) != 3 or not words[2].isdigit():
                return f"line {number}: expected 'element NAME COUNT'."
            elements.append((words[1], []))
        elif keyword == "property":
            is_list = len(words) == 5 and words[1] == "list" and words[2] in _PLY_TYPES and words[3] in _PLY_TYPES
            if not elements or not (is_list or (len(words) == 3 and words[1] in _PLY_TYPES)):
                return f"line {number}: expected 'property TYPE NAME' or 'property list TYPE TYPE NAME' after an element."
            elements[-1][1].append(words)
        else:
            return f"line {number}: unknown header keyword '{keyword[:20]}'."
    for name, properties in elements:
        if name == "face" and not any(words[1] == "list" for words in properties):
            return "the face element has no list of vertex indices."
    return None


def _check_mesh_data(mesh: pv.DataSet, path: Path) -> None:
    """InputError for what the file readers let through: coordinates that are not finite numbers, and cells that
    refer to points the file does not have (an OBJ face "f 1 2 9" with 4 vertices)."""
    import pyvista as pv
    from vtkmodules.util.numpy_support import vtk_to_numpy

    points = np.asarray(mesh.points)
    if points.size and not np.all(np.isfinite(points)):
        bad = int(np.count_nonzero(~np.all(np.isfinite(points), axis=1)))
        raise InputError(path, f"{bad} of its {len(points)} points have coordinates that are not finite numbers.")
    if isinstance(mesh, pv.PolyData):
        connectivity = [vtk_to_numpy(cells.GetConnectivityArray())
                        for cells in (mesh.GetVerts(), mesh.GetLines(), mesh.GetPolys(), mesh.GetStrips())]
    else:
        connectivity = [np.asarray(getattr(mesh, "cell_connectivity", np.empty(0, dtype=np.int64)))]
    for ids in connectivity:
        if ids.size and (ids.min() < 0 or ids.max() >= len(points)):
            raise InputError(
                path,
                f"its cells refer to point {int(ids.max()) + 1} (counting from 1) but it has only {len(points)} points.",
            )


def _import_label_map(
    path: Path,
    labels: str | None,
    target_nodes: int,
    chosen_material: Material | None,
    smoothing: int,
    metadata: dict,
    report: Progress,
) -> TissueModel:
    from surgsim.mesh import volume as label_volumes
    from surgsim.mesh.quality import check_generated_mesh
    from surgsim.mesh.surface import clean_surface, make_watertight, signed_enclosed_volume

    volume = label_volumes.load_label_volume(path)
    chosen = label_volumes.parse_label_spec(labels, volume)
    sources = [f"{path} label {label_id}" for _, label_id in chosen]
    per_label = _per_label_target_nodes(target_nodes, [name for name, _ in chosen])
    cut_off = {}
    for name, label_id in chosen:
        edges = label_volumes.scan_edges_touched(volume, label_id)
        if edges:
            cut_off[name] = edges
            LOG.warning("label %s (%s) touches the edge of the scan (%s): the organ goes on outside %s and is cut off "
                        "there, closed flat where the scan ends.", label_id, name, ", ".join(edges), path.name)
    metadata["cut_off_by_scan_edge"] = cut_off

    report("surface")
    counts = per_label if per_label is not None else [target_nodes] * len(chosen)
    surfaces = [
        clean_surface(
            label_volumes.label_surface(
                volume, label_id, smoothing_iterations=smoothing,
                target_points=max(MIN_LABEL_SURFACE_POINTS, LABEL_SURFACE_POINTS_PER_TARGET_NODE * count)),
            source=source,
        )
        for (_, label_id), source, count in zip(chosen, sources, counts)
    ]
    report("repair")
    surfaces = [make_watertight(surface, source=source) for surface, source in zip(surfaces, sources)]

    report("tetrahedralize")
    volumes = np.array([signed_enclosed_volume(s) for s in surfaces])
    if per_label is None:
        pieces = _mesh_labels_sharing_nodes(surfaces, volumes, target_nodes, sources)
    else:
        from surgsim.mesh.tetrahedralize import tetrahedralize

        pieces = [tetrahedralize(s, n, source=source) for s, n, source in zip(surfaces, per_label, sources)]
    for piece, source in zip(pieces, sources):
        check_generated_mesh(piece.points, piece.tets, source=source)
    points, tets, tet_region, offset = [], [], [], 0
    for region, piece in enumerate(pieces):
        points.append(piece.points)
        tets.append(piece.tets + offset)
        tet_region.append(np.full(len(piece.tets), region))
        offset += len(piece.points)

    names = [name for name, _ in chosen]
    region_materials = [chosen_material or material_for_region(name) for name in names]
    metadata.update(
        input_kind="label map",
        region_materials=[m.name for m in region_materials],
        surface_volume_m3=float(volumes.sum()),
    )
    report("model")
    return _build(
        np.concatenate(points),
        np.concatenate(tets),
        names,
        region_materials,
        metadata,
        source=path,
        tet_region=np.concatenate(tet_region),
        region_labels=[label_id for _, label_id in chosen],
    )


def _per_label_target_nodes(target_nodes: int | dict[str, int], names: list[str]) -> list[int] | None:
    """The node count of each chosen label when ``--target-nodes`` gave one per label (None: one count to share)."""
    if not isinstance(target_nodes, dict):
        return None
    unknown = sorted(set(target_nodes) - set(names))
    missing = [name for name in names if name not in target_nodes]
    if unknown or missing:
        problem = (f"names {', '.join(unknown)}, which --label does not choose" if unknown
                   else f"gives no count for {', '.join(missing)}")
        raise InputError("--target-nodes", f"{problem}; give one count per chosen label ({', '.join(names)}), e.g. "
                                           f"{','.join(f'{name}=1000' for name in names)}.")
    return [target_nodes[name] for name in names]


def _mesh_labels_sharing_nodes(
    surfaces: list[pv.PolyData], volumes: np.ndarray, target_nodes: int, sources: list[str]
) -> list[TetMesh]:
    """Tetrahedralize each label with a share of ``target_nodes`` in proportion to its volume.

    A thin label (a vessel) can need far more nodes than its volume share to keep its shape; the nodes it takes
    beyond its share are then taken from the other labels, which are meshed again with smaller shares.
    """
    from surgsim.mesh.tetrahedralize import tetrahedralize

    shares = np.maximum(MIN_TARGET_NODES, np.round(target_nodes * volumes / volumes.sum())).astype(int)
    pieces = [tetrahedralize(s, int(n), source=source) for s, n, source in zip(surfaces, shares, sources)]
    node_counts = np.array([piece.used_node_count for piece in pieces])
    over_share = node_counts > (1 + LABEL_SHARE_TOLERANCE) * shares
    remaining = target_nodes - node_counts[over_share].sum()
    if node_counts.sum() <= (1 + LABEL_SHARE_TOLERANCE) * target_nodes or over_share.all() or remaining <= 0:
        return pieces
    others = np.flatnonzero(~over_share)
    reduced = np.maximum(MIN_TARGET_NODES, np.round(remaining * volumes[others] / volumes[others].sum())).astype(int)
    for index, share in zip(others, reduced):
        pieces[index] = tetrahedralize(surfaces[index], int(share), source=sources[index])
    return pieces


def _build(
    points: np.ndarray,
    tets: np.ndarray,
    names: list[str],
    materials: list[Material],
    metadata: dict,
    *,
    source: Path,
    tet_region: np.ndarray | None = None,
    region_labels: list[int] | None = None,
) -> TissueModel:
    """The model of tets over points (metres); one region unless ``tet_region`` says otherwise."""
    from surgsim.mesh.build import build_tissue_model, signed_tet_volumes

    # Only a user's own tet mesh can hold flat tets (the meshers never make them); they would get no mass.
    flat = int(np.sum(np.abs(signed_tet_volumes(points, tets)) <= 0))
    if flat:
        raise InputError(source, f"{flat} of its {len(tets)} tetrahedra have zero volume; fix or re-mesh it.")
    if tet_region is None:
        tet_region = np.zeros(len(tets), dtype=np.int64)
    return build_tissue_model(
        points, tets, tet_region, names, materials, region_labels=region_labels, metadata=metadata
    )


def _material_from_file_name(path: Path) -> Material:
    """The built-in material named by a word of the file name (``grasp_gallbladder_visual.stl`` → gallbladder)."""
    words = set(re.split(r"[^a-z]+", path.stem.lower()))
    return next((m for name, m in MATERIALS.items() if name in words), MATERIALS["generic"])


def check_plausible_size(model: TissueModel, source: Path) -> None:
    """Refuse a region too small to be tissue; warn about a model larger than a body. Both name the likely cause.

    A 40 mm cube imported with ``--units m`` would otherwise become a 64-tonne organ, and a 0.04-unit one with
    ``--units mm`` a 0.0 g one, both silently.
    """
    tet_volumes = model.tet_volumes()
    densities = model.region_materials["density_kg_m3"]
    for index, name in enumerate(model.region_names):
        volume = float(tet_volumes[model.tet_region == index].sum())
        if volume >= MIN_REGION_VOLUME_M3:
            continue
        mass_g = volume * densities[index] * 1e3
        label = int(model.region_labels[index])
        what = f"label {label} ({name})" if label >= 0 else "the model"
        hint = (
            " Leave it out with --label, or check the voxel spacing in the file's header."
            if label >= 0
            else _unit_hint(model, volume)
        )
        raise InputError(
            source,
            f"{what} is only {volume * 1e9:.3g} mm³ ({mass_g:.3g} g), "
            f"{_extent_text(model.positions[model.node_region == index])} across: too small to "
            f"simulate (the least is {MIN_REGION_VOLUME_M3 * 1e9:g} mm³).{hint}",
        )
    volume = model.volume()
    if volume > MAX_MODEL_VOLUME_M3:
        is_label_map = bool(np.any(model.region_labels >= 0))
        hint = " Check the voxel spacing in the file's header." if is_label_map else _unit_hint(model, volume)
        LOG.warning(
            "%s: the model is %s ml (%s kg), %s across — more than a whole body (%g l); is the unit right?%s",
            source.name,
            f"{volume * 1e6:,.0f}",
            f"{float(model.masses.sum()):,.0f}",
            _extent_text(model.positions),
            MAX_MODEL_VOLUME_M3 * 1e3,
            hint,
        )


def _extent_text(positions: np.ndarray) -> str:
    """The largest side of the bounding box of ``positions`` [m], in mm or m."""
    extent = float(np.ptp(positions, axis=0).max()) if len(positions) else 0.0
    return f"{extent * 1e3:.3g} mm" if extent < 1 else f"{extent:,.3g} m"


def _unit_hint(model: TissueModel, volume: float) -> str:
    """' If its coordinates are in millimetres, import it with --units mm.' for the unit that gives an organ's size."""
    metres_per_unit = model.metadata.get("metres_per_file_unit")
    if not isinstance(metres_per_unit, (int, float)) or not metres_per_unit > 0 or not volume > 0:
        return ""
    from surgsim.mesh.surface import METRES_PER_UNIT

    unit_words = {"m": "metres", "cm": "centimetres", "mm": "millimetres"}
    candidates = []
    for unit, metres in METRES_PER_UNIT.items():
        rescaled = volume * (metres / metres_per_unit) ** 3
        if metres != metres_per_unit and MIN_REGION_VOLUME_M3 <= rescaled <= MAX_MODEL_VOLUME_M3:
            candidates.append((abs(np.log(rescaled / _TYPICAL_ORGAN_VOLUME_M3)), unit))
    if not candidates:
        return " Check the file's unit (--units, --scale)."
    unit = min(candidates)[1]
    return f" If the file's coordinates are in {unit_words[unit]}, import it with --units {unit}."
