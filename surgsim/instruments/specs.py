"""Instrument specifications: the dimensions and abilities of each instrument kind (SI units).

The values live in ``assets/instruments/<kind>.json`` (with their sources in that folder's README); this module
checks and loads them. Frames: the *distal frame* is on the shaft axis at the distal end of the shaft, ``z`` away
from the handle, ``x`` along the jaw hinge pin, ``y`` the direction in which the jaws open.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

import surgsim
from surgsim.errors import InputError

SPEC_FOLDER = Path(surgsim.__file__).resolve().parent.parent / "assets" / "instruments"
INSTRUMENT_KINDS = ("grasper", "dissector", "scissors", "hook_cautery", "clip_applier", "probe")

_Vec3 = tuple[float, float, float]


class TipCapsule(BaseModel):
    """A rigid part of the working tip (an electrode hook), a capsule in the distal frame [m]."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_m: _Vec3
    to_m: _Vec3
    radius_m: float = Field(gt=0)


class InstrumentSpec(BaseModel):
    """One instrument kind.

    - ``shaft_radius_m``, ``working_length_m``: the shaft, and the length that can pass the trocar (shaft + tip);
    - ``jaw_length_m``, ``jaw_radius_m``, ``max_jaw_opening_rad``: two jaws (or blades) hinged at the distal end,
      opening symmetrically up to the total angle; no jaws when the length is 0;
    - ``jaw_action``: what closing the jaws does: ``grasp`` tissue, ``cut`` it, place a ``clip``, or ``none``;
    - ``tip``: rigid tip capsules (a hook electrode);
    - ``energy``: whether it can deliver cautery energy;
    - ``pinch_force_n``: the force [N] with which fully closed jaws squeeze what they hold (a grasping instrument);
    - ``grip_coefficient``: the pull along the jaw faces that a pinch holds, per newton of pinch (friction of both
      faces and the jaws' profile together); tissue slips out beyond ``grip_coefficient`` × the pinch;
    - ``friction``: Coulomb coefficient against tissue; ``mass_kg``: of the moving part.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    description: str = ""
    shaft_radius_m: float = Field(gt=0, le=0.01)
    working_length_m: float = Field(gt=0, le=0.6)
    jaw_length_m: float = Field(ge=0, le=0.05)
    jaw_radius_m: float = Field(ge=0, le=0.005)
    max_jaw_opening_rad: float = Field(ge=0, le=3.0)
    jaw_action: Literal["grasp", "cut", "clip", "none"]
    tip: tuple[TipCapsule, ...] = ()
    energy: bool = False
    pinch_force_n: float | None = Field(default=None, gt=0)
    grip_coefficient: float | None = Field(default=None, gt=0)
    friction: float = Field(ge=0, le=2.0)
    mass_kg: float = Field(gt=0)

    @model_validator(mode="after")
    def _consistent(self):
        if (self.jaw_action != "none") != (self.jaw_length_m > 0):
            raise ValueError("an instrument has jaws (jaw_length_m > 0) exactly when its jaw_action is not 'none'")
        if self.jaw_length_m > 0 and (self.jaw_radius_m <= 0 or self.max_jaw_opening_rad <= 0):
            raise ValueError("jaws need a radius and an opening angle")
        if self.jaw_length_m > 0 and self.tip:
            raise ValueError("an instrument has either jaws or tip capsules")
        if self.jaw_action == "grasp" and (self.pinch_force_n is None or self.grip_coefficient is None):
            raise ValueError("a grasping instrument needs pinch_force_n and grip_coefficient")
        if self.tip_length_m >= self.working_length_m:
            raise ValueError("the tip must be shorter than the working length")
        return self

    @property
    def has_jaws(self) -> bool:
        return self.jaw_length_m > 0

    @property
    def tip_length_m(self) -> float:
        """How far the working tip reaches beyond the end of the shaft, along the shaft [m]."""
        if self.has_jaws:
            return self.jaw_length_m
        return max((max(c.from_m[2], c.to_m[2]) for c in self.tip), default=0.0)

    @property
    def shaft_length_m(self) -> float:
        return self.working_length_m - self.tip_length_m


def load_spec(kind: str, *, folder: Path | None = None) -> InstrumentSpec:
    """The specification of an instrument ``kind`` (see :data:`INSTRUMENT_KINDS`); :class:`InputError` otherwise."""
    folder = SPEC_FOLDER if folder is None else Path(folder)
    path = folder / f"{kind}.json"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.json"))
        raise InputError("instrument", f"unknown instrument kind '{kind}'; known kinds: {', '.join(known)}.")
    try:
        spec = InstrumentSpec.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, ValidationError) as error:
        raise InputError(path, f"not a valid instrument specification: {error}") from None
    if spec.kind != kind:
        raise InputError(path, f"the file describes kind '{spec.kind}', not '{kind}'.")
    return spec
