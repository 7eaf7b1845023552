"""The laparoscope's pose (:class:`CameraPose`) and its maths (numpy only, no OpenGL).

Matrices are 4×4 float64 in the usual column-vector convention (``clip = P @ V @ [x, y, z, 1]``); OpenGL receives
them transposed. The helpers return new poses (poses are immutable):

- :func:`laparoscope_pose` places a scope at a port so that a point is in the centre of the image, whatever the
  scope angle;
- :func:`orbit`, :func:`zoom`, :func:`pan` move it (camera mode of the mouse, or a camera assistant script);
- :func:`project` maps world points to pixels, which the tests use to predict where an organ must appear.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

Vec3 = tuple[float, float, float]

MIN_DISTANCE_M = 0.001
# Orbiting stops this far from straight up/down along ``up``: there the horizon is undefined and the view would flip.
POLE_MARGIN_RAD = math.radians(5.0)


@dataclass(frozen=True)
class CameraPose:
    """The laparoscope.

    The shaft runs from ``eye_m`` (the lens, [m]) toward ``target_m`` [m]. A straight scope
    (``scope_angle_deg`` = 0) looks along the shaft; an angled one looks ``scope_angle_deg`` off it, toward ``up``
    when ``scope_roll_rad`` is 0 (turning the light post rotates the view about the shaft). ``fov_deg`` is the
    vertical field of view; ``near_m``/``far_m`` the depth range drawn. The functions below are its maths.
    """

    eye_m: Vec3
    target_m: Vec3
    up: Vec3 = (0.0, 0.0, 1.0)
    fov_deg: float = 70.0
    scope_angle_deg: float = 0.0
    scope_roll_rad: float = 0.0
    near_m: float = 0.005
    far_m: float = 2.0



def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def _basis_around(direction: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Right and up unit vectors perpendicular to ``direction``, the up one as close to ``up`` as possible."""
    right = np.cross(direction, up)
    if np.linalg.norm(right) < 1e-9:  # looking straight along ``up``: any horizon will do
        right = np.cross(direction, [1.0, 0.0, 0.0] if abs(direction[0]) < 0.9 else [0.0, 1.0, 0.0])
    right = _unit(right)
    return right, np.cross(right, direction)


def shaft_direction(pose: CameraPose) -> np.ndarray:
    """Unit vector from the lens toward the target."""
    return _unit(np.subtract(pose.target_m, pose.eye_m, dtype=np.float64))


def view_direction(pose: CameraPose) -> np.ndarray:
    """Unit vector the image is centred on: the shaft tilted by the scope angle, turned by the scope roll."""
    shaft = shaft_direction(pose)
    right, up = _basis_around(shaft, np.asarray(pose.up, dtype=np.float64))
    tilt = math.radians(pose.scope_angle_deg)
    toward = math.cos(pose.scope_roll_rad) * up + math.sin(pose.scope_roll_rad) * right
    return _unit(math.cos(tilt) * shaft + math.sin(tilt) * toward)


def camera_basis(pose: CameraPose) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(right, up, forward) unit vectors of the image; the camera head is kept upright with respect to ``up``."""
    forward = view_direction(pose)
    right, up = _basis_around(forward, np.asarray(pose.up, dtype=np.float64))
    return right, up, forward


def view_matrix(pose: CameraPose) -> np.ndarray:
    """World → eye coordinates (the eye looks down −z, OpenGL convention)."""
    right, up, forward = camera_basis(pose)
    eye = np.asarray(pose.eye_m, dtype=np.float64)
    matrix = np.eye(4)
    matrix[0, :3], matrix[1, :3], matrix[2, :3] = right, up, -forward
    matrix[:3, 3] = -matrix[:3, :3] @ eye
    return matrix


def projection_matrix(pose: CameraPose, aspect: float) -> np.ndarray:
    """Perspective projection for a viewport of width/height ``aspect``."""
    f = 1.0 / math.tan(math.radians(pose.fov_deg) / 2.0)
    near, far = pose.near_m, pose.far_m
    matrix = np.zeros((4, 4))
    matrix[0, 0] = f / aspect
    matrix[1, 1] = f
    matrix[2, 2] = (far + near) / (near - far)
    matrix[2, 3] = 2.0 * far * near / (near - far)
    matrix[3, 2] = -1.0
    return matrix


def project(pose: CameraPose, points_m: np.ndarray, width_px: int, height_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates [K, 2] (x right, y down, origin at the top-left corner) of world points [K, 3], and a mask
    [K] of the points in front of the lens."""
    points = np.atleast_2d(np.asarray(points_m, dtype=np.float64))
    clip = np.c_[points, np.ones(len(points))] @ (projection_matrix(pose, width_px / height_px) @ view_matrix(pose)).T
    w = clip[:, 3]
    in_front = w > 0
    ndc = clip[:, :2] / np.where(in_front, w, 1.0)[:, None]
    pixels = np.c_[(ndc[:, 0] + 1.0) * 0.5 * width_px, (1.0 - ndc[:, 1]) * 0.5 * height_px]
    return pixels, in_front


