"""What every instrument shows the rest of the simulator, whichever way the hand holds it.

An instrument is either laparoscopic, pivoting in a trocar (:class:`~surgsim.instruments.instrument.Instrument`,
``access == "trocar"``), or an open-surgery tool moved freely in 6 DOF
(:class:`~surgsim.instruments.free_instrument.FreeInstrument`, ``access == "open"``). They differ in how a command
becomes motion; the coupling, the session and the scoring read both through :class:`InstrumentBase` alone:

- ``name``, ``spec``, ``access``, ``trocar`` (None for a free instrument), ``energy``;
- ``collision_capsules()``: contact geometry in the scene frame after the last physics step (:class:`ToolCapsule`):
  the shaft (only its part inside the body for a trocar instrument; all of it for a free one), the two jaws or blades,
  or the tip capsules of an electrode;
- ``distal_frame()``, ``shaft_axis()``, ``tip_position()``, ``jaw``, ``jaw_opening_rad``;
- ``distal_link`` (the PyBullet link of the distal frame, where a grasp pulls) and ``push(link, force, point)``.

Each physics tick the :class:`~surgsim.instruments.world.RigidWorld` calls ``drive()`` before stepping and ``sync()``
after it; ``command(...)`` takes a device's command at any time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pybullet

from surgsim.instruments.builder import InstrumentBody
from surgsim.instruments.specs import InstrumentSpec

log = logging.getLogger("surgsim.instruments")

# Motor force limits per joint: yaw, pitch [N·m], insertion [N], roll [N·m], each jaw [N·m].
JOINT_FORCE_LIMITS = (5.0, 5.0, 50.0, 0.5, 0.5, 0.5)
JAW_FORCE_LIMIT = JOINT_FORCE_LIMITS[-1]
# PyBullet position gain: the share of the remaining error the motor closes per step (stable at 1 kHz).
POSITION_GAIN = 0.3


@dataclass(frozen=True)
class ToolCapsule:
    """One collision capsule in the scene frame: ``part`` (shaft, jaw, blade, tip), the PyBullet ``link`` it belongs
    to, the axis ``p0``–``p1`` [m], ``radius`` [m]; ``enabled`` is False for a shaft still outside the body."""

    part: str
    link: int
    p0: np.ndarray
    p1: np.ndarray
    radius: float
    enabled: bool = True


class InstrumentBase:
    """The readout shared by trocar and free instruments; subclasses build the body and implement ``command``,
    ``drive``, ``sync`` and ``energy``."""

    access: str = ""
    trocar = None
    distal_link: int

    def __init__(self, client: int, name: str, spec: InstrumentSpec, *, dt: float):
        self.name = name
        self.spec = spec
        self.dt = float(dt)
        self._client = client
        self.body: InstrumentBody | None = None
        self._warned: set[str] = set()
        self._capsules: tuple[ToolCapsule, ...] = ()
        self._distal: tuple[np.ndarray, np.ndarray] | None = None
        self._jaw = 0.0
        self._pending = None  # what sync() read and the geometry was not yet rebuilt from (see _realise)

    # -- shared helpers --------------------------------------------------------------------------------------------
    def _warn_clamped(self, fields) -> None:
        for field in fields:
            if field not in self._warned:
                self._warned.add(field)
                log.warning("instrument '%s': command field '%s' out of range; clamped (reported once)",
                            self.name, field)

    def _jaw_positions(self, jaw: float) -> list[float]:
        """The two jaw joints' angles for a closure ``jaw`` (0 open .. 1 closed)."""
        opening = (1.0 - jaw) * self.spec.max_jaw_opening_rad
        # A positive turn about x swings +z toward -y: jaw A (on the +y side) opens with a negative angle.
        return [-opening / 2.0, opening / 2.0]

    def _set_geometry(self, origin: np.ndarray, rotation: np.ndarray, shaft: ToolCapsule,
                      jaw_frames, jaw_links, tip_link, jaw_joints=None) -> None:
        """Store the distal frame and rebuild the capsules: ``shaft``, then the jaws (their link frames and ids) and
        the tip capsules; the jaws' closure from their joint states ``jaw_joints`` (PyBullet's, read at the sync)."""
        self._distal = (origin, rotation)
        spec = self.spec
        capsules = [shaft]
        if spec.has_jaws:
            part = "blade" if spec.jaw_action == "cut" else "jaw"
            for link, (jaw_origin, jaw_rotation) in zip(jaw_links, jaw_frames):
                capsules.append(ToolCapsule(part, link, jaw_origin, jaw_origin + spec.jaw_length_m * jaw_rotation[:, 2],
                                            spec.jaw_radius_m))
            opening = jaw_joints[1][0] - jaw_joints[0][0]
            self._jaw = min(max(1.0 - opening / spec.max_jaw_opening_rad, 0.0), 1.0)
        for tip in spec.tip:
            capsules.append(ToolCapsule("tip", tip_link, origin + rotation @ np.asarray(tip.from_m),
                                        origin + rotation @ np.asarray(tip.to_m), tip.radius_m))
        self._capsules = tuple(capsules)

    def _jaw_joint_states(self, jaw_links) -> tuple | None:
        """The jaw joints' PyBullet states now (None for an instrument without jaws)."""
        if not self.spec.has_jaws:
            return None
        return pybullet.getJointStates(self.body.body_id, list(jaw_links), physicsClientId=self._client)

    def _defer_geometry(self, rebuild, *read) -> None:
        """Keep what a sync read (``read``: PyBullet's tuples, taken after the step) and rebuild the frames, capsules
        and jaw closure from it with ``rebuild(*read)`` only when they are asked for: the tick runs at 1 kHz, and
        the contact pass, goals, zones and trace samples ask at the tissue rate or less."""
        self._pending = (rebuild, read)

    def _realise(self) -> None:
        if self._pending is not None:
            rebuild, read = self._pending
            self._pending = None
            rebuild(*read)

    # -- forces ----------------------------------------------------------------------------------------------------
    def push(self, link: int, force, point) -> None:
        """Apply ``force`` [N] at ``point`` [m] (scene frame) on ``link`` during the next physics step."""
        pybullet.applyExternalForce(self.body.body_id, link, list(force), list(point), pybullet.WORLD_FRAME,
                                    physicsClientId=self._client)

    # -- state after a physics step --------------------------------------------------------------------------------
    def collision_capsules(self) -> tuple[ToolCapsule, ...]:
        """The instrument's contact geometry in the scene frame after the last physics step."""
        self._realise()
        return self._capsules

    def distal_frame(self) -> tuple[np.ndarray, np.ndarray]:
        """(origin [m], rotation 3×3 with columns x hinge pin, y jaw opening, z along the shaft) of the distal end."""
        self._realise()
        return self._distal

    @property
    def jaw(self) -> float:
        """The jaws' actual closure, 0 open to 1 closed (0 for an instrument without jaws)."""
        self._realise()
        return self._jaw

    @property
    def jaw_opening_rad(self) -> float:
        """The actual total angle between the jaws [rad]."""
        return (1.0 - self.jaw) * self.spec.max_jaw_opening_rad

    def tip_position(self) -> np.ndarray:
        """The end of the working tip's axis [m] (between the jaw ends; the hook's end; the probe's shaft end)."""
        self._realise()
        if self.spec.has_jaws:
            return (self._capsules[1].p1 + self._capsules[2].p1) / 2.0
        return self._capsules[-1].p1.copy()

    def shaft_axis(self) -> tuple[np.ndarray, np.ndarray]:
        """(a point on the shaft axis, the unit axis direction toward the tip), from PyBullet's link state."""
        origin, rotation = self.distal_frame()
        return origin, rotation[:, 2]
