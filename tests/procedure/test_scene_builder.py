"""build_scene on the shipped procedures and on small hand-made ones: organs placed in one model, regions, landmarks,
anchors, rigid bodies, camera and instruments in metres."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from surgsim.errors import InputError
from surgsim.procedure import load_procedure
from surgsim.procedure.region_geometry import CapsuleVolume, SurfacePatch
from surgsim.procedure.scene_builder import TISSUE_MESH_NAME, build_scene
from surgsim.procedure.schema import BoxRegion, CapsuleRegion, OrganRegion, SphereRegion
from surgsim.tissue.contact import Box

PROCEDURES = Path(__file__).resolve().parents[2] / "procedures"
SHIPPED = ("pattern_cutting", "liver_retraction", "gallbladder_dissection")
MM = 1e-3


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory):
    """A fresh model cache for this test session: the first build imports, later ones reuse."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SURGSIM_CACHE_DIR", str(tmp_path_factory.mktemp("model_cache")))
        yield


_built = {}


def shipped(name: str):
    if name not in _built:
        _built[name] = build_scene(load_procedure(PROCEDURES / f"{name}.yaml"))
    return _built[name]


def _inside_mm(region, points_mm: np.ndarray) -> np.ndarray:
    if isinstance(region, BoxRegion):
        return np.all((points_mm >= region.min_mm) & (points_mm <= region.max_mm), axis=1)
    if isinstance(region, SphereRegion):
        return np.linalg.norm(points_mm - region.center_mm, axis=1) <= region.radius_mm
    start, end = np.asarray(region.from_mm), np.asarray(region.to_mm)
    along = np.clip((points_mm - start) @ (end - start) / np.sum((end - start) ** 2), 0, 1)
    return np.linalg.norm(points_mm - (start + along[:, None] * (end - start)), axis=1) <= region.radius_mm


@pytest.mark.parametrize("name", SHIPPED)
def test_every_region_selects_a_plausible_node_set(name):
    scene = shipped(name)
    spec = scene.procedure.spec
    for region_name, region in spec.scene.regions.items():
        built = scene.regions[region_name]
        rest_mm = scene.model.positions[built.nodes] / MM
        if isinstance(region, OrganRegion):
            if region.organ in scene.organ_nodes:
                np.testing.assert_array_equal(built.nodes, np.asarray(scene.organ_nodes[region.organ]))
            else:  # a rigid body: its surface, no tissue
                assert len(built.nodes) == 0 and len(built.geometry.triangles) > 100
            continue
        assert np.all(_inside_mm(region, rest_mm)), region_name
        if region.organ is None:  # a volume of the scene: every tissue node inside it
            outside = np.setdiff1d(np.arange(scene.model.node_count), built.nodes)
            assert not np.any(_inside_mm(region, scene.model.positions[outside] / MM))
            continue
        organ = np.asarray(scene.organ_nodes[region.organ])
        assert np.isin(built.nodes, organ).all()
        assert 5 <= len(built.nodes) < len(organ) // 2, (region_name, len(built.nodes))


@pytest.mark.parametrize("name", SHIPPED)
def test_landmarks_lie_on_their_organs_and_follow_them(name):
    scene = shipped(name)
    for landmark in scene.landmarks.values():
        model = scene.model
        np.testing.assert_allclose(landmark.position_m(model.positions), landmark.rest_position_m, atol=1e-12)
        nodes = np.asarray(scene.organ_nodes[landmark.organ])
        own = model.surface_triangles[np.isin(model.surface_triangles, nodes).all(axis=1)]
        surface = SurfacePatch(own, rest_vertices_m=model.positions)
        point = landmark.rest_position_m
        assert surface.placed(model.positions).nearest_within(point, point, 6 * MM) is not None, landmark.name
        assert landmark.nearest_node in nodes
        moved = model.positions + [0.01, -0.02, 0.03]
        np.testing.assert_allclose(landmark.position_m(moved), point + [0.01, -0.02, 0.03], atol=1e-12)


