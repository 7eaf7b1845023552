"""The mesh quality goals of issue 12 on clean shapes, the shipped organs and the CT label map.

Goals: minimum dihedral angle ≥ 10°, no spring longer than 3× the median, node count within 15 % of the target,
volume within 2 % of the surface's; a surface the import cannot mesh to the goals gives a warning naming the worst
elements, or is refused (exit 2) when its tets would invert; `surgsim mesh info` flags elements below the goals.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import pyvista as pv

from surgsim.errors import InputError
from surgsim.mesh import tetrahedralize as tetmod
from surgsim.mesh.build import build_tissue_model
from surgsim.mesh.materials import material
from surgsim.mesh.pipeline import import_model
from surgsim.mesh.quality import (
    MAX_SPRING_OVER_MEDIAN_GOAL,
    MIN_DIHEDRAL_GOAL_DEG,
    check_generated_mesh,
    mesh_quality,
    quality_shortfall,
)
from surgsim.mesh.surface import clean_surface, read_mesh_file, signed_enclosed_volume

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "meshes"
NODE_TOLERANCE = 0.15
VOLUME_TOLERANCE = 0.02


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SURGSIM_CACHE_DIR", str(tmp_path / "cache"))


def clean_shape(name: str) -> pv.PolyData:
    """Clean closed surfaces in millimetres, as a CAD program or pyvista would write them."""
    if name == "cylinder":  # the 30 × 90 mm cylinder: long thin side triangles, fans on the caps
        return pv.Cylinder(radius=15.0, height=90.0, resolution=60).triangulate()
    if name == "sphere":
        return pv.Sphere(radius=25.0, theta_resolution=60, phi_resolution=60)
    if name == "box":  # 12 triangles: every node but the corners is made by the mesher
        return pv.Box(bounds=(0.0, 60.0, 0.0, 40.0, 0.0, 30.0)).triangulate()
    if name == "torus":
        return pv.ParametricTorus(ringradius=30.0, crosssectionradius=10.0).triangulate().clean()
    raise ValueError(name)


def assert_meets_goals(model, target_nodes: int, surface_volume_m3: float) -> None:
    quality = mesh_quality(model)
    assert quality.min_dihedral_deg >= MIN_DIHEDRAL_GOAL_DEG
    assert quality.longest_spring_over_median <= MAX_SPRING_OVER_MEDIAN_GOAL
    assert quality.meets_goals
    assert abs(model.node_count / target_nodes - 1.0) <= NODE_TOLERANCE, model.node_count
    assert model.volume() == pytest.approx(surface_volume_m3, rel=VOLUME_TOLERANCE)


@pytest.mark.parametrize(
    ("shape", "target_nodes"), [("cylinder", 3000), ("cylinder", 800), ("sphere", 1000), ("box", 1000), ("torus", 1500)]
)
def test_clean_shapes_meet_the_goals(tmp_path, shape, target_nodes):
    path = tmp_path / f"{shape}.stl"
    clean_shape(shape).save(path)
    model = import_model(path, target_nodes=target_nodes, units="mm")
    surface_volume = signed_enclosed_volume(clean_surface(read_mesh_file(path), source=path)) * 1e-9
    assert_meets_goals(model, target_nodes, surface_volume)


@pytest.mark.parametrize(("asset", "target_nodes"), [("liver.stl", 3000), ("gallbladder.stl", 1000)])
def test_shipped_organ_surfaces_meet_the_goals(asset, target_nodes):
    model = import_model(ASSETS / asset, target_nodes=target_nodes)
    assert_meets_goals(model, target_nodes, model.metadata["surface_volume_m3"])


@pytest.mark.parametrize(("labels", "target_nodes"), [("liver=5,gallbladder=4", 3000), ("4", 800)])
def test_ct_label_map_meets_the_goals(labels, target_nodes):
    model = import_model(ASSETS / "abdomen_ct_seg.nii.gz", labels=labels, target_nodes=target_nodes)
    assert_meets_goals(model, target_nodes, model.metadata["surface_volume_m3"])


def test_a_50k_triangle_surface_imports_within_10_s_of_cpu(tmp_path):
    # CPU time of this process (gmsh runs in it, on one thread), so that other work on a shared machine does not count.
    path = tmp_path / "dense_sphere.stl"
    dense = pv.Sphere(radius=30.0, theta_resolution=180, phi_resolution=140)
    assert dense.n_cells >= 49_000
    dense.save(path)
    for target_nodes in (800, 5000):
        started = time.process_time()
        model = import_model(path, target_nodes=target_nodes, units="mm", use_cache=False)
        assert time.process_time() - started <= 10.0
        assert abs(model.node_count / target_nodes - 1.0) <= NODE_TOLERANCE


def test_models_record_the_mesher_which_is_part_of_the_cache_key(tmp_path):
    path = tmp_path / "box.stl"
    clean_shape("box").save(path)
    model = import_model(path, target_nodes=200, units="mm")
    assert model.metadata["mesher"] == tetmod.MESHER_VERSION


def sliver_mesh(apex_height: float) -> tuple[np.ndarray, np.ndarray]:
    """Two regular-ish tets and one whose apex is ``apex_height`` above its base (metres): a sliver when small."""
    points = np.array(
        [[0, 0, 0], [0.01, 0, 0], [0.005, 0.0087, 0], [0.005, 0.0029, 0.0082], [0.005, 0.0029, -0.0082],
         [0.02, 0, 0], [0.015, 0.0087, 0], [0.015, 0.0029, apex_height]],
        dtype=np.float64,
    )
    tets = np.array([[0, 1, 2, 3], [0, 1, 2, 4], [1, 5, 6, 7]])
    return points, tets


def test_a_mesh_below_the_goals_gets_a_warning_naming_its_worst_tet(caplog):
    points, tets = sliver_mesh(apex_height=0.00025)  # about 5°
    with caplog.at_level("WARNING", logger="surgsim"):
        check_generated_mesh(points, tets, source="organ.stl")
    assert "organ.stl" in caplog.text
    assert "tet 2 (" in caplog.text and "below 10°" in caplog.text


def test_a_mesh_whose_tets_would_invert_is_refused():
    points, tets = sliver_mesh(apex_height=0.00002)  # under 1°
    with pytest.raises(InputError) as raised:
        check_generated_mesh(points, tets, source="organ.stl")
    assert raised.value.source == "organ.stl"
    assert "tet 2 (" in raised.value.problem and "invert" in raised.value.problem
    # The user's own tets are used as they are: the same mesh only warns.
    check_generated_mesh(points, tets, source="organ.vtu", refuse_inverting=False)


def test_a_surface_only_tetgen_can_mesh_is_never_a_silent_sliver_mesh(tmp_path, monkeypatch, caplog):
    def refusing_gmsh(self, edge_length, surface_options):
        raise RuntimeError("simulated gmsh refusal")

    monkeypatch.setattr(tetmod._GmshVolume, "_generate", refusing_gmsh)
    path = tmp_path / "cylinder.stl"
    clean_shape("cylinder").save(path)
    with caplog.at_level("WARNING", logger="surgsim"):
        try:
            model = import_model(path, target_nodes=800, units="mm")
        except InputError as refused:
            assert "invert" in refused.problem
            return
    # tetgen's best is imported only with a warning naming the worst elements, or it meets the goals.
    assert "misses the quality goals" in caplog.text or mesh_quality(model).meets_goals


def test_shortfall_lists_long_springs_worst_first():
    points, tets = sliver_mesh(apex_height=0.0082)
    points[7] = [0.015, 0.0029, 0.08]  # one tet stretched 10× upwards: its three apex edges are long
    shortfall = quality_shortfall(points, tets)
    assert len(shortfall.edges) == 3 and set(shortfall.edges[:, 1]) == {7}
    assert np.all(np.diff(shortfall.edge_over_median) <= 0)


def test_mesh_info_flags_elements_below_the_goals(tmp_path, capsys):
    from surgsim.cli import main

    points, tets = sliver_mesh(apex_height=0.00025)
    model = build_tissue_model(points, tets, np.zeros(len(tets), dtype=np.int64), ["organ"], [material("liver")])
    model.save(tmp_path / "sliver.npz")
    assert main(["mesh", "info", str(tmp_path / "sliver.npz")]) == 0
    shown = capsys.readouterr().out
    assert "below the mesh quality goals" in shown and "tet 2 (" in shown
