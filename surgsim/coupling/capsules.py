"""The fixed list of contact capsules of a scene: every instrument's capsules in the order the instruments were added,
then the static anatomy's spheres and capsules. Row r of the packed array (see
:func:`surgsim.tissue.tool_contact.capsule_row`) is capsule r; the pass's contact records refer to rows, so the list
never changes during a session.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from surgsim.tissue.contact_layout import (
    C_FLAGS, C_FRICTION, C_P0, C_P0_BEFORE, C_P1, C_P1_BEFORE, C_RADIUS, CAPSULE_ENABLED, CAPSULE_ENERGIZED,
    CAPSULE_SENSE, IO_WIDTH,
)

# p0 and p1 then their "before" copies are consecutive columns: one slice copies both.
_NOW, _BEFORE = slice(C_P0, C_P1 + 3), slice(C_P0_BEFORE, C_P1_BEFORE + 3)


@dataclass(frozen=True)
class CapsuleSlot:
    """Row ``row`` is capsule ``index`` of ``instrument`` (None for static anatomy), on PyBullet ``link``."""

    row: int
    instrument: str | None
    index: int
    part: str
    link: int


class CapsuleLayout:
    """Packs the capsules of ``instruments`` (name → Instrument) and ``static`` (p0, p1, radius) each tick."""

    def __init__(self, instruments: dict, static: list, *, friction: dict[str, float], anatomy_friction: float):
        slots = []
        for name, instrument in instruments.items():
            for index, capsule in enumerate(instrument.collision_capsules()):
                slots.append(CapsuleSlot(len(slots), name, index, capsule.part, capsule.link))
        for index, _ in enumerate(static):
            slots.append(CapsuleSlot(len(slots), None, index, "anatomy", -1))
        self.slots = tuple(slots)
        self._instruments = instruments
        self._rows = np.zeros((len(slots), IO_WIDTH))
        for slot in self.slots:
            self._rows[slot.row, C_FRICTION] = friction[slot.instrument] if slot.instrument else anatomy_friction
        for k, (p0, p1, radius) in enumerate(static):
            row = self._rows[len(slots) - len(static) + k]
            row[C_P0:C_P0 + 3] = row[C_P0_BEFORE:C_P0_BEFORE + 3] = p0
            row[C_P1:C_P1 + 3] = row[C_P1_BEFORE:C_P1_BEFORE + 3] = p1
            row[C_RADIUS] = radius
            row[C_FLAGS] = CAPSULE_ENABLED
        self._first = True
        self.rows_of = {name: [s.row for s in self.slots if s.instrument == name] for name in instruments}

    def __len__(self) -> int:
        return len(self.slots)

    def pack(self, *, disabled: set[int] = frozenset()) -> np.ndarray:
        """This tick's rows, with last tick's positions as the 'before' columns; ``disabled`` rows only sense the
        tissue they overlap, without pushing it."""
        rows = self._rows
        rows[:, _BEFORE] = rows[:, _NOW]
        for name, instrument in self._instruments.items():
            capsules = instrument.collision_capsules()
            energized = instrument.energy
            for row, capsule in zip(self.rows_of[name], capsules):
                rows[row, C_P0:C_P0 + 3] = capsule.p0
                rows[row, C_P1:C_P1 + 3] = capsule.p1
                rows[row, C_RADIUS] = capsule.radius
                flags = 0
                if capsule.enabled:
                    flags = CAPSULE_SENSE if row in disabled else CAPSULE_ENABLED
                if energized and capsule.part == "tip":
                    flags |= CAPSULE_ENERGIZED
                rows[row, C_FLAGS] = flags
        if self._first:
            rows[:, _BEFORE] = rows[:, _NOW]
            self._first = False
        return rows