@pytest.mark.parametrize("name", SHIPPED)
def test_anchors_hold_nodes_of_their_anchor_regions(name):
    scene = shipped(name)
    assert len(scene.anchor_nodes) > 0

    class RecordingControl:
        def anchor(self, nodes):
            self.anchored = np.asarray(nodes)
            return self.anchored

        def attach(self, nodes, targets, stiffness):
            self.attached = (np.asarray(nodes), np.asarray(targets), np.asarray(stiffness))

    control = RecordingControl()
    scene.apply_anchors(control)
    np.testing.assert_array_equal(control.anchored, scene.anchor_nodes)
    anchor_regions = {anchor for organ in scene.procedure.spec.scene.organs for anchor in organ.anchors}
    expected = np.unique(np.concatenate([scene.regions[region].nodes for region in anchor_regions]))
    np.testing.assert_array_equal(scene.anchor_nodes, expected)


@pytest.mark.parametrize("name", ["liver_retraction", "gallbladder_dissection"])
def test_the_gallbladder_bed_is_a_compliant_attachment(name):
    """The bed is soft anatomy: its nodes are tied to their rest positions with E_bed V_i / t_bed², which sums to
    E_bed V / t_bed² over the bed's volume V (a layer of that modulus and thickness), not anchored."""
    from surgsim.mesh.materials import material

    scene = shipped(name)
    bed = scene.regions["gallbladder_bed"].nodes
    np.testing.assert_array_equal(np.sort(scene.attachment_nodes), bed)
    assert not np.isin(bed, scene.anchor_nodes).any()
    gallbladder = material("gallbladder")
    volume = scene.model.masses[scene.attachment_nodes] / gallbladder.density_kg_m3
    np.testing.assert_allclose(scene.attachment_stiffness,
                               gallbladder.bed_modulus_pa / gallbladder.bed_thickness_m ** 2 * volume, rtol=1e-12)

    class RecordingControl:
        def anchor(self, nodes):
            return np.asarray(nodes)

        def attach(self, nodes, targets, stiffness):
            self.attached = (np.asarray(nodes), np.asarray(targets), np.asarray(stiffness))

    control = RecordingControl()
    scene.apply_anchors(control)
    nodes, targets, stiffness = control.attached
    np.testing.assert_array_equal(nodes, scene.attachment_nodes)
    np.testing.assert_array_equal(targets, scene.model.positions[nodes])
    np.testing.assert_array_equal(stiffness, scene.attachment_stiffness)


def test_pattern_cutting_gauze_is_centred_with_its_top_at_2_mm():
    scene = shipped("pattern_cutting")
    low, high = scene.model.positions.min(axis=0) / MM, scene.model.positions.max(axis=0) / MM
    np.testing.assert_allclose(low, [-50, -50, 0], atol=1e-9)
    np.testing.assert_allclose(high, [50, 50, 2], atol=1e-9)
    [gauze] = scene.procedure.spec.scene.organs
    assert scene.model.region_names == ("gauze",) and scene.model.metadata["region_materials"] == [gauze.material]
    for edge in ("frame_front", "frame_back", "frame_left", "frame_right"):
        assert len(scene.regions[edge].nodes) == 104  # 26 nodes along the edge × 2 rows (4 mm apart) × 2 layers
    plate = scene.rigid_bodies["base_plate"]
    assert plate.box_is_exact
    a, b, c = (plate.vertices_m[plate.triangles[:, k]] for k in range(3))
    assert np.einsum("ij,ij->", a, np.cross(b, c)) / 6 == pytest.approx(0.3 * 0.3 * 0.01)  # closed and outward
    np.testing.assert_allclose(plate.box.center_m, [0, 0, -0.085], atol=1e-12)
    np.testing.assert_allclose(plate.box.half_extents_m, [0.15, 0.15, 0.005], atol=1e-12)
    (obstacle,) = scene.tissue_obstacles()
    np.testing.assert_allclose(obstacle.pack(), Box(center=(0, 0, -0.085), half_extents=(0.15, 0.15, 0.005)).pack())


