"""Several disjoint organs as one :class:`~surgsim.mesh.model.TissueModel`, so that one solver simulates them all.

Each part is placed by a :class:`RigidTransform` (a proper rotation, then a translation [m]) and its nodes, tets,
springs and surface triangles are appended after those of the parts before it, with their node ids shifted. Because
the node ids of part k come after those of part k-1, the springs stay sorted and unique and every part owns one
contiguous node range (:attr:`CombinedModel.node_ranges`).

Regions: the combined model has **one region per part, named after the part**, carrying that part's material. A part
must therefore be of one material (all its regions alike); a scene organ is, because a procedure gives each organ one
material. A part's own region names are dropped: the procedure's named regions select nodes geometrically, and the
solver needs only the material.

Rotation and translation change neither lengths nor volumes, so rest lengths and masses are copied as they are;
scaling changes them and must be applied before (by rebuilding the part's model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from surgsim.mesh.materials import MATERIALS
from surgsim.mesh.model import MATERIAL_PROPERTIES, TissueModel

_ORTHONORMAL_TOLERANCE = 1e-9


@dataclass(frozen=True)
class RigidTransform:
    """``x ↦ rotation @ x + translation_m``: a proper rotation (3×3, det +1) followed by a translation [m]."""

    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    translation_m: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def __post_init__(self):
        rotation = np.array(self.rotation, dtype=np.float64)
        translation = np.array(self.translation_m, dtype=np.float64).reshape(-1)
        if rotation.shape != (3, 3) or not np.allclose(rotation.T @ rotation, np.eye(3), atol=_ORTHONORMAL_TOLERANCE):
            raise ValueError("rotation must be an orthonormal 3×3 matrix")
        # A reflection would turn every tet inside out and the surface normals inward.
        if np.linalg.det(rotation) < 0:
            raise ValueError("rotation must be proper (det +1), not a reflection")
        if translation.shape != (3,) or not np.all(np.isfinite(translation)):
            raise ValueError("translation_m must be three finite numbers")
        object.__setattr__(self, "rotation", rotation)
        object.__setattr__(self, "translation_m", translation)

    def apply(self, points: np.ndarray) -> np.ndarray:
        """The transformed points [K, 3] [m]."""
        return np.asarray(points, dtype=np.float64) @ self.rotation.T + self.translation_m


@dataclass(frozen=True, eq=False)
class CombinedModel:
    """The combined model and, per part name, the range of its node ids in it."""

    model: TissueModel
    node_ranges: dict[str, range]


def combine_models(
    named_models: Sequence[tuple[str, TissueModel]], *, transforms: Sequence[RigidTransform | None] | None = None
) -> CombinedModel:
    """Concatenate ``named_models`` (name, model) into one model; ``transforms[k]`` places part k (None: as it is).

    Raises ValueError for no parts, repeated names, a transform list of another length, or a part whose regions
    differ in material.
    """
    if not named_models:
        raise ValueError("combine_models needs at least one model")
    names = [name for name, _ in named_models]
    if len(set(names)) != len(names):
        raise ValueError(f"part names must be unique, got {names}")
    placements = list(transforms) if transforms is not None else [None] * len(named_models)
    if len(placements) != len(named_models):
        raise ValueError(f"{len(placements)} transforms for {len(named_models)} models")

    positions, tets, springs, rest_lengths, masses, triangles = [], [], [], [], [], []
    node_region, tet_region, spring_region, region_labels = [], [], [], []
    materials = {prop: [] for prop in MATERIAL_PROPERTIES}
    material_names, parts_metadata, node_ranges = [], [], {}
    offset = 0
    for region, ((name, model), placement) in enumerate(zip(named_models, placements)):
        _check_single_material(name, model)
        positions.append(placement.apply(model.positions) if placement is not None else model.positions)
        tets.append(model.tets + offset)
        springs.append(model.springs + offset)
        triangles.append(model.surface_triangles + offset)
        rest_lengths.append(model.rest_lengths)
        masses.append(model.masses)
        node_region.append(np.full(model.node_count, region))
        tet_region.append(np.full(model.tet_count, region))
        spring_region.append(np.full(model.spring_count, region))
        region_labels.append(int(model.region_labels[0]) if model.region_count == 1 else -1)
        for prop in MATERIAL_PROPERTIES:
            materials[prop].append(model.region_materials[prop][0])
        material_names.append(_material_name(model))
        node_ranges[name] = range(offset, offset + model.node_count)
        parts_metadata.append({"name": name, "node_start": offset, "node_stop": offset + model.node_count,
                               "metadata": model.metadata})
        offset += model.node_count

    surface_triangles = np.concatenate(triangles)
    model = TissueModel(
        positions=np.concatenate(positions),
        tets=np.concatenate(tets),
        springs=np.concatenate(springs),
        rest_lengths=np.concatenate(rest_lengths),
        masses=np.concatenate(masses),
        surface_triangles=surface_triangles,
        surface_nodes=np.unique(surface_triangles),
        node_region=np.concatenate(node_region),
        tet_region=np.concatenate(tet_region),
        spring_region=np.concatenate(spring_region),
        region_names=tuple(names),
        region_labels=np.array(region_labels),
        region_materials={prop: np.array(values) for prop, values in materials.items()},
        # ``region_materials`` names the material of each region, as the importer writes it (the renderer's palette
        # falls back to it for region names it does not know, such as "gauze").
        metadata={"source": "combined", "region_materials": material_names, "parts": parts_metadata},
    )
    return CombinedModel(model, node_ranges)


def _check_single_material(name: str, model: TissueModel) -> None:
    for prop in MATERIAL_PROPERTIES:
        values = model.region_materials[prop]
        if np.any(values != values[0]):
            raise ValueError(
                f"part '{name}' mixes materials ({prop} differs between its regions); give it one material first"
            )


def _material_name(model: TissueModel) -> str:
    """The built-in material name of a single-material model: from its metadata, else by matching the table's values;
    empty when it matches none."""
    recorded = model.metadata.get("region_materials")
    if recorded and len(set(recorded)) == 1:
        return str(recorded[0])
    properties = tuple(float(model.region_materials[prop][0]) for prop in MATERIAL_PROPERTIES)
    for name, material in MATERIALS.items():
        if tuple(getattr(material, prop) for prop in MATERIAL_PROPERTIES) == properties:
            return name
    return ""
