"""Camera maths and per-frame geometry (numpy only)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from surgsim.render.geometry import capsule_meshes, vertex_normals
from surgsim.view import camera
from surgsim.view.camera import CameraPose

PORT = np.array([0.0, 0.268, 0.060])
LOOK_AT = np.array([0.064, 0.225, 0.120])


def angle_between_deg(a, b) -> float:
    """The angle between two vectors, exact to rounding even when they are (anti)parallel.

    ``acos`` of a dot product is not: for parallel unit vectors the dot rounds to 1 ± 2⁻⁵², which is outside its
    domain on one side and 1e-6° away on the other.
    """
    return math.degrees(math.atan2(np.linalg.norm(np.cross(a, b)), np.dot(a, b)))


@pytest.mark.parametrize("scope_angle_deg", [0.0, 30.0, 45.0])
def test_laparoscope_pose_centres_the_look_at_point(scope_angle_deg):
    pose = camera.laparoscope_pose(PORT, LOOK_AT, fov_deg=70, scope_angle_deg=scope_angle_deg)
    pixels, in_front = camera.project(pose, LOOK_AT, 640, 480)
    assert in_front[0]
    np.testing.assert_allclose(pixels[0], [320, 240], atol=1e-6)
    between = angle_between_deg(camera.shaft_direction(pose), camera.view_direction(pose))
    assert between == pytest.approx(scope_angle_deg, abs=1e-9)


def test_turning_an_angled_scope_moves_the_view_around_the_shaft():
    pose = camera.laparoscope_pose(PORT, LOOK_AT, scope_angle_deg=30.0)
    turned = CameraPose(**{**pose.__dict__, "scope_roll_rad": math.pi / 2})
    shaft = camera.shaft_direction(pose)
    assert np.dot(camera.view_direction(turned), shaft) == pytest.approx(math.cos(math.radians(30)))
    assert not np.allclose(camera.view_direction(turned), camera.view_direction(pose))


def test_projection_puts_points_on_the_expected_side():
    pose = CameraPose(eye_m=(0.0, 0.0, 0.0), target_m=(0.0, 1.0, 0.0), up=(0.0, 0.0, 1.0))
    pixels, in_front = camera.project(pose, [[0.1, 1.0, 0.0], [0.0, 1.0, 0.1], [0.0, -1.0, 0.0]], 200, 100)
    assert pixels[0, 0] > 100  # +x is to the right when looking along +y with +z up
    assert pixels[1, 1] < 50  # +z is up (smaller row)
    assert list(in_front) == [True, True, False]


def test_orbit_zoom_and_pan_move_the_camera_as_documented():
    pose = camera.laparoscope_pose(PORT, LOOK_AT)
    distance = np.linalg.norm(np.subtract(pose.eye_m, pose.target_m))
    orbited = camera.orbit(pose, 0.3, 0.2)
    assert np.linalg.norm(np.subtract(orbited.eye_m, orbited.target_m)) == pytest.approx(distance)
    assert orbited.eye_m[2] > pose.eye_m[2]  # positive pitch raises the lens
    never_over_the_pole = camera.orbit(pose, 0.0, 10.0)
    assert np.dot(camera.shaft_direction(never_over_the_pole), [0, 0, 1]) > -1.0 + 1e-3
    zoomed = camera.zoom(pose, 0.5)
    assert np.linalg.norm(np.subtract(zoomed.eye_m, zoomed.target_m)) == pytest.approx(distance / 2)
    panned = camera.pan(pose, 0.01, 0.02)
    shift = np.subtract(panned.eye_m, pose.eye_m)
    np.testing.assert_allclose(np.subtract(panned.target_m, pose.target_m), shift)
    assert np.linalg.norm(shift) == pytest.approx(math.hypot(0.01, 0.02))


def unit_sphere(subdivisions: int = 12):
    """A UV sphere of radius 1 with outward, counter-clockwise triangles."""
    from surgsim.render.geometry import capsule_template

    offsets, _, triangles = capsule_template(subdivisions, subdivisions // 2)
    return offsets, triangles


def test_vertex_normals_of_a_sphere_point_outward():
    positions, triangles = unit_sphere()
    normals = vertex_normals(positions * 0.05, triangles)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    assert np.einsum("ij,ij->i", normals, positions).min() > 0.9


def test_vertex_normals_leave_unused_vertices_at_zero():
    positions = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [5, 5, 5]], dtype=float)
    normals = vertex_normals(positions, np.array([[0, 1, 2]]))
    np.testing.assert_allclose(normals[:3], [[0, 0, 1]] * 3)
    np.testing.assert_allclose(normals[3], 0.0)


def test_capsule_meshes_span_their_segments_with_outward_triangles():
    p0 = np.array([[0.0, 0.0, 0.0], [0.1, 0.1, 0.1], [0.3, 0.0, 0.0]])
    p1 = np.array([[0.0, 0.0, 0.2], [0.2, 0.1, 0.1], [0.3, 0.0, 0.0]])  # the last one is a sphere
    radius = np.array([0.005, 0.01, 0.02])
    positions, normals, triangles = capsule_meshes(p0, p1, radius)
    per_capsule = len(positions) // 3
    for k in range(3):
        points = positions[k * per_capsule:(k + 1) * per_capsule].astype(float)
        # every vertex lies at radius from the segment
        axis = p1[k] - p0[k]
        t = np.clip((points - p0[k]) @ axis / max(axis @ axis, 1e-12), 0, 1)
        closest = p0[k] + t[:, None] * axis
        np.testing.assert_allclose(np.linalg.norm(points - closest, axis=1), radius[k], rtol=1e-4)
    a, b, c = (positions[triangles[:, i]].astype(float) for i in range(3))
    face = np.cross(b - a, c - a)
    big = np.linalg.norm(face, axis=1) > 1e-12  # pole triangles are degenerate
    mean_normal = normals[triangles].mean(axis=1)
    assert (np.einsum("ij,ij->i", face[big], mean_normal[big]) > 0).all()


def test_tissue_colours_come_from_region_then_material_names():
    from surgsim.render import palette

    assert palette.tissue_colour("right_hepatic_vein") == palette.tissue_colour("vessel")
    assert palette.tissue_colour("hepatic_artery")[0] > 0.6  # arteries red, veins blue
    assert palette.tissue_colour("portal_vein")[2] > 0.6
    assert palette.tissue_colour("gallbladder") != palette.tissue_colour("liver")
    assert palette.tissue_colour("segment_4", "liver") == palette.tissue_colour("liver")
    assert palette.tissue_colour("label_12", None) == palette.GENERIC_TISSUE
