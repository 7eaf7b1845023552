"""A laparoscopic instrument in the rigid world: commands in; pose, jaw and collision geometry out (metres, radians).

Each physics tick the :class:`~surgsim.instruments.world.RigidWorld` calls :meth:`Instrument.drive` (joint motor
targets, slew-limited, see :mod:`surgsim.instruments.commands`) before stepping and :meth:`Instrument.sync` after
it. The joints are position-controlled with force limits (``JOINT_FORCE_LIMITS``): the motors stand for the
surgeon's hand, which the tissue's reaction (applied with :meth:`Instrument.push`) can load but not overpower.

Geometry is read from PyBullet's link states after each step and exposed as capsules (:class:`ToolCapsule`): the part
of the shaft inside the body (from the pivot to the distal end), the two jaws or blades, or the tip capsules of an
electrode. ``tip_position()`` is the end of the working tip's axis (the capsule centre line, not its surface). The
readout is shared with free (open-surgery) instruments: :mod:`surgsim.instruments.tool`.
"""

from __future__ import annotations

import numpy as np
import pybullet

from surgsim.errors import InputError
from surgsim.instruments.builder import INSERTION, JAW_A, JAW_B, ROLL, build_instrument
from surgsim.instruments.commands import approach, validate_command
from surgsim.instruments.specs import InstrumentSpec
from surgsim.instruments.tool import JOINT_FORCE_LIMITS, POSITION_GAIN, InstrumentBase, ToolCapsule
from surgsim.instruments.trocar import Trocar
from surgsim.instrument_command import InstrumentCommand

__all__ = ["Instrument", "ToolCapsule", "JOINT_FORCE_LIMITS", "POSITION_GAIN"]


class Instrument(InstrumentBase):
    """One instrument through one trocar; create it with :meth:`RigidWorld.add_instrument`."""

    access = "trocar"

    def __init__(self, client: int, name: str, spec: InstrumentSpec, trocar: Trocar, *, dt: float):
        super().__init__(client, name, spec, dt=dt)
        self.trocar = trocar
        self.body = build_instrument(client, spec, trocar)
        self._goal = self._targets = InstrumentCommand()  # at the port, jaws open
        self._commanded = self._driven = None  # the last device command taken, the last targets the motors got
        self._links = [INSERTION, ROLL] + ([JAW_A, JAW_B] if spec.has_jaws else [])
        self.distal_link = ROLL  # the link of the distal frame, where a grasp pulls
        for joint, position in zip(self.body.joints, self._joint_positions(self._targets)):
            pybullet.resetJointState(self.body.body_id, joint, position, 0.0, physicsClientId=client)
        self._synced_states = None
        self.sync(forward_kinematics=True)

    # -- commands --------------------------------------------------------------------------------------------------
    def command(self, command: InstrumentCommand) -> None:
        """Take a device command (validated and clamped; a non-finite field raises InputError)."""
        if not isinstance(command, InstrumentCommand):
            raise InputError(f"instrument '{self.name}'",
                             f"is a laparoscopic instrument (access: trocar) and takes pivot, insertion and roll "
                             f"commands (InstrumentCommand), not a {type(command).__name__}.")
        if command is self._commanded:
            return  # a device that repeats its last command (a replay between changes): validated already
        self._goal, clamped = validate_command(self.name, command, self.spec, self.trocar)
        self._commanded = command
        self._warn_clamped(clamped)

    @property
    def energy(self) -> bool:
        """Whether cautery energy is on (only ever for an instrument that has energy)."""
        return self._targets.energy

    def drive(self) -> None:
        """Move the joint targets one tick toward the command and hand them to the motors (before a physics step)."""
        self._targets = approach(self._targets, self._goal, self.dt)
        if self._targets is self._driven:
            return  # the motors keep the targets they were given
        self._driven = self._targets
        joints = self.body.joints
        pybullet.setJointMotorControlArray(
            self.body.body_id, joints, pybullet.POSITION_CONTROL,
            targetPositions=self._joint_positions(self._targets),
            forces=JOINT_FORCE_LIMITS[: len(joints)], positionGains=[POSITION_GAIN] * len(joints),
            physicsClientId=self._client)

    def _joint_positions(self, targets: InstrumentCommand) -> list[float]:
        positions = [targets.pivot_yaw_rad, targets.pivot_pitch_rad, targets.insertion_m - self.spec.tip_length_m,
                     targets.roll_rad]
        if self.spec.has_jaws:
            positions += self._jaw_positions(targets.jaw)
        return positions

    # -- state after a physics step --------------------------------------------------------------------------------
    def sync(self, *, forward_kinematics: bool = False) -> None:
        """Read the link states of the last physics step, from which the collision capsules are rebuilt when next asked
        for (``forward_kinematics``: recompute them from the joints, needed only after joints were reset, as a step
        computes them)."""
        states = pybullet.getLinkStates(self.body.body_id, self._links, computeForwardKinematics=forward_kinematics,
                                        physicsClientId=self._client)
        # An instrument at rest reads the same link states tick after tick (half the ticks of the shipped sessions):
        # its frames, capsules and jaw closure are then what they were.
        if states == self._synced_states:
            return
        self._synced_states = states
        self._defer_geometry(self._rebuild_geometry, states, self._jaw_joint_states((JAW_A, JAW_B)))

    def _rebuild_geometry(self, states, jaw_joints) -> None:
        frames = [(np.array(s[4]), np.array(pybullet.getMatrixFromQuaternion(s[5])).reshape(3, 3)) for s in states]
        origin, rotation = frames[1]
        axis = rotation[:, 2]
        spec = self.spec
        inside = float((origin - self.trocar.pivot) @ axis)  # pivot to distal end along the shaft
        shaft_start = origin - min(max(inside, 0.0), spec.shaft_length_m) * axis
        shaft = ToolCapsule("shaft", INSERTION, shaft_start, origin, spec.shaft_radius_m, inside > 0.0)
        self._set_geometry(origin, rotation, shaft, frames[2:], (JAW_A, JAW_B), self.body.tip_link, jaw_joints)
