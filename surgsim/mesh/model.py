"""TissueModel: the immutable, simulation-ready description of a soft organ (or several).

Plain numpy arrays, SI units (metres, kilograms, pascals), patient RAS coordinates. Saved as one versioned ``.npz``
(no pickled objects) so that a model file can be inspected with numpy alone.

Shapes (N nodes, M tets, S springs, F surface triangles, R regions):

- ``positions`` [N, 3] float64, rest positions [m]
- ``tets`` [M, 4] int32, positively oriented (det(p1-p0, p2-p0, p3-p0) > 0)
- ``springs`` [S, 2] int32, the unique tet edges, ``i < j``, sorted; ``rest_lengths`` [S] [m]
- ``masses`` [N] [kg], lumped: each tet gives a quarter of density × volume to each of its nodes
- ``surface_triangles`` [F, 3] int32 global node ids, wound counter-clockwise seen from outside (normals outward);
  ``surface_nodes`` [K] int32, the sorted unique nodes they use (the render/contact node map)
- ``node_region`` [N], ``tet_region`` [M], ``spring_region`` [S] int16 indices into the region arrays
- ``region_names`` [R] str, ``region_labels`` [R] int32 (source label id, -1 for a surface), and one array per
  material property ``region_<property>`` [R] (see :mod:`surgsim.mesh.materials`); files written before the
  relaxation properties existed lack ``region_relaxation_*``: those are filled from the built-in material of each region
  (as recorded in the metadata, else the one with the same elastic properties; none: no relaxation)
- ``metadata``: a JSON object (source file, parameters, surgsim version)
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from surgsim.errors import InputError
from surgsim.fileio import atomic_output, require_input_file

FORMAT_VERSION = 1
ELASTIC_PROPERTIES = ("density_kg_m3", "youngs_modulus_pa", "poisson_ratio", "damping_ratio", "tear_strain")
# Optional in a file (added after format 1 was fixed; an older reader ignores them): see _fill_relaxation.
RELAXATION_PROPERTIES = ("relaxation_share", "relaxation_time_s")
MATERIAL_PROPERTIES = ELASTIC_PROPERTIES + RELAXATION_PROPERTIES

ARRAY_FIELDS = {
    "positions": np.float64,
    "tets": np.int32,
    "springs": np.int32,
    "rest_lengths": np.float64,
    "masses": np.float64,
    "surface_triangles": np.int32,
    "surface_nodes": np.int32,
    "node_region": np.int16,
    "tet_region": np.int16,
    "spring_region": np.int16,
    "region_labels": np.int32,
}


@dataclass(frozen=True, eq=False)
class TissueModel:
    positions: np.ndarray
    tets: np.ndarray
    springs: np.ndarray
    rest_lengths: np.ndarray
    masses: np.ndarray
    surface_triangles: np.ndarray
    surface_nodes: np.ndarray
    node_region: np.ndarray
    tet_region: np.ndarray
    spring_region: np.ndarray
    region_names: tuple[str, ...]
    region_labels: np.ndarray
    region_materials: dict[str, np.ndarray]
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        for name, dtype in ARRAY_FIELDS.items():
            array = np.ascontiguousarray(getattr(self, name), dtype=dtype)
            array.flags.writeable = False
            object.__setattr__(self, name, array)
        materials = {}
        region_materials = _fill_relaxation(self.region_materials, self.metadata)
        for prop in MATERIAL_PROPERTIES:
            array = np.ascontiguousarray(region_materials[prop], dtype=np.float64)
            array.flags.writeable = False
            materials[prop] = array
        object.__setattr__(self, "region_materials", materials)
        object.__setattr__(self, "region_names", tuple(str(n) for n in self.region_names))

    # -- sizes -------------------------------------------------------------------------------------------------
    @property
    def node_count(self) -> int:
        return len(self.positions)

    @property
    def tet_count(self) -> int:
        return len(self.tets)

    @property
    def spring_count(self) -> int:
        return len(self.springs)

    @property
    def region_count(self) -> int:
        return len(self.region_names)

    # -- derived quantities --------------------------------------------------------------------------------------
    def tet_volumes(self) -> np.ndarray:
        """Signed volume of every tet [m³]; all positive for a valid model."""
        p = self.positions[self.tets]
        return np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0]) / 6.0

    def volume(self) -> float:
        """Total volume [m³]."""
        return float(self.tet_volumes().sum())

    def node_material(self, prop: str) -> np.ndarray:
        """A material property per node, e.g. ``node_material("youngs_modulus_pa")``."""
        return self.region_materials[prop][self.node_region]

    def spring_material(self, prop: str) -> np.ndarray:
        """A material property per spring."""
        return self.region_materials[prop][self.spring_region]

    def region_id(self, name: str) -> int:
        """Index of the region called ``name``; :class:`InputError` lists the regions otherwise."""
        try:
            return self.region_names.index(name)
        except ValueError:
            raise InputError("region", f"no region '{name}' in this model; it has: {', '.join(self.region_names)}.")

    def nodes_in_region(self, name: str) -> np.ndarray:
        return np.flatnonzero(self.node_region == self.region_id(name)).astype(np.int32)

    # -- persistence -------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the model as one ``.npz``; the file appears complete or not at all."""
        arrays = {name: getattr(self, name) for name in ARRAY_FIELDS}
        arrays["region_names"] = np.array(self.region_names, dtype=np.str_)
        for prop in MATERIAL_PROPERTIES:
            arrays[f"region_{prop}"] = self.region_materials[prop]
        arrays["format_version"] = np.array(FORMAT_VERSION, dtype=np.int32)
        arrays["metadata"] = np.array(json.dumps(self.metadata, sort_keys=True))
        with atomic_output(path, suffix=".npz") as tmp:
            np.savez_compressed(tmp, **arrays)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TissueModel":
        """Read a model written by :meth:`save`; a missing, corrupt or too-new file raises :class:`InputError`."""
        path = require_input_file(path, "model file")
        try:
            with np.load(path, allow_pickle=False) as data:
                contents = {key: data[key] for key in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
            raise InputError(path, f"not a readable surgsim model (.npz): {exc}.") from None
        if "format_version" not in contents:
            raise InputError(path, "not a surgsim model: the file has no 'format_version' entry.")
        version = int(contents["format_version"])
        if version > FORMAT_VERSION:
            raise InputError(
                path,
                f"model format version {version} is newer than this surgsim understands ({FORMAT_VERSION}); "
                "upgrade surgsim or re-import the mesh with this version.",
            )
        required = list(ARRAY_FIELDS) + ["region_names", "metadata"] + [f"region_{p}" for p in ELASTIC_PROPERTIES]
        missing = [key for key in required if key not in contents]
        if missing:
            raise InputError(path, f"model file is incomplete; missing entries: {', '.join(missing)}.")
        try:
            metadata = json.loads(str(contents["metadata"]))
        except json.JSONDecodeError as exc:
            raise InputError(path, f"model metadata is not valid JSON: {exc}.") from None
        model = cls(
            **{name: contents[name] for name in ARRAY_FIELDS},
            region_names=tuple(contents["region_names"].tolist()),
            region_materials={p: contents[f"region_{p}"] for p in MATERIAL_PROPERTIES if f"region_{p}" in contents},
            metadata=metadata,
        )
        problem = model.consistency_problem()
        if problem:
            raise InputError(path, f"model file is inconsistent: {problem}.")
        return model

    def consistency_problem(self) -> str | None:
        """A sentence describing the first structural inconsistency, or None when the model is sound."""
        n = self.node_count
        if self.positions.ndim != 2 or self.positions.shape[1] != 3:
            return "positions must have shape [N, 3]"
        if not np.all(np.isfinite(self.positions)):
            return "positions contain non-finite values"
        for name, width in (("tets", 4), ("springs", 2), ("surface_triangles", 3)):
            array = getattr(self, name)
            if array.ndim != 2 or array.shape[1] != width:
                return f"{name} must have shape [*, {width}]"
            if array.size and (array.min() < 0 or array.max() >= n):
                return f"{name} refer to nodes outside 0..{n - 1}"
        if len(self.rest_lengths) != self.spring_count or len(self.spring_region) != self.spring_count:
            return "spring arrays differ in length"
        if len(self.masses) != n or len(self.node_region) != n:
            return "node arrays differ in length"
        if len(self.tet_region) != self.tet_count:
            return "tet_region length differs from the tet count"
        r = self.region_count
        for prop in MATERIAL_PROPERTIES:
            if len(self.region_materials[prop]) != r:
                return f"region_{prop} length differs from the region count"
        for name in ("node_region", "tet_region", "spring_region"):
            array = getattr(self, name)
            if array.size and (array.min() < 0 or array.max() >= r):
                return f"{name} refers to regions outside 0..{r - 1}"
        return None

    def __repr__(self) -> str:
        return (
            f"TissueModel({self.node_count} nodes, {self.tet_count} tets, {self.spring_count} springs, "
            f"regions={list(self.region_names)})"
        )



def _fill_relaxation(region_materials: dict, metadata: dict) -> dict:
    """``region_materials`` with the relaxation properties it lacks (a model file written before they existed) taken
    from each region's built-in material: the one named in the metadata, else the one with the same elastic
    properties; a region matching none gets no relaxation (share 0)."""
    missing = [prop for prop in RELAXATION_PROPERTIES if prop not in region_materials]
    if not missing:
        return region_materials
    from surgsim.mesh.materials import MATERIALS, Material

    count = len(np.atleast_1d(region_materials[ELASTIC_PROPERTIES[0]]))
    recorded = metadata.get("region_materials") if isinstance(metadata, dict) else None
    filled = {prop: [] for prop in missing}
    for index in range(count):
        found = None
        if isinstance(recorded, list) and len(recorded) == count:
            found = MATERIALS.get(str(recorded[index]).strip().lower())
        if found is None:
            elastic = tuple(float(np.atleast_1d(region_materials[p])[index]) for p in ELASTIC_PROPERTIES)
            found = next((m for m in MATERIALS.values()
                          if tuple(getattr(m, p) for p in ELASTIC_PROPERTIES) == elastic), None)
        if found is None:
            found = Material("custom", *(0.0 for _ in ELASTIC_PROPERTIES))  # the dataclass's defaults: no relaxation
        for prop in missing:
            filled[prop].append(getattr(found, prop))
    return {**region_materials, **{prop: np.array(values, dtype=np.float64) for prop, values in filled.items()}}
