"""From a device's :class:`~surgsim.instrument_command.FreePoseCommand` to the pose target of an open-surgery instrument: refuse
what is not a pose, clamp what is out of reach, and limit how fast the target moves.

The free counterpart of :mod:`surgsim.instruments.commands` (trocar instruments), with the same rules:

- A non-finite value (NaN, ±inf) in any field, or an orientation that is not a unit quaternion (its norm off 1 by
  more than ``QUATERNION_NORM_TOLERANCE``), is refused with :class:`~surgsim.errors.InputError` naming the instrument
  and the field: it is a broken device or script, and guessing a pose would hide it. Quaternions within the tolerance
  (a device's float32 rounding, a script's 6 decimals) are normalised.
- The jaw is clamped to [0, 1] (0 on an instrument without jaws); energy on an instrument without energy stays off.
  The position is not clamped: there is no port to stop the hand, and the slew limit keeps a far target harmless.
- The target then moves toward the command at most ``FREE_SLEW_LIMITS`` per second: the distal end along the straight
  line, the orientation along the shortest rotation (slerp), so a jump in the command (a dropped device packet, a
  scripted teleport) becomes a fast but continuous motion that the constraint holding the instrument can follow.

Quaternions are PyBullet's (x, y, z, w). Everything here is plain float arithmetic in a fixed order: the same commands
give bit-identical targets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from surgsim.errors import InputError
from surgsim.instrument_command import FreePoseCommand
from surgsim.instruments.commands import SLEW_LIMITS
from surgsim.instruments.specs import InstrumentSpec
from surgsim.instruments.trocar import port_rotation

# Fastest target motion: distal end [m/s] (a hand's fast reach; the trocar's insertion limit), orientation [rad/s]
# (the trocar's pivot limit), jaw [1/s] as for a trocar instrument.
FREE_SLEW_LIMITS = {"position": 0.5, "rotation": 4.0, "jaw": SLEW_LIMITS["jaw"]}
QUATERNION_NORM_TOLERANCE = 1e-3

Quaternion = tuple[float, float, float, float]
_IDENTITY: Quaternion = (0.0, 0.0, 0.0, 1.0)


# -- quaternions (x, y, z, w) ------------------------------------------------------------------------------------------
def quaternion_multiply(a, b) -> Quaternion:
    """The rotation ``a`` after ``b`` (Hamilton product a ⊗ b)."""
    ax, ay, az, aw = (float(v) for v in a)
    bx, by, bz, bw = (float(v) for v in b)
    return (aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz)


def quaternion_conjugate(q) -> Quaternion:
    x, y, z, w = (float(v) for v in q)
    return (-x, -y, -z, w)


def quaternion_normalized(q) -> Quaternion:
    values = np.asarray(q, dtype=np.float64)
    return tuple(float(v) for v in values / np.linalg.norm(values))


def quaternion_about(axis, angle_rad: float) -> Quaternion:
    """The rotation by ``angle_rad`` about ``axis`` (any length > 0)."""
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis) * math.sin(angle_rad / 2.0)
    return (float(axis[0]), float(axis[1]), float(axis[2]), math.cos(angle_rad / 2.0))


def rotation_from_quaternion(q) -> np.ndarray:
    """3×3 rotation matrix (columns: the rotated frame's axes) of a unit quaternion."""
    x, y, z, w = (float(v) for v in q)
    return np.array([
        [1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y - z * w), 2.0 * (x * z + y * w)],
        [2.0 * (x * y + z * w), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z - x * w)],
        [2.0 * (x * z - y * w), 2.0 * (y * z + x * w), 1.0 - 2.0 * (x * x + y * y)],
    ])


def rotation_angle(a, b) -> float:
    """The angle [rad] of the rotation between orientations ``a`` and ``b`` (0..π)."""
    x, y, z, w = quaternion_multiply(b, quaternion_conjugate(a))
    return 2.0 * math.atan2(math.sqrt(x * x + y * y + z * z), abs(w))


