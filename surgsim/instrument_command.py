"""What a hand, a script or a recorded trace asks of one instrument each tick: the command types.

Two kinds, one per kind of instrument:

- :class:`InstrumentCommand` for a laparoscopic instrument, which pivots about its trocar port: two pivot angles
  [rad], the insertion depth [m] from the pivot to the tip along the shaft, the roll about the shaft [rad], the jaw
  (0 open .. 1 closed) and whether energy (cautery) is on;
- :class:`FreePoseCommand` for an open-surgery instrument (no trocar): the pose of its distal frame in the scene
  frame [m], the jaw and the energy.

Every field has a default (zeros, jaws open, energy off; the identity orientation for a free pose), so that a
command names only what it changes: ``InstrumentCommand(insertion_m=0.12, jaw=1.0)``. Commands are immutable
(``command.model_copy(update={"jaw": 0.5})`` gives a changed one). Only the jaw's range is checked here; whether the
numbers are finite, and clamping them to what the instrument can reach, is the instrument's job
(:mod:`surgsim.instruments.commands`, :mod:`surgsim.instruments.pose`), which names the instrument when they are not.

The trace format (:mod:`surgsim.trace`) records these fields as they are named here; a trace's command records must
carry all of them (defaults are for programs, not for files).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

_Vec3 = Annotated[list[float], Field(min_length=3, max_length=3)]
_Vec4 = Annotated[list[float], Field(min_length=4, max_length=4)]


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    jaw: float = Field(0.0, ge=0, le=1)
    """0 (open) to 1 (closed)."""
    energy: bool = False
    """Whether the instrument's energy (cautery) is on; ignored by instruments without energy."""


class InstrumentCommand(_Command):
    """A command to a laparoscopic instrument: pivot angles about the trocar, insertion depth, roll, jaw, energy.

    ``pivot_yaw_rad`` and ``pivot_pitch_rad`` [rad] turn the shaft about the port (0, 0: along the port's axis);
    ``insertion_m`` [m] is the distance from the pivot to the tip; ``roll_rad`` [rad] turns the instrument about its
    shaft; ``jaw`` 0 (open) .. 1 (closed); ``energy`` cautery on or off. All zero by default: the tip at the port,
    jaws open, energy off.
    """

    pivot_yaw_rad: float = 0.0
    pivot_pitch_rad: float = 0.0
    insertion_m: float = 0.0
    roll_rad: float = 0.0


class FreePoseCommand(_Command):
    """A command to an open-surgery instrument (no trocar): the pose of its distal frame in the scene frame.

    ``position_m`` is the distal end of the shaft [m] (the jaws' hinge; a probe's tip); ``orientation_xyzw`` the
    distal frame's orientation as a unit quaternion (x, y, z, w; columns of its rotation: x the hinge pin, y the jaw
    opening, z along the shaft toward the tip). The instrument checks the numbers (finite, unit quaternion) and names
    itself when they are not: see :mod:`surgsim.instruments.pose`. Defaults: the origin, the identity orientation,
    jaws open, energy off.
    """

    position_m: _Vec3 = Field(default_factory=lambda: [0.0, 0.0, 0.0])
    orientation_xyzw: _Vec4 = Field(default_factory=lambda: [0.0, 0.0, 0.0, 1.0])


Command = InstrumentCommand | FreePoseCommand
"""A command to either kind of instrument: a trocar instrument takes :class:`InstrumentCommand`, a free one
:class:`FreePoseCommand`."""


def is_free_pose_record(record: dict) -> bool:
    """Whether a command record's fields are a :class:`FreePoseCommand`'s (the two layouts carry no tag)."""
    return "position_m" in record or "orientation_xyzw" in record
