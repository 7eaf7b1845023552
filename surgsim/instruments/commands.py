"""From a device's :class:`~surgsim.instrument_command.InstrumentCommand` to joint targets: refuse what is not a number, clamp what
is out of reach, and limit how fast targets move.

- A non-finite value (NaN, ±inf) in any field is refused with :class:`~surgsim.errors.InputError` naming the
  instrument and the field: it is a broken device or script, and guessing a value would hide it.
- Out-of-range values are clamped (a trainee pushing past a limit is normal): pivot angles to the trocar's cone,
  insertion to [0, working length] (the handle stops at the trocar), jaw to [0, 1]. Energy on an instrument without
  energy stays off.
- Targets then move toward the command at most ``SLEW_LIMITS`` per second, so a jump in the command (a dropped
  device packet, a scripted teleport) becomes a fast but continuous motion that the joint motors can follow.

Open-surgery instruments, which take a free pose instead, follow the same rules in :mod:`surgsim.instruments.pose`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from surgsim.errors import InputError
from surgsim.instruments.specs import InstrumentSpec
from surgsim.instruments.trocar import Trocar
from surgsim.instrument_command import InstrumentCommand

# Fastest target motion per axis: pivot angles [rad/s], insertion [m/s], roll [rad/s], jaw [1/s] (open to closed in
# 0.1 s). Hand motions in laparoscopy stay well below these (tool-tip speeds of a few cm/s to ~0.3 m/s).
SLEW_LIMITS = {"yaw": 4.0, "pitch": 4.0, "insertion": 0.5, "roll": 12.0, "jaw": 10.0}

_NUMERIC_FIELDS = ("pivot_yaw_rad", "pivot_pitch_rad", "insertion_m", "roll_rad", "jaw")


@dataclass(frozen=True)
class JointTargets:
    """Where the joints should go: yaw, pitch [rad], insertion [m] (pivot to tip), roll [rad], jaw 0..1, energy."""

    yaw: float = 0.0
    pitch: float = 0.0
    insertion: float = 0.0
    roll: float = 0.0
    jaw: float = 0.0
    energy: bool = False

    def approach(self, goal: "JointTargets", dt: float) -> "JointTargets":
        """One tick of motion from these targets toward ``goal``, each axis limited by :data:`SLEW_LIMITS`."""

        def step(name: str) -> float:
            now, wanted = getattr(self, name), getattr(goal, name)
            limit = SLEW_LIMITS[name] * dt
            return now + min(max(wanted - now, -limit), limit)

        return JointTargets(step("yaw"), step("pitch"), step("insertion"), step("roll"), step("jaw"), goal.energy)


def validate_command(instrument: str, command: InstrumentCommand, spec: InstrumentSpec,
                     trocar: Trocar) -> tuple[JointTargets, tuple[str, ...]]:
    """The clamped targets for ``command`` and the names of the fields that were clamped."""
    for name in _NUMERIC_FIELDS:
        value = getattr(command, name)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(f"instrument '{instrument}'",
                             f"command field '{name}' is {value!r}; every field must be a finite number.")
    clamped = []

    def clamp(name: str, value: float, lower: float, upper: float) -> float:
        if value < lower or value > upper:
            clamped.append(name)
            return min(max(value, lower), upper)
        return float(value)

    limit = trocar.max_angle_rad
    targets = JointTargets(
        yaw=clamp("pivot_yaw_rad", command.pivot_yaw_rad, -limit, limit),
        pitch=clamp("pivot_pitch_rad", command.pivot_pitch_rad, -limit, limit),
        insertion=clamp("insertion_m", command.insertion_m, 0.0, spec.working_length_m),
        roll=float(command.roll_rad),
        jaw=clamp("jaw", command.jaw, 0.0, 1.0) if spec.has_jaws else 0.0,
        energy=bool(command.energy) and spec.energy,
    )
    return targets, tuple(clamped)
