"""From a device's :class:`~surgsim.instrument_command.InstrumentCommand` to joint targets: refuse what is not a number, clamp what
is out of reach, and limit how fast targets move.

- A non-finite value (NaN, ±inf) in any field is refused with :class:`~surgsim.errors.InputError` naming the
  instrument and the field: it is a broken device or script, and guessing a value would hide it.
- Out-of-range values are clamped (a trainee pushing past a limit is normal): pivot angles to the trocar's cone,
  insertion to [0, working length] (the handle stops at the trocar), jaw to [0, 1]. Energy on an instrument without
  energy stays off.
- Targets then move toward the command at most ``SLEW_LIMITS`` per second, so a jump in the command (a dropped
  device packet, a scripted teleport) becomes a fast but continuous motion that the joint motors can follow. The
  targets are themselves an :class:`~surgsim.instrument_command.InstrumentCommand` (the same six fields).

Open-surgery instruments, which take a free pose instead, follow the same rules in :mod:`surgsim.instruments.pose`.
"""

from __future__ import annotations

import math
from surgsim.errors import InputError
from surgsim.instrument_command import InstrumentCommand
from surgsim.instruments.specs import InstrumentSpec
from surgsim.instruments.trocar import Trocar

# Fastest target motion per command field: pivot angles [rad/s], insertion [m/s], roll [rad/s], jaw [1/s] (open to
# closed in 0.1 s). Hand motions in laparoscopy stay well below these (tool-tip speeds of a few cm/s to ~0.3 m/s).
SLEW_LIMITS = {"pivot_yaw_rad": 4.0, "pivot_pitch_rad": 4.0, "insertion_m": 0.5, "roll_rad": 12.0, "jaw": 10.0}
_NUMERIC_FIELDS = tuple(SLEW_LIMITS)


def approach(targets: InstrumentCommand, goal: InstrumentCommand, dt: float) -> InstrumentCommand:
    """One tick of motion of the joints' ``targets`` toward the clamped command ``goal``, each field limited by
    :data:`SLEW_LIMITS`; energy follows the goal at once."""
    if all(getattr(targets, name) == getattr(goal, name) for name in _NUMERIC_FIELDS) and \
            targets.energy == goal.energy:
        return targets  # reached: the same object, so that the motors are not told again (Instrument.drive)
    moved = {}
    for name, rate in SLEW_LIMITS.items():
        now, wanted = getattr(targets, name), getattr(goal, name)
        limit = rate * dt
        moved[name] = now + min(max(wanted - now, -limit), limit)
    # Built unchecked, every tick: the values are the clamped ones' or between them.
    return InstrumentCommand.model_construct(**moved, energy=goal.energy)


def validate_command(instrument: str, command: InstrumentCommand, spec: InstrumentSpec,
                     trocar: Trocar) -> tuple[InstrumentCommand, tuple[str, ...]]:
    """The command clamped to what the instrument can reach (the joints' targets: insertion from the pivot to the
    tip) and the names of the fields that were clamped."""
    for name in _NUMERIC_FIELDS:
        value = getattr(command, name)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(f"instrument '{instrument}'",
                             f"command field '{name}' is {value!r}; every field must be a finite number.")
    clamped = []

    def clamp(name: str, lower: float, upper: float) -> float:
        value = getattr(command, name)
        if value < lower or value > upper:
            clamped.append(name)
            return min(max(value, lower), upper)
        return float(value)

    limit = trocar.max_angle_rad
    targets = InstrumentCommand.model_construct(
        pivot_yaw_rad=clamp("pivot_yaw_rad", -limit, limit),
        pivot_pitch_rad=clamp("pivot_pitch_rad", -limit, limit),
        insertion_m=clamp("insertion_m", 0.0, spec.working_length_m),
        roll_rad=float(command.roll_rad),
        jaw=clamp("jaw", 0.0, 1.0) if spec.has_jaws else 0.0,
        energy=bool(command.energy) and spec.energy,
    )
    return targets, tuple(clamped)
