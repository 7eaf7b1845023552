"""An open-surgery instrument in the rigid world: a free 6-DOF pose in, pose, jaw and collision geometry out.

No trocar holds it: the hand does. The body (:func:`~surgsim.instruments.builder.build_free_instrument`) floats
freely, its base being the distal frame, and a fixed constraint to the world (``pybullet.createConstraint`` with
``JOINT_FIXED``) pulls that frame onto the slew-limited pose target every tick (:mod:`surgsim.instruments.pose`).
The constraint's force is limited (``HAND_FORCE_LIMIT_N``), as the joint motors of a trocar instrument are: it stands
for the surgeon's hand, which the tissue's reaction (applied with :meth:`push`) loads but cannot overpower unless it
exceeds what a hand holds. PyBullet bounds the constraint's torque by the same number (in N·m), far above any torque
the tissue puts on a tool, so the hand also holds the tool's orientation. The jaws are position-controlled joints
with the trocar instruments' force limit and gain.

Commands are :class:`~surgsim.instrument_command.FreePoseCommand` (the distal frame's pose in the scene frame, jaw, energy); a
trocar command given to a free instrument is refused with :class:`~surgsim.errors.InputError` naming it. The whole
shaft takes part in contact (there is no abdominal wall outside which it would be), so every capsule is enabled.
"""

from __future__ import annotations

import numpy as np
import pybullet

from surgsim.errors import InputError
from surgsim.instruments.builder import (FREE_BASE, FREE_JAW_A, FREE_JAW_B, build_free_instrument,
                                         quaternion_from_matrix)
from surgsim.instruments.pose import PoseTargets, rotation_from_quaternion, validate_free_command
from surgsim.instruments.specs import InstrumentSpec
from surgsim.instruments.tool import JAW_FORCE_LIMIT, JOINT_FORCE_LIMITS, POSITION_GAIN, InstrumentBase, ToolCapsule
from surgsim.instrument_command import FreePoseCommand

# The most the hand's hold on the tool gives [N] (and [N·m] about it): the trocar instruments' insertion force limit.
HAND_FORCE_LIMIT_N = JOINT_FORCE_LIMITS[2]


class FreeInstrument(InstrumentBase):
    """One open-surgery instrument; create it with :meth:`RigidWorld.add_free_instrument`.

    It starts with its distal end at ``position_m`` [m], its distal frame at ``rotation`` (3×3, columns x hinge pin,
    y jaw opening, z shaft) and open jaws, and holds that pose until commanded.
    """

    access = "open"
    trocar = None

    def __init__(self, client: int, name: str, spec: InstrumentSpec, *, position_m, rotation, dt: float):
        super().__init__(client, name, spec, dt=dt)
        position = tuple(float(v) for v in position_m)
        orientation = quaternion_from_matrix(rotation)
        self.start_position = np.array(position)
        self.start_rotation = rotation_from_quaternion(orientation)
        self._goal = self._targets = PoseTargets(position, orientation)
        self.body = build_free_instrument(client, spec, position, orientation)
        self.distal_link = FREE_BASE  # the base is the distal frame, where a grasp pulls
        self._jaw_links = (FREE_JAW_A, FREE_JAW_B) if spec.has_jaws else ()
        for joint, angle in zip(self._jaw_links, self._jaw_positions(0.0)):
            pybullet.resetJointState(self.body.body_id, joint, angle, 0.0, physicsClientId=client)
        self._hold = pybullet.createConstraint(
            self.body.body_id, FREE_BASE, -1, -1, pybullet.JOINT_FIXED, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0],
            list(position), childFrameOrientation=list(orientation), physicsClientId=client)
        pybullet.changeConstraint(self._hold, maxForce=HAND_FORCE_LIMIT_N, physicsClientId=client)
        self.sync(forward_kinematics=True)

    # -- commands --------------------------------------------------------------------------------------------------
    def command(self, command: FreePoseCommand) -> None:
        """Take a device command (validated; a non-finite field or a non-unit quaternion raises InputError)."""
        if not isinstance(command, FreePoseCommand):
            raise InputError(f"instrument '{self.name}'",
                             f"is an open-surgery instrument (access: open) and takes free pose commands "
                             f"(FreePoseCommand: position_m, orientation_xyzw), not a {type(command).__name__}.")
        self._goal, clamped = validate_free_command(self.name, command, self.spec)
        self._warn_clamped(clamped)

    @property
    def energy(self) -> bool:
        """Whether cautery energy is on (only ever for an instrument that has energy)."""
        return self._targets.energy

    def drive(self) -> None:
        """Move the pose target one tick toward the command and hand it to the hand's constraint and the jaw motors
        (before a physics step)."""
        self._targets = self._targets.approach(self._goal, self.dt)
        pybullet.changeConstraint(self._hold, jointChildPivot=list(self._targets.position),
                                  jointChildFrameOrientation=list(self._targets.orientation),
                                  maxForce=HAND_FORCE_LIMIT_N, physicsClientId=self._client)
        if self._jaw_links:
            pybullet.setJointMotorControlArray(
                self.body.body_id, self._jaw_links, pybullet.POSITION_CONTROL,
                targetPositions=self._jaw_positions(self._targets.jaw), forces=[JAW_FORCE_LIMIT] * 2,
                positionGains=[POSITION_GAIN] * 2, physicsClientId=self._client)

    # -- state after a physics step --------------------------------------------------------------------------------
    def sync(self, *, forward_kinematics: bool = False) -> None:
        """Read the body's pose and jaw links after the last physics step, from which the collision capsules are
        rebuilt when next asked for (``forward_kinematics``: recompute the jaw links from the joints, needed only
        after they were reset)."""
        body, client = self.body.body_id, self._client
        pose = pybullet.getBasePositionAndOrientation(body, physicsClientId=client)
        states = ()
        if self._jaw_links:
            states = pybullet.getLinkStates(body, list(self._jaw_links), computeForwardKinematics=forward_kinematics,
                                            physicsClientId=client)
        self._defer_geometry(self._rebuild_geometry, pose, states, self._jaw_joint_states(self._jaw_links))

    def _rebuild_geometry(self, pose, states, jaw_joints) -> None:
        position, orientation = pose
        origin = np.array(position)
        rotation = np.array(pybullet.getMatrixFromQuaternion(orientation)).reshape(3, 3)
        jaw_frames = [(np.array(s[4]), np.array(pybullet.getMatrixFromQuaternion(s[5])).reshape(3, 3))
                      for s in states]
        shaft = ToolCapsule("shaft", FREE_BASE, origin - self.spec.shaft_length_m * rotation[:, 2], origin,
                            self.spec.shaft_radius_m)
        self._set_geometry(origin, rotation, shaft, jaw_frames, self._jaw_links, self.body.tip_link, jaw_joints)
