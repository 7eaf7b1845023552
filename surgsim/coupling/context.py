"""What the interactions see of one tick: the scene's parts, the contact report, and the event stream.

Events are :class:`surgsim.events.Event` stamped with simulated time ``tick × dt``. Positions are copied from the
device only when an interaction asks for them, once per tick.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from surgsim.events import Event
from surgsim.mesh.model import TissueModel
from surgsim.tissue.contact_layout import OUT_COUNT, OUT_POINT, OUT_STRONGEST_FORCE, OUT_WEIGHT
from surgsim.tissue.tool_contact import ContactReport

if TYPE_CHECKING:
    from surgsim.coupling.capsules import CapsuleLayout
    from surgsim.coupling.topology import TissueTopology
    from surgsim.instruments import Instrument
    from surgsim.tissue import TissueState
    from surgsim.tissue.control import TissueControl
    from surgsim.tissue.tool_contact import ToolContact


@dataclass
class TickContext:
    """One tick's view of the scene, handed to every interaction in the fixed order."""

    tick: int
    dt: float
    model: TissueModel
    control: "TissueControl"
    state: "TissueState"
    contact: "ToolContact"
    topology: "TissueTopology"
    layout: "CapsuleLayout"
    instruments: "dict[str, Instrument]"
    report: ContactReport
    events: list[Event]
    instrument_forces: dict[str, np.ndarray] = field(default_factory=dict)
    _positions: np.ndarray | None = field(default=None, init=False, repr=False)
    _spring_flags: np.ndarray | None = field(default=None, init=False, repr=False)

    @property
    def time_s(self) -> float:
        return self.tick * self.dt

    def positions(self) -> np.ndarray:
        """Node positions at the end of this tick [N, 3] [m] (copied once per tick)."""
        if self._positions is None:
            self._positions = self.state.positions_numpy()
        return self._positions

    def spring_flags(self) -> np.ndarray:
        """The contact pass's flag per spring this tick (copied once per tick; see ``ToolContact.spring_flags``)."""
        if self._spring_flags is None:
            self._spring_flags = self.contact.spring_flags()
        return self._spring_flags

    def emit(self, kind: str, *, instrument: str | None = None, region: str | None = None,
             force_n: float | None = None, position_m=None, detail: dict | None = None) -> None:
        position = None if position_m is None else tuple(float(v) for v in position_m)
        self.events.append(Event(self.time_s, kind, instrument, region, None if force_n is None else float(force_n),
                                 position, dict(detail or {})))

    def regions_of_nodes(self, nodes: np.ndarray) -> list[str]:
        """Region names of ``nodes``, most frequent first (ties: model order)."""
        return self._ranked(self.model.node_region[np.asarray(nodes, dtype=np.int64)])

    def regions_of_springs(self, springs: np.ndarray) -> list[str]:
        """Region names of ``springs``, most frequent first (ties: model order)."""
        return self._ranked(self.model.spring_region[np.asarray(springs, dtype=np.int64)])

    def _ranked(self, region_ids: np.ndarray) -> list[str]:
        counts = Counter(int(r) for r in region_ids)
        return [self.model.region_names[r] for r, _ in sorted(counts.items(), key=lambda rc: (-rc[1], rc[0]))]

    def capsule_rows(self, instrument: str, parts: tuple[str, ...] | None = None) -> list[int]:
        if parts is None:
            return self.layout.rows_of[instrument]
        return [s.row for s in self.layout.slots if s.instrument == instrument and s.part in parts]

    def contact_of(self, rows: list[int]) -> tuple[int, float, np.ndarray | None, int]:
        """(touching node count, force magnitude [N], force-weighted contact point [m] or None, strongest node or
        -1) of the capsules in ``rows``."""
        outputs = self.report.outputs
        count = int(outputs[rows, OUT_COUNT].sum())
        if count == 0:
            return 0, 0.0, None, -1
        report = self.report
        force = float(np.linalg.norm(report.reaction[rows].sum(axis=0)))
        weights = report.outputs[rows, OUT_WEIGHT]
        point = report.outputs[rows, OUT_POINT:OUT_POINT + 3].sum(axis=0) / weights.sum()
        strongest = int(report.strongest_node[rows][np.argmax(report.outputs[rows, OUT_STRONGEST_FORCE])])
        return count, force, point, strongest

    def spring_midpoints(self, springs: np.ndarray, *, rest: bool = False) -> np.ndarray:
        """Midpoints of ``springs`` [K, 3] [m], now or at rest."""
        x = self.model.positions if rest else self.positions()
        s = self.model.springs[springs]
        return (x[s[:, 0]] + x[s[:, 1]]) / 2.0