def laparoscope_pose(
    port_m, look_at_m, *, fov_deg: float = 70.0, scope_angle_deg: float = 0.0, up=(0.0, 0.0, 1.0)
) -> CameraPose:
    """A scope whose lens is at ``port_m`` [m] with ``look_at_m`` [m] in the image centre.

    For an angled scope the shaft is aimed ``scope_angle_deg`` away from the point (opposite to ``up``), so that the
    tilted optic brings it back to the centre: what a camera assistant does with a 30° scope.
    """
    eye = np.asarray(port_m, dtype=np.float64)
    look = np.asarray(look_at_m, dtype=np.float64)
    distance = float(np.linalg.norm(look - eye))
    if distance < MIN_DISTANCE_M:
        raise ValueError("the look-at point must differ from the port")
    view = (look - eye) / distance
    _, image_up = _basis_around(view, np.asarray(up, dtype=np.float64))
    tilt = math.radians(scope_angle_deg)
    shaft = math.cos(tilt) * view - math.sin(tilt) * image_up
    return CameraPose(
        eye_m=tuple(eye), target_m=tuple(eye + distance * shaft), up=tuple(float(u) for u in up),
        fov_deg=fov_deg, scope_angle_deg=scope_angle_deg,
    )


def orbit(pose: CameraPose, yaw_rad: float, pitch_rad: float) -> CameraPose:
    """Swing the lens about the target: ``yaw_rad`` about ``up``, ``pitch_rad`` about the image's right axis
    (positive raises the lens); the distance is kept and the lens never passes over the pole of ``up``."""
    target = np.asarray(pose.target_m, dtype=np.float64)
    offset = np.asarray(pose.eye_m, dtype=np.float64) - target
    up = _unit(np.asarray(pose.up, dtype=np.float64))
    distance = np.linalg.norm(offset)
    polar = math.acos(float(np.clip(np.dot(offset / distance, up), -1.0, 1.0)))
    new_polar = float(np.clip(polar - pitch_rad, POLE_MARGIN_RAD, math.pi - POLE_MARGIN_RAD))
    offset = _rotate(offset, up, yaw_rad)
    horizontal = offset - np.dot(offset, up) * up
    if np.linalg.norm(horizontal) < 1e-12:
        horizontal = _basis_around(up, up)[0]
    horizontal = _unit(horizontal)
    new_offset = distance * (math.sin(new_polar) * horizontal + math.cos(new_polar) * up)
    return replace(pose, eye_m=tuple(target + new_offset))


def zoom(pose: CameraPose, factor: float) -> CameraPose:
    """Move the lens along the shaft: the distance to the target times ``factor`` (< 1 closer)."""
    target = np.asarray(pose.target_m, dtype=np.float64)
    offset = np.asarray(pose.eye_m, dtype=np.float64) - target
    distance = np.linalg.norm(offset)
    new_distance = max(MIN_DISTANCE_M, distance * float(factor))
    return replace(pose, eye_m=tuple(target + offset * (new_distance / distance)))


def pan(pose: CameraPose, right_m: float, up_m: float) -> CameraPose:
    """Slide lens and target together along the image's right and up axes [m]."""
    right, up, _ = camera_basis(pose)
    shift = right * right_m + up * up_m
    return replace(pose, eye_m=tuple(np.add(pose.eye_m, shift)), target_m=tuple(np.add(pose.target_m, shift)))


def _rotate(vector: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues' rotation of ``vector`` about unit ``axis``."""
    c, s = math.cos(angle), math.sin(angle)
    return vector * c + np.cross(axis, vector) * s + axis * np.dot(axis, vector) * (1.0 - c)
