"""The event stream: what happened during a session, in simulated time.

Producers (solver, coupling, instruments, procedure logic) append :class:`Event` records; consumers (scoring, HUD,
trace recorder) read them. Events are plain data so that a trace can store them as JSON and a replay can compare
them for equality.

Kinds in use (``EventKind``):

- ``contact_start`` / ``contact_end``: an instrument starts/stops touching tissue or rigid anatomy
- ``grasp`` / ``release``: jaws bind/unbind tissue nodes; ``slip``: grasped tissue pulled out of the jaws
- ``cut``: springs/tets removed by scissors; ``tear``: springs broken by over-stretch
- ``burn``: cautery energy applied to tissue; ``clip``: a clip placed
- ``forbidden_contact``: an instrument touched a forbidden zone
- ``force_limit``: contact force rose above the procedure's limit (and ``force_limit_end`` when it falls below)
- ``over_retraction``: a retract goal's region pulled farther than its ``max_distance_mm`` (``over_retraction_end``
  when it comes back, with the farthest distance)
- ``over_indentation``: a touch goal's region pushed in deeper than its ``max_depth_mm`` (``over_indentation_end``
  when it comes back, with the deepest point)
- ``blowup``: the tissue solver rolled back a step that went non-finite or too fast
- ``step_complete``: a procedure step's goal was reached
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

EventKind = Literal[
    "contact_start",
    "contact_end",
    "grasp",
    "release",
    "slip",
    "cut",
    "tear",
    "burn",
    "clip",
    "forbidden_contact",
    "force_limit",
    "force_limit_end",
    "over_retraction",
    "over_retraction_end",
    "over_indentation",
    "over_indentation_end",
    "blowup",
    "step_complete",
]


@dataclass(frozen=True)
class Event:
    """One thing that happened. ``time_s`` is simulated time; forces in newtons, positions in metres (RAS)."""

    time_s: float
    kind: EventKind
    instrument: str | None = None
    region: str | None = None
    force_n: float | None = None
    position_m: tuple[float, float, float] | None = None
    detail: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        record = {key: value for key, value in asdict(self).items() if value not in (None, {})}
        if self.position_m is not None:
            record["position_m"] = [float(v) for v in self.position_m]
        return record