@pytest.mark.parametrize("name", ["liver_retraction", "gallbladder_dissection"])
def test_liver_and_gallbladder_share_the_ct_frame(name):
    scene = shipped(name)
    positions_mm = scene.model.positions / MM
    liver = positions_mm[np.asarray(scene.organ_nodes["liver"])]
    gallbladder = positions_mm[np.asarray(scene.organ_nodes["gallbladder"])]
    # The 9 cm scan cuts the liver off at both ends: its cut faces are the anchor boxes (z 90-97 and 177-185 mm).
    assert 90 <= liver[:, 2].min() <= 97 and 177 <= liver[:, 2].max() <= 185
    # The gallbladder hangs under the liver's anterior-inferior edge, its neck near [47, 191, 127] mm.
    low, high = gallbladder.min(axis=0), gallbladder.max(axis=0)
    assert np.all(low <= [47, 191, 114]) and np.all(high >= [68, 218, 127])
    assert np.all(low >= liver.min(axis=0)) and np.all(high <= liver.max(axis=0))
    assert scene.model.region_names == ("liver", "gallbladder")


def test_gallbladder_dissection_rigid_vein_and_artery_zone():
    scene = shipped("gallbladder_dissection")
    vein = scene.rigid_bodies["portal_vein"]
    assert not vein.box_is_exact and len(vein.triangles) > 500
    # Outward and closed: the enclosed volume is positive, and every vertex lies inside the proxy box.
    a, b, c = (vein.vertices_m[vein.triangles[:, k]] for k in range(3))
    assert np.einsum("ij,ij->", a, np.cross(b, c)) > 0
    local = (vein.vertices_m - vein.box.center_m) @ vein.box.rotation
    assert np.all(np.abs(local) <= vein.box.half_extents_m + 1e-9)
    assert scene.tissue_obstacles() == []  # a surface's box would swallow tissue
    artery = scene.regions["cystic_artery"]
    assert artery.body is None and isinstance(artery.geometry, CapsuleVolume)
    start = np.array([44, 192, 138]) * MM
    assert artery.geometry.placed(scene.model.positions).nearest_within(start, start, 0.0) is not None
    lifted = scene.model.positions + [0.0, 0.0, 0.01]
    assert artery.geometry.placed(lifted).nearest_within(start, start, 0.0) is None  # it moved up with the tissue
    assert artery.geometry.placed(lifted).nearest_within(start + [0, 0, 0.01], start + [0, 0, 0.01], 0.0) is not None


@pytest.mark.parametrize("name", SHIPPED)
def test_render_scene_camera_and_instruments_in_metres(name):
    scene = shipped(name)
    spec = scene.procedure.spec
    render = scene.render_scene()
    assert [tissue.name for tissue in render.tissues] == [TISSUE_MESH_NAME]
    assert render.tissues[0].node_count == scene.model.node_count
    assert [rigid.name for rigid in render.rigid] == [body.name for body in spec.scene.rigid]
    assert [(i.name, i.kind) for i in render.instruments] == [(i.name, i.type) for i in spec.instruments]
    np.testing.assert_allclose(scene.camera.look_at_m, np.asarray(spec.scene.camera.look_at_mm) * MM)
    pose = scene.camera.pose()
    np.testing.assert_allclose(pose.eye_m, np.asarray(spec.scene.camera.port_mm) * MM)
    for built, written in zip(scene.instruments, spec.instruments):
        np.testing.assert_allclose(built.port_m, np.asarray(written.port_mm) * MM)
        assert built.aim_m == scene.camera.look_at_m


