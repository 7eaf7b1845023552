"""Tetrahedralization at a target node count, and tetgen refusals (surgsim.mesh.tetrahedralize)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvista as pv

from surgsim.errors import InputError
from surgsim.mesh import tetrahedralize as tetmod
from surgsim.mesh.build import orient_tets, signed_tet_volumes
from surgsim.mesh.surface import (
    clean_surface,
    make_watertight,
    read_mesh_file,
    signed_enclosed_volume,
    triangle_array,
)

LIVER_STL = Path(__file__).resolve().parents[2] / "assets" / "meshes" / "liver.stl"


def sphere(radius=0.05, centre=(0.0, 0.0, 0.0), resolution=30) -> pv.PolyData:
    mesh = pv.Sphere(radius=radius, center=centre, theta_resolution=resolution, phi_resolution=resolution)
    mesh = mesh.triangulate().clean()
    return pv.PolyData.from_regular_faces(np.asarray(mesh.points), triangle_array(mesh))


def tet_volume(mesh: tetmod.TetMesh) -> float:
    return float(np.abs(signed_tet_volumes(mesh.points, mesh.tets)).sum())


@pytest.mark.parametrize("target", [300, 2000])
def test_sphere_lands_near_the_target_and_keeps_its_volume(target):
    ball = sphere(resolution=40)
    mesh = tetmod.tetrahedralize(ball, target, source="ball.stl")
    assert 0.7 * target <= mesh.used_node_count <= 1.3 * target
    assert tet_volume(mesh) == pytest.approx(signed_enclosed_volume(ball), rel=0.05)
    oriented = orient_tets(mesh.points, mesh.tets)
    assert np.all(signed_tet_volumes(mesh.points, oriented) > 0)


def test_liver_asset_lands_near_the_target():
    liver = make_watertight(clean_surface(read_mesh_file(LIVER_STL), source=LIVER_STL), source=LIVER_STL)
    mesh = tetmod.tetrahedralize(liver, 2500, source=LIVER_STL)
    assert 0.7 * 2500 <= mesh.used_node_count <= 1.3 * 2500
    assert tet_volume(mesh) == pytest.approx(signed_enclosed_volume(liver), rel=0.05)


@pytest.mark.parametrize("target", [0, 19, 2_000_001, 2.5, "100", True])
def test_absurd_targets_are_refused_naming_the_option(target):
    with pytest.raises(InputError) as raised:
        tetmod.check_target_nodes(target)
    assert raised.value.source == "--target-nodes"


def test_limits_are_accepted():
    assert tetmod.check_target_nodes(tetmod.MIN_TARGET_NODES) == 20
    assert tetmod.check_target_nodes(np.int64(tetmod.MAX_TARGET_NODES)) == 2_000_000


def test_self_intersecting_surface_is_repaired_and_meshed(tmp_path, monkeypatch, caplog):
    # Two interpenetrating balls in one surface: closed and manifold, but tetgen refuses the intersections.
    first, second = sphere(), sphere(centre=(0.06, 0.0, 0.0))
    points = np.vstack([first.points, second.points])
    triangles = np.vstack([triangle_array(first), triangle_array(second) + first.n_points])
    overlapping = pv.PolyData.from_regular_faces(points, triangles)
    monkeypatch.chdir(tmp_path)
    with caplog.at_level("INFO", logger="surgsim"):
        mesh = tetmod.tetrahedralize(overlapping, 500, source="overlap.stl")
    assert "self-intersect" in caplog.text
    assert mesh.used_node_count > 100
    assert tet_volume(mesh) > 0.9 * signed_enclosed_volume(first)
    assert list(tmp_path.iterdir()) == [], "tetgen's _skipped.* files must not land in the working folder"


def test_a_surface_that_neither_gmsh_nor_tetgen_can_mesh_is_an_input_error(monkeypatch, caplog):
    def refusing_gmsh(self, edge_length, surface_options):
        raise RuntimeError("simulated gmsh refusal")

    def refusing_tetgen(surface, volume_bound, target_nodes):
        raise RuntimeError("simulated refusal")

    monkeypatch.setattr(tetmod._GmshVolume, "_generate", refusing_gmsh)
    monkeypatch.setattr(tetmod, "_run_tetgen", refusing_tetgen)
    with caplog.at_level("INFO", logger="surgsim"), pytest.raises(InputError) as raised:
        tetmod.tetrahedralize(sphere(), 200, source="organ.stl")
    assert raised.value.source == "organ.stl"
    assert "simulated refusal" in raised.value.problem
    assert "simulated gmsh refusal" in caplog.text, "the gmsh refusal must be reported before falling back"


def test_a_surface_gmsh_cannot_mesh_falls_back_to_tetgen_with_a_warning(monkeypatch, caplog):
    def refusing_gmsh(self, edge_length, surface_options):
        raise RuntimeError("simulated gmsh refusal")

    monkeypatch.setattr(tetmod._GmshVolume, "_generate", refusing_gmsh)
    ball = sphere()
    with caplog.at_level("WARNING", logger="surgsim"):
        mesh = tetmod.tetrahedralize(ball, 300, source="organ.stl")
    assert "falling back to tetgen" in caplog.text
    assert tet_volume(mesh) == pytest.approx(signed_enclosed_volume(ball), rel=0.02)