def aim_rotation(position_m, aim_m, *, roll_rad: float = 0.0) -> np.ndarray:
    """The distal frame (3×3, columns x hinge pin, y jaw opening, z shaft) of a shaft at ``position_m`` pointing at
    ``aim_m``: z toward the aim, x horizontal (perpendicular to the scene's +z, or to +y for a vertical shaft), as a
    trocar's port frame (:func:`surgsim.instruments.trocar.port_rotation`), then rolled ``roll_rad`` about z."""
    length = float(np.linalg.norm(np.asarray(aim_m, dtype=np.float64) - np.asarray(position_m, dtype=np.float64)))
    if not math.isfinite(length) or length < 1e-6:
        raise InputError("instrument", "an open instrument's aim must be a finite point at least 1 µm from its "
                                       "start position.")
    frame = port_rotation(position_m, aim_m)
    c, s = math.cos(roll_rad), math.sin(roll_rad)
    return frame @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


# -- targets -----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PoseTargets:
    """Where the distal frame should be: ``position`` [m], ``orientation`` (x, y, z, w), jaw 0..1, energy."""

    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    orientation: Quaternion = _IDENTITY
    jaw: float = 0.0
    energy: bool = False

    def approach(self, goal: "PoseTargets", dt: float) -> "PoseTargets":
        """One tick of motion from these targets toward ``goal``, limited by :data:`FREE_SLEW_LIMITS`."""
        return PoseTargets(self._step_position(goal, dt), self._step_orientation(goal, dt),
                           self._step_jaw(goal, dt), goal.energy)

    def _step_position(self, goal: "PoseTargets", dt: float) -> tuple[float, float, float]:
        now = np.asarray(self.position, dtype=np.float64)
        delta = np.asarray(goal.position, dtype=np.float64) - now
        distance = float(np.linalg.norm(delta))
        limit = FREE_SLEW_LIMITS["position"] * dt
        if distance <= limit:
            return goal.position
        return tuple(float(v) for v in now + delta * (limit / distance))

    def _step_orientation(self, goal: "PoseTargets", dt: float) -> Quaternion:
        x, y, z, w = quaternion_multiply(goal.orientation, quaternion_conjugate(self.orientation))
        if w < 0.0:  # q and -q are the same rotation: take the short way
            x, y, z, w = -x, -y, -z, -w
        sine = math.sqrt(x * x + y * y + z * z)
        angle = 2.0 * math.atan2(sine, w)
        limit = FREE_SLEW_LIMITS["rotation"] * dt
        if angle <= limit:
            return goal.orientation
        turn = quaternion_about((x, y, z), limit)
        return quaternion_normalized(quaternion_multiply(turn, self.orientation))

    def _step_jaw(self, goal: "PoseTargets", dt: float) -> float:
        limit = FREE_SLEW_LIMITS["jaw"] * dt
        return self.jaw + min(max(goal.jaw - self.jaw, -limit), limit)


def validate_free_command(instrument: str, command: FreePoseCommand,
                          spec: InstrumentSpec) -> tuple[PoseTargets, tuple[str, ...]]:
    """The pose targets for ``command`` and the names of the fields that were clamped."""

    def refuse(name: str, problem: str):
        raise InputError(f"instrument '{instrument}'", f"command field '{name}' {problem}")

    def numbers(name: str, count: int) -> list[float]:
        values = getattr(command, name)
        try:
            values = list(values)
        except TypeError:
            refuse(name, f"is {values!r}; expected {count} numbers.")
        if len(values) != count:
            refuse(name, f"has {len(values)} values; expected {count}.")
        for value in values:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                refuse(name, f"is {values!r}; every field must be a finite number.")
        return [float(v) for v in values]

    position = numbers("position_m", 3)
    orientation = numbers("orientation_xyzw", 4)
    norm = math.sqrt(sum(v * v for v in orientation))
    if abs(norm - 1.0) > QUATERNION_NORM_TOLERANCE:
        refuse("orientation_xyzw", f"is {orientation!r}, of norm {norm:.6g}; it must be a unit quaternion "
                                   f"(x, y, z, w; norm 1 within {QUATERNION_NORM_TOLERANCE}).")
    jaw = command.jaw
    if isinstance(jaw, bool) or not isinstance(jaw, (int, float)) or not math.isfinite(jaw):
        refuse("jaw", f"is {jaw!r}; every field must be a finite number.")
    jaw = float(jaw)
    clamped = []
    if spec.has_jaws and not 0.0 <= jaw <= 1.0:
        clamped.append("jaw")
    targets = PoseTargets(
        position=tuple(position),
        orientation=quaternion_normalized(orientation),
        jaw=min(max(jaw, 0.0), 1.0) if spec.has_jaws else 0.0,
        energy=bool(command.energy) and spec.energy,
    )
    return targets, tuple(clamped)
