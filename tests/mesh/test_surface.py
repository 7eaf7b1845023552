"""Surface reading, unit handling, cleaning, closing, repair and decimation (surgsim.mesh.surface)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import pyvista as pv

from surgsim.errors import InputError
from surgsim.mesh import surface as surf

RADIUS_M = 0.05
SPHERE_VOLUME_M3 = 4.0 / 3.0 * math.pi * RADIUS_M**3


def sphere(radius: float = RADIUS_M, resolution: int = 30) -> pv.PolyData:
    mesh = pv.Sphere(radius=radius, theta_resolution=resolution, phi_resolution=resolution).triangulate().clean()
    return pv.PolyData.from_regular_faces(np.asarray(mesh.points), surf.triangle_array(mesh))


def closed(mesh: pv.DataSet, source="test") -> pv.PolyData:
    return surf.make_watertight(surf.clean_surface(mesh, source=source), source=source)


@pytest.mark.parametrize("extension", [".stl", ".obj", ".ply", ".vtp", ".vtk"])
def test_every_surface_format_reads_back_as_the_same_closed_surface(tmp_path, extension):
    path = tmp_path / f"ball{extension}"
    sphere().save(path)
    mesh = surf.read_mesh_file(path)
    result = closed(mesh, path)
    assert surf.is_closed_manifold(result)
    assert surf.signed_enclosed_volume(result) == pytest.approx(sphere().volume, rel=1e-4)


def test_duplicate_points_are_merged():
    ball = sphere()
    triangles = surf.triangle_array(ball)
    # A triangle soup, as raw STL stores it: every triangle has its own three points.
    soup_points = np.asarray(ball.points)[triangles.ravel()]
    soup = pv.PolyData.from_regular_faces(soup_points, np.arange(triangles.size).reshape(-1, 3))
    cleaned = surf.clean_surface(soup, source="soup.stl")
    assert cleaned.n_points == ball.n_points
    assert surf.is_closed_manifold(cleaned)


def test_degenerate_and_repeated_triangles_are_dropped():
    ball = sphere()
    triangles = surf.triangle_array(ball)
    points = np.vstack([ball.points, ball.points[0] + [1e-3, 0, 0]])
    extra_point = len(points) - 1
    # A zero-area triangle (three points on a line) and a second copy of an existing triangle.
    collinear = np.vstack([points, ball.points[0] + [2e-3, 0, 0]])
    degenerate = [[0, extra_point, len(collinear) - 1]]
    mesh = pv.PolyData.from_regular_faces(collinear, np.vstack([triangles, degenerate, triangles[:1]]))
    cleaned = surf.clean_surface(mesh, source="test")
    assert len(surf.triangle_array(cleaned)) == len(triangles)
    assert surf.is_closed_manifold(cleaned)


def test_small_hole_is_closed_and_inward_winding_is_turned_outward():
    ball = sphere()
    triangles = surf.triangle_array(ball)[1:, [0, 2, 1]]  # one triangle missing, all wound inward
    mesh = pv.PolyData.from_regular_faces(np.asarray(ball.points), triangles)
    assert surf.signed_enclosed_volume(mesh) < 0
    result = closed(mesh)
    assert surf.is_closed_manifold(result)
    assert surf.signed_enclosed_volume(result) == pytest.approx(ball.volume, rel=0.01)


def test_large_hole_is_repaired_with_pymeshfix(caplog):
    ball = sphere()
    points, triangles = np.asarray(ball.points), surf.triangle_array(ball)
    centres = points[triangles].mean(axis=1)
    cap_removed = triangles[centres[:, 2] < 0.9 * RADIUS_M]
    mesh = pv.PolyData.from_regular_faces(points, cap_removed)
    with caplog.at_level("INFO", logger="surgsim"):
        result = closed(mesh, "capless.stl")
    assert "pymeshfix" in caplog.text
    assert surf.is_closed_manifold(result)
    assert surf.signed_enclosed_volume(result) == pytest.approx(ball.volume, rel=0.02)


def test_flat_open_sheet_is_refused_naming_the_file():
    sheet = pv.Plane(i_size=0.1, j_size=0.1, i_resolution=5, j_resolution=5).triangulate()
    with pytest.raises(InputError) as raised:
        closed(sheet, "sheet.stl")
    assert raised.value.source == "sheet.stl"
    assert "could not be repaired" in raised.value.problem or "no volume" in raised.value.problem


def test_surface_without_triangles_is_refused():
    line = pv.Line((0, 0, 0), (1, 0, 0))
    with pytest.raises(InputError, match="no surface triangles"):
        surf.clean_surface(line, source="line.vtp")


def test_decimation_keeps_the_surface_closed_and_its_volume():
    ball = sphere(resolution=60)
    decimated = surf.decimate_surface(ball, 500)
    assert surf.is_closed_manifold(decimated)
    assert 400 <= decimated.n_points <= 600
    assert surf.signed_enclosed_volume(decimated) == pytest.approx(ball.volume, rel=0.03)
    assert surf.decimate_surface(decimated, 10_000) is decimated


def test_units_are_guessed_from_size_and_logged(caplog):
    in_millimetres = sphere(radius=50.0)
    with caplog.at_level("INFO", logger="surgsim"):
        factor = surf.metres_per_file_unit(in_millimetres, units=None, scale=None, source="organ.stl")
    assert factor == 0.001
    assert "millimetres" in caplog.text and "organ.stl" in caplog.text
    assert surf.metres_per_file_unit(sphere(), units=None, scale=None, source="x") == 1.0


def test_explicit_units_and_scale_combine():
    ball = sphere(radius=50.0)
    assert surf.metres_per_file_unit(ball, units="cm", scale=None, source="x") == pytest.approx(0.01)
    assert surf.metres_per_file_unit(ball, units=None, scale=0.03, source="x") == pytest.approx(0.03)
    assert surf.metres_per_file_unit(ball, units="mm", scale=2.0, source="x") == pytest.approx(0.002)


@pytest.mark.parametrize(("units", "scale", "option"), [("inch", None, "--units"), (None, 0.0, "--scale"),
                                                        (None, -1.0, "--scale"), (None, math.nan, "--scale")])
def test_bad_units_or_scale_are_refused_naming_the_option(units, scale, option):
    with pytest.raises(InputError) as raised:
        surf.metres_per_file_unit(sphere(), units=units, scale=scale, source="x")
    assert raised.value.source == option


@pytest.mark.parametrize("content", [b"", b"solid nonsense\x00\x01\x02 not a mesh at all"])
@pytest.mark.parametrize("extension", [".stl", ".obj", ".ply", ".vtp", ".vtk", ".vtu"])
def test_empty_or_damaged_files_are_refused_naming_the_file(tmp_path, extension, content):
    path = tmp_path / f"broken{extension}"
    path.write_bytes(content)
    with pytest.raises(InputError) as raised:
        surf.read_mesh_file(path)
    assert raised.value.source == str(path)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        surf.read_mesh_file(tmp_path / "absent.stl")


def test_meshio_reads_what_pyvista_cannot(tmp_path, monkeypatch):
    path = tmp_path / "ball.stl"
    sphere().save(path)

    def failing_read(*args, **kwargs):
        raise ValueError("simulated reader failure")

    monkeypatch.setattr(pv, "read", failing_read)
    result = closed(surf.read_mesh_file(path), path)
    assert surf.signed_enclosed_volume(result) == pytest.approx(sphere().volume, rel=1e-4)


def test_tetrahedra_of_returns_the_tets_of_a_volume_mesh_and_none_for_a_surface():
    grid = pv.ImageData(dimensions=(3, 3, 3), spacing=(0.01, 0.01, 0.01)).cast_to_unstructured_grid()
    points, tets = surf.tetrahedra_of(grid)  # hexahedral voxels are split into tets
    assert tets.shape[1] == 4 and len(tets) >= 8 * 5
    p = points[tets]
    volumes = np.abs(np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0])) / 6
    assert volumes.sum() == pytest.approx(0.02**3)
    assert surf.tetrahedra_of(sphere()) is None
