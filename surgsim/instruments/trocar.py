"""The trocar: the fixed point in the abdominal wall through which a laparoscopic instrument pivots.

A laparoscopic instrument has four degrees of freedom about its port (plus the jaw): two pivot angles, the insertion
depth along the shaft and the roll about it. The shaft always passes through the pivot (the remote centre of motion);
the instrument bodies in :mod:`surgsim.instruments.builder` hold it by construction.

Port frame (rotation ``rotation``, columns x, y, z): ``z`` is the port's aim, from the pivot toward the point the
port faces (e.g. the organ's centroid); ``x`` is horizontal (perpendicular to the scene's +z, the patient's superior
axis, unless the aim is vertical, then to +y); ``y = z × x``. The shaft direction for pivot angles (yaw, pitch) is

    d = R_port · R_y(yaw) · R_x(pitch) · e_z = R_port · (cos p sin y, −sin p, cos p cos y)

so yaw swings the tip toward +x and pitch toward −y of the port frame; at zero angles the shaft points along the aim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from surgsim.errors import InputError

DEFAULT_MAX_ANGLE_RAD = math.radians(60.0)


def port_rotation(pivot_m, aim_m) -> np.ndarray:
    """The port frame's rotation (3×3, columns x, y, z) for a port at ``pivot_m`` facing ``aim_m`` [m]."""
    pivot = np.asarray(pivot_m, dtype=np.float64)
    aim = np.asarray(aim_m, dtype=np.float64)
    z = aim - pivot
    length = np.linalg.norm(z)
    if not np.isfinite(length) or length < 1e-6:
        raise InputError("trocar", "the port must face a point at least 1 µm away from its pivot.")
    z /= length
    up = np.array([0.0, 0.0, 1.0]) if abs(z[2]) < 0.99 else np.array([0.0, 1.0, 0.0])
    x = np.cross(up, z)
    x /= np.linalg.norm(x)
    return np.column_stack([x, np.cross(z, x), z])


@dataclass(frozen=True, eq=False)
class Trocar:
    """A port at ``pivot_m`` [m] aimed at ``aim_m`` [m]; pivot angles are limited to ±``max_angle_rad`` each."""

    pivot_m: tuple[float, float, float]
    aim_m: tuple[float, float, float]
    max_angle_rad: float = DEFAULT_MAX_ANGLE_RAD
    rotation: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        if not all(math.isfinite(v) for v in (*self.pivot_m, *self.aim_m)):
            raise InputError("trocar", "pivot and aim must be finite points.")
        if not 0 < self.max_angle_rad <= math.radians(85):
            raise InputError("trocar", "max_angle_rad must lie in (0, 85°].")
        rotation = port_rotation(self.pivot_m, self.aim_m)
        rotation.flags.writeable = False
        object.__setattr__(self, "rotation", rotation)

    @property
    def pivot(self) -> np.ndarray:
        return np.asarray(self.pivot_m, dtype=np.float64)

    def shaft_direction(self, yaw_rad: float, pitch_rad: float) -> np.ndarray:
        """Unit vector along the shaft, toward the tip, in the scene frame."""
        local = np.array([math.cos(pitch_rad) * math.sin(yaw_rad), -math.sin(pitch_rad),
                          math.cos(pitch_rad) * math.cos(yaw_rad)])
        return self.rotation @ local

    def distance_to_shaft_line(self, point_on_shaft, direction) -> float:
        """Distance [m] from the pivot to the line through ``point_on_shaft`` along ``direction``."""
        d = np.asarray(direction, dtype=np.float64)
        d = d / np.linalg.norm(d)
        offset = self.pivot - np.asarray(point_on_shaft, dtype=np.float64)
        return float(np.linalg.norm(offset - (offset @ d) * d))
