"""combine_models: disjoint organs joined into one tissue model, each placed by a rigid transform."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from surgsim.mesh.build import build_tissue_model
from surgsim.mesh.combine import RigidTransform, combine_models
from surgsim.mesh.materials import material
from surgsim.mesh.primitives import tet_block


@pytest.fixture
def parts():
    sheet = tet_block((0.05, 0.04, 0.002), (5, 4, 1), tissue="skin", region_name="sheet")
    lump = tet_block((0.02, 0.02, 0.02), (2, 2, 2), tissue="liver")
    return [("sheet", sheet), ("lump", lump)]


def _enclosed_volume(positions: np.ndarray, triangles: np.ndarray) -> float:
    """Divergence theorem: positive exactly when the triangles are wound outward."""
    a, b, c = (positions[triangles[:, k]] for k in range(3))
    return float(np.einsum("ij,ij->", a, np.cross(b, c)) / 6.0)


def test_counts_masses_and_volumes_add_up(parts):
    combined = combine_models(parts)
    model = combined.model
    for count in ("node_count", "tet_count", "spring_count"):
        assert getattr(model, count) == sum(getattr(part, count) for _, part in parts)
    assert len(model.surface_triangles) == sum(len(part.surface_triangles) for _, part in parts)
    assert model.masses.sum() == pytest.approx(sum(part.masses.sum() for _, part in parts), rel=1e-12)
    assert model.volume() == pytest.approx(sum(part.volume() for _, part in parts), rel=1e-12)
    assert model.consistency_problem() is None


def test_each_part_owns_a_node_range_and_a_region_with_its_material(parts):
    combined = combine_models(parts)
    model = combined.model
    assert combined.node_ranges == {"sheet": range(0, 60), "lump": range(60, 87)}  # 6×5×2 and 3×3×3 nodes
    assert model.region_names == ("sheet", "lump")
    assert model.metadata["region_materials"] == ["skin", "liver"]
    for region, (name, part) in enumerate(parts):
        nodes = np.asarray(combined.node_ranges[name])
        assert np.all(model.node_region[nodes] == region)
        np.testing.assert_array_equal(model.nodes_in_region(name), nodes)
        assert model.region_materials["youngs_modulus_pa"][region] == part.region_materials["youngs_modulus_pa"][0]
    assert np.all(model.tet_region[parts[0][1].tet_count:] == 1)


def test_springs_stay_unique_sorted_and_inside_their_part(parts):
    model = combine_models(parts).model
    springs = model.springs
    assert np.all(springs[:, 0] < springs[:, 1])
    assert len(np.unique(springs, axis=0)) == len(springs)
    order = np.lexsort((springs[:, 1], springs[:, 0]))
    np.testing.assert_array_equal(order, np.arange(len(springs)))
    assert np.all(model.node_region[springs[:, 0]] == model.node_region[springs[:, 1]])
    np.testing.assert_allclose(
        model.rest_lengths, np.linalg.norm(model.positions[springs[:, 1]] - model.positions[springs[:, 0]], axis=1)
    )


def test_transform_is_applied_and_keeps_shape_and_orientation(parts):
    rotation = Rotation.from_euler("xyz", [30, -45, 120], degrees=True).as_matrix()
    shift = np.array([0.1, -0.2, 0.05])
    combined = combine_models(parts, transforms=[None, RigidTransform(rotation, shift)])
    model = combined.model
    lump = parts[1][1]
    placed = model.positions[np.asarray(combined.node_ranges["lump"])]
    np.testing.assert_allclose(placed, lump.positions @ rotation.T + shift, atol=1e-15)
    np.testing.assert_array_equal(model.positions[: parts[0][1].node_count], parts[0][1].positions)
    assert np.all(model.tet_volumes() > 0)
    # Rest lengths still match the placed positions: a rigid motion changes no length.
    lengths = np.linalg.norm(model.positions[model.springs[:, 1]] - model.positions[model.springs[:, 0]], axis=1)
    np.testing.assert_allclose(model.rest_lengths, lengths, rtol=1e-12)


def test_surface_stays_outward_per_part(parts):
    rotation = Rotation.from_euler("z", 90, degrees=True).as_matrix()
    combined = combine_models(parts, transforms=[RigidTransform(rotation, [0, 0, 0.1]), None])
    model = combined.model
    for name, part in parts:
        nodes = combined.node_ranges[name]
        own = model.surface_triangles[np.isin(model.surface_triangles[:, 0], np.asarray(nodes))]
        assert _enclosed_volume(model.positions, own) == pytest.approx(part.volume(), rel=1e-9)
    np.testing.assert_array_equal(model.surface_nodes, np.unique(model.surface_triangles))


def test_refuses_reflections_and_mixed_materials(parts):
    with pytest.raises(ValueError, match="reflection"):
        RigidTransform(np.diag([1.0, 1.0, -1.0]), [0, 0, 0])
    lump = parts[1][1]
    two_materials = build_tissue_model(
        lump.positions, lump.tets, np.arange(lump.tet_count) % 2, ["a", "b"], [material("liver"), material("fat")]
    )
    with pytest.raises(ValueError, match="mixes materials"):
        combine_models([("mixed", two_materials)])
    with pytest.raises(ValueError, match="unique"):
        combine_models([("same", lump), ("same", lump)])
    with pytest.raises(ValueError, match="transforms"):
        combine_models(parts, transforms=[None])
