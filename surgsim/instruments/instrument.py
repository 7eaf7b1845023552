"""A laparoscopic instrument in the rigid world: commands in; pose, jaw and collision geometry out (metres, radians).

Each physics tick the :class:`~surgsim.instruments.world.RigidWorld` calls :meth:`Instrument.drive` (joint motor
targets, slew-limited, see :mod:`surgsim.instruments.commands`) before stepping and :meth:`Instrument.sync` after
it. The joints are position-controlled with force limits (``JOINT_FORCE_LIMITS``): the motors stand for the
surgeon's hand, which the tissue's reaction (applied with :meth:`Instrument.push`) can load but not overpower.

Geometry is read from PyBullet's link states after each step and exposed as capsules (:class:`ToolCapsule`): the part
of the shaft inside the body (from the pivot to the distal end), the two jaws or blades, or the tip capsules of an
electrode. ``tip_position()`` is the end of the working tip's axis (the capsule centre line, not its surface).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pybullet

from surgsim.instruments.builder import INSERTION, JAW_A, JAW_B, ROLL, build_instrument
from surgsim.instruments.commands import JointTargets, validate_command
from surgsim.instruments.specs import InstrumentSpec
from surgsim.instruments.trocar import Trocar
from surgsim.trace import InstrumentCommand

log = logging.getLogger("surgsim.instruments")

# Motor force limits per joint: yaw, pitch [N·m], insertion [N], roll [N·m], each jaw [N·m].
JOINT_FORCE_LIMITS = (5.0, 5.0, 50.0, 0.5, 0.5, 0.5)
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


class Instrument:
    """One instrument through one trocar; create it with :meth:`RigidWorld.add_instrument`."""

    def __init__(self, client: int, name: str, spec: InstrumentSpec, trocar: Trocar, *, dt: float):
        self.name = name
        self.spec = spec
        self.trocar = trocar
        self.dt = float(dt)
        self._client = client
        self.body = build_instrument(client, spec, trocar)
        self._goal = JointTargets()
        self._targets = JointTargets()
        self._warned: set[str] = set()
        self._links = [INSERTION, ROLL] + ([JAW_A, JAW_B] if spec.has_jaws else [])
        self.distal_link = ROLL  # the link of the distal frame, where a grasp pulls
        for joint, position in zip(self.body.joints, self._joint_positions(self._targets)):
            pybullet.resetJointState(self.body.body_id, joint, position, 0.0, physicsClientId=client)
        self._capsules: tuple[ToolCapsule, ...] = ()
        self._jaw = 0.0
        self.sync(forward_kinematics=True)

    # -- commands --------------------------------------------------------------------------------------------------
    def command(self, command: InstrumentCommand) -> None:
        """Take a device command (validated and clamped; a non-finite field raises InputError)."""
        self._goal, clamped = validate_command(self.name, command, self.spec, self.trocar)
        for field in clamped:
            if field not in self._warned:
                self._warned.add(field)
                log.warning("instrument '%s': command field '%s' out of range; clamped (reported once)",
                            self.name, field)

    @property
    def energy(self) -> bool:
        """Whether cautery energy is on (only ever for an instrument that has energy)."""
        return self._targets.energy

    def drive(self) -> None:
        """Move the joint targets one tick toward the command and hand them to the motors (before a physics step)."""
        self._targets = self._targets.approach(self._goal, self.dt)
        joints = self.body.joints
        pybullet.setJointMotorControlArray(
            self.body.body_id, joints, pybullet.POSITION_CONTROL,
            targetPositions=self._joint_positions(self._targets),
            forces=JOINT_FORCE_LIMITS[: len(joints)], positionGains=[POSITION_GAIN] * len(joints),
            physicsClientId=self._client)

    def push(self, link: int, force, point) -> None:
        """Apply ``force`` [N] at ``point`` [m] (scene frame) on ``link`` during the next physics step."""
        pybullet.applyExternalForce(self.body.body_id, link, list(force), list(point), pybullet.WORLD_FRAME,
                                    physicsClientId=self._client)

    def _joint_positions(self, targets: JointTargets) -> list[float]:
        positions = [targets.yaw, targets.pitch, targets.insertion - self.spec.tip_length_m, targets.roll]
        if self.spec.has_jaws:
            opening = (1.0 - targets.jaw) * self.spec.max_jaw_opening_rad
            # A positive turn about x swings +z toward -y: jaw A (on the +y side) opens with a negative angle.
            positions += [-opening / 2.0, opening / 2.0]
        return positions

    # -- state after a physics step --------------------------------------------------------------------------------
    def sync(self, *, forward_kinematics: bool = False) -> None:
        """Read the link states of the last physics step and rebuild the collision capsules (``forward_kinematics``:
        recompute them from the joints, needed only after joints were reset, as a step computes them)."""
        states = pybullet.getLinkStates(self.body.body_id, self._links, computeForwardKinematics=forward_kinematics,
                                        physicsClientId=self._client)
        frames = [(np.array(s[4]), np.array(pybullet.getMatrixFromQuaternion(s[5])).reshape(3, 3)) for s in states]
        origin, rotation = frames[1]
        self._distal = (origin, rotation)
        axis = rotation[:, 2]
        spec = self.spec
        inside = float((origin - self.trocar.pivot) @ axis)  # pivot to distal end along the shaft
        shaft_start = origin - min(max(inside, 0.0), spec.shaft_length_m) * axis
        capsules = [ToolCapsule("shaft", INSERTION, shaft_start, origin, spec.shaft_radius_m, inside > 0.0)]
        if spec.has_jaws:
            part = "blade" if spec.jaw_action == "cut" else "jaw"
            for link, (jaw_origin, jaw_rotation) in zip((JAW_A, JAW_B), frames[2:]):
                capsules.append(ToolCapsule(part, link, jaw_origin, jaw_origin + spec.jaw_length_m * jaw_rotation[:, 2],
                                            spec.jaw_radius_m))
            joints = pybullet.getJointStates(self.body.body_id, [JAW_A, JAW_B], physicsClientId=self._client)
            opening = joints[1][0] - joints[0][0]
            self._jaw = min(max(1.0 - opening / spec.max_jaw_opening_rad, 0.0), 1.0)
        for tip in spec.tip:
            capsules.append(ToolCapsule("tip", self.body.tip_link, origin + rotation @ np.asarray(tip.from_m),
                                        origin + rotation @ np.asarray(tip.to_m), tip.radius_m))
        self._capsules = tuple(capsules)

    def collision_capsules(self) -> tuple[ToolCapsule, ...]:
        """The instrument's contact geometry in the scene frame after the last physics step."""
        return self._capsules

    def distal_frame(self) -> tuple[np.ndarray, np.ndarray]:
        """(origin [m], rotation 3×3 with columns x hinge pin, y jaw opening, z along the shaft) of the distal end."""
        return self._distal

    @property
    def jaw(self) -> float:
        """The jaws' actual closure, 0 open to 1 closed (0 for an instrument without jaws)."""
        return self._jaw

    @property
    def jaw_opening_rad(self) -> float:
        """The actual total angle between the jaws [rad]."""
        return (1.0 - self._jaw) * self.spec.max_jaw_opening_rad

    def tip_position(self) -> np.ndarray:
        """The end of the working tip's axis [m] (between the jaw ends; the hook's end; the probe's shaft end)."""
        if self.spec.has_jaws:
            return (self._capsules[1].p1 + self._capsules[2].p1) / 2.0
        return self._capsules[-1].p1.copy()

    def shaft_axis(self) -> tuple[np.ndarray, np.ndarray]:
        """(a point on the shaft axis, the unit axis direction toward the tip), from PyBullet's link state."""
        origin, rotation = self._distal
        return origin, rotation[:, 2]