PLACED = (
    ("source: {kind: block, size_mm: [50, 50, 2], divisions: [5, 5, 1]}",
     "source: {kind: block, size_mm: [50, 50, 2], divisions: [5, 5, 1]}\n"
     "      placement: {scale: 2, rotation_deg: [90, 0, 90], translation_mm: [10, 20, 30]}"),
    ("edge: {kind: box, organ: sheet, min_mm: [-1, -1, -1], max_mm: [5, 51, 3]}",
     "edge: {kind: box, organ: sheet, min_mm: [5, 15, 25], max_mm: [15, 125, 35]}"),
    ("middle: {kind: sphere, organ: sheet, center_mm: [25, 25, 1], radius_mm: 5}",
     "middle: {kind: sphere, organ: sheet, center_mm: [12, 60, 70], radius_mm: 12}"),
    ("a: {organ: sheet, position_mm: [10, 25, 1]}", "a: {organ: sheet, position_mm: [12, 70, 50]}"),
    ("b: {organ: sheet, position_mm: [40, 25, 1]}", "b: {organ: sheet, position_mm: [12, 70, 110]}"),
)


def test_placement_scales_then_rotates_about_x_y_z_then_translates(write_procedure):
    scene = build_scene(load_procedure(write_procedure(PLACED)))
    model = scene.model
    # Scaled 2×, the 50 × 50 × 2 mm block is 100 × 100 × 4; x by 90° sends (x, y, z) → (x, -z, y), then z by 90°
    # sends that to (z, x, y): the block spans x 0..4, y 0..100, z 0..100 mm before the translation.
    np.testing.assert_allclose(model.positions.min(axis=0) / MM, [10, 20, 30], atol=1e-9)
    np.testing.assert_allclose(model.positions.max(axis=0) / MM, [14, 120, 130], atol=1e-9)
    assert model.masses.sum() == pytest.approx(1109.0 * 0.1 * 0.1 * 0.004, rel=1e-9)
    assert np.all(model.tet_volumes() > 0)
    assert len(scene.regions["edge"].nodes) == 6 * 2  # the row at z = 30 mm: 6 nodes along y, both layers
    np.testing.assert_allclose(model.positions[scene.regions["middle"].nodes] / MM, [[10, 60, 70], [14, 60, 70]])
    assert len(scene.landmarks) == 2 and scene.landmarks["a"].nearest_node is not None


# The shared test procedure's "middle" sphere (radius 5 mm) falls between its nodes, 10 mm apart.
MIDDLE_WITH_NODES = ("center_mm: [25, 25, 1], radius_mm: 5", "center_mm: [25, 25, 1], radius_mm: 8")


def test_a_region_that_misses_its_organ_is_refused(write_procedure):
    path = write_procedure((("center_mm: [25, 25, 1], radius_mm: 5", "center_mm: [25, 25, 40], radius_mm: 5"),))
    with pytest.raises(InputError, match="region 'middle' selects no part of 'sheet'") as error:
        build_scene(load_procedure(path))
    assert error.value.source == str(path.resolve())


def test_a_grasp_goal_on_an_empty_volume_is_refused(write_procedure):
    path = write_procedure((
        MIDDLE_WITH_NODES,
        ("goal: {kind: retract, region: middle,", "goal: {kind: retract, region: vessel,"),
        ("forbidden:\n  - region: vessel\n", ""),
    ))
    with pytest.raises(InputError, match="step 'lift' must grasp region 'vessel', which holds no tissue node"):
        build_scene(load_procedure(path))


def test_volume_regions_are_kept_even_when_empty(write_procedure):
    scene = build_scene(load_procedure(write_procedure((MIDDLE_WITH_NODES,))))
    vessel = scene.regions["vessel"]
    assert len(vessel.nodes) == 0 and isinstance(scene.procedure.spec.scene.regions["vessel"], CapsuleRegion)
    below = np.array([0.025, 0.0, -0.01])
    assert vessel.geometry.placed(scene.model.positions).nearest_within(below, below, 0.0) is not None
