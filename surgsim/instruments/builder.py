"""Building an instrument as a PyBullet multibody: hinged at its trocar (laparoscopic), or free (open surgery).

Trocar instruments (:func:`build_instrument`)
---------------------------------------------

The base is fixed at the pivot, in the port frame (:mod:`surgsim.instruments.trocar`). The joint chain is

    base ─yaw (revolute, port y)─ pitch (revolute, x) ─insertion (prismatic, z)─ shaft ─roll (revolute, z)─ distal
         └ jaws: two revolute joints about x, hinged ±jaw_radius off the axis   or   tip: a fixed link (hook)

Yaw and pitch turn about the pivot itself and the shaft slides along the line through it, so the shaft passes
through the pivot by construction (the remote centre of motion), whatever forces act. The shaft link's origin is the
distal end of the shaft, at ``insertion − tip_length`` from the pivot. Geometry is capsules, as in the spec.

Free instruments (:func:`build_free_instrument`)
------------------------------------------------
No trocar, no chain: the base *is* the distal frame (origin at the distal end of the shaft, x the hinge pin, y the jaw
opening, z along the shaft toward the tip), carrying the instrument's mass, the whole shaft capsule behind it and any
rigid tip capsules (a hook) in one compound shape; the jaws are the same two revolute links about x, hinged
±jaw_radius off the axis. The base's centre of mass is its origin, where the constraint that holds it
(:mod:`surgsim.instruments.free_instrument`) acts, so a pull there does not also turn it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pybullet

from surgsim.instruments.specs import InstrumentSpec
from surgsim.instruments.trocar import Trocar

YAW, PITCH, INSERTION, ROLL, JAW_A, JAW_B = range(6)
TIP = 4  # the fixed tip link of an instrument without jaws
FREE_BASE, FREE_JAW_A, FREE_JAW_B = -1, 0, 1  # a free instrument's base (the distal frame) and its jaw links
_LIGHT_LINK_KG = 1e-3  # the massless-in-spirit joints of the chain (PyBullet needs some mass)


@dataclass(frozen=True)
class InstrumentBody:
    """A built instrument: PyBullet body id, its driven joints in command order, and its tip link (or None)."""

    body_id: int
    joints: tuple[int, ...]
    tip_link: int | None


def quaternion_from_matrix(rotation: np.ndarray) -> tuple[float, float, float, float]:
    """PyBullet quaternion (x, y, z, w) of a 3×3 rotation matrix."""
    m = np.asarray(rotation, dtype=np.float64)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = ((m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s)
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
        q = [0.0, 0.0, 0.0, (m[k, j] - m[j, k]) / s]
        q[i] = 0.25 * s
        q[j] = (m[j, i] + m[i, j]) / s
        q[k] = (m[k, i] + m[i, k]) / s
    q = np.asarray(q)
    return tuple(float(v) for v in q / np.linalg.norm(q))


def _capsule_frame(start, end) -> tuple[float, list, tuple]:
    """Length, centre and orientation (+z along the axis) of a capsule from ``start`` to ``end`` in its link frame."""
    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    axis = end - start
    length = float(np.linalg.norm(axis))
    return length, list((start + end) / 2.0), _rotation_z_to(axis / length)


def _capsule_shape(client: int, start, end, radius: float) -> int:
    length, centre, orientation = _capsule_frame(start, end)
    return pybullet.createCollisionShape(pybullet.GEOM_CAPSULE, radius=radius, height=length,
                                         collisionFramePosition=centre, collisionFrameOrientation=orientation,
                                         physicsClientId=client)


def _capsules_shape(client: int, parts) -> int:
    """One collision shape of several capsules ``(start, end, radius)`` in a link frame (a single capsule alone)."""
    if len(parts) == 1:
        return _capsule_shape(client, *parts[0])
    frames_of_parts = [_capsule_frame(start, end) for start, end, _ in parts]
    return pybullet.createCollisionShapeArray(
        shapeTypes=[pybullet.GEOM_CAPSULE] * len(parts),
        radii=[radius for _, _, radius in parts],
        lengths=[f[0] for f in frames_of_parts],
        collisionFramePositions=[f[1] for f in frames_of_parts],
        collisionFrameOrientations=[f[2] for f in frames_of_parts],
        physicsClientId=client,
    )


def _multibody(client: int, *, base_mass: float, base_shape: int, position, orientation, masses, shapes, frames,
               parents, types, axes) -> int:
    """A PyBullet multibody of capsule links with their inertial frames at the link origins, no visual shapes."""
    count = len(masses)
    return pybullet.createMultiBody(
        baseMass=base_mass,
        baseCollisionShapeIndex=base_shape,
        basePosition=[float(v) for v in position],
        baseOrientation=[float(v) for v in orientation],
        linkMasses=masses,
        linkCollisionShapeIndices=shapes,
        linkVisualShapeIndices=[-1] * count,
        linkPositions=frames,
        linkOrientations=[[0.0, 0.0, 0.0, 1.0]] * count,
        linkInertialFramePositions=[[0.0, 0.0, 0.0]] * count,
        linkInertialFrameOrientations=[[0.0, 0.0, 0.0, 1.0]] * count,
        linkParentIndices=parents,
        linkJointTypes=types,
        linkJointAxis=axes,
        physicsClientId=client,
    )


def _rotation_z_to(direction: np.ndarray) -> tuple:
    """Quaternion turning +z onto ``direction`` (unit)."""
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(z, direction)
    s, c = np.linalg.norm(axis), float(z @ direction)
    if s < 1e-12:
        return (0.0, 0.0, 0.0, 1.0) if c > 0 else (1.0, 0.0, 0.0, 0.0)
    half = np.arctan2(s, c) / 2.0
    axis = axis / s * np.sin(half)
    return (float(axis[0]), float(axis[1]), float(axis[2]), float(np.cos(half)))


def _jaw_links(client: int, spec: InstrumentSpec) -> tuple[list, list, list]:
    """(masses, shapes, frames) of the two jaw links, hinged a jaw radius either side of the shaft axis (+y first)."""
    jaw = _capsule_shape(client, (0.0, 0.0, 0.0), (0.0, 0.0, spec.jaw_length_m), spec.jaw_radius_m)
    return [_LIGHT_LINK_KG] * 2, [jaw, jaw], [[0.0, side * spec.jaw_radius_m, 0.0] for side in (1.0, -1.0)]


def build_instrument(client: int, spec: InstrumentSpec, trocar: Trocar) -> InstrumentBody:
    """Create the multibody of ``spec`` at ``trocar`` in the PyBullet world ``client``."""
    shaft = _capsule_shape(client, (0.0, 0.0, -spec.shaft_length_m), (0.0, 0.0, 0.0), spec.shaft_radius_m)
    masses = [_LIGHT_LINK_KG, _LIGHT_LINK_KG, spec.mass_kg, _LIGHT_LINK_KG]
    shapes = [-1, -1, shaft, -1]
    frames = [[0.0, 0.0, 0.0]] * 4
    types = [pybullet.JOINT_REVOLUTE, pybullet.JOINT_REVOLUTE, pybullet.JOINT_PRISMATIC, pybullet.JOINT_REVOLUTE]
    axes = [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]
    parents = [0, 1, 2, 3]  # PyBullet counts the base as 0 and link i as i + 1
    tip_link = None
    if spec.has_jaws:
        jaw_masses, jaw_shapes, jaw_frames = _jaw_links(client, spec)
        masses += jaw_masses
        shapes += jaw_shapes
        frames += jaw_frames
        types += [pybullet.JOINT_REVOLUTE] * 2
        axes += [[1.0, 0.0, 0.0]] * 2
        parents += [ROLL + 1] * 2
    elif spec.tip:
        compound = _capsules_shape(client, [(c.from_m, c.to_m, c.radius_m) for c in spec.tip])
        masses.append(_LIGHT_LINK_KG)
        shapes.append(compound)
        frames.append([0.0, 0.0, 0.0])
        types.append(pybullet.JOINT_FIXED)
        axes.append([0.0, 0.0, 1.0])
        parents.append(ROLL + 1)
        tip_link = TIP
    body = _multibody(client, base_mass=0.0, base_shape=-1, position=trocar.pivot_m,
                      orientation=quaternion_from_matrix(trocar.rotation), masses=masses, shapes=shapes,
                      frames=frames, parents=parents, types=types, axes=axes)
    joints = (YAW, PITCH, INSERTION, ROLL, JAW_A, JAW_B) if spec.has_jaws else (YAW, PITCH, INSERTION, ROLL)
    return InstrumentBody(body, joints, tip_link)


def build_free_instrument(client: int, spec: InstrumentSpec, position, orientation) -> InstrumentBody:
    """Create the free multibody of ``spec`` with its distal frame at ``position`` [m] and ``orientation`` (x, y, z, w)
    in the PyBullet world ``client``."""
    parts = [((0.0, 0.0, -spec.shaft_length_m), (0.0, 0.0, 0.0), spec.shaft_radius_m)]
    parts += [(c.from_m, c.to_m, c.radius_m) for c in spec.tip]
    shape = _capsules_shape(client, parts)
    masses, shapes, frames = _jaw_links(client, spec) if spec.has_jaws else ([], [], [])
    count = len(masses)
    body = _multibody(client, base_mass=spec.mass_kg, base_shape=shape, position=position, orientation=orientation,
                      masses=masses, shapes=shapes, frames=frames, parents=[0] * count,
                      types=[pybullet.JOINT_REVOLUTE] * count, axes=[[1.0, 0.0, 0.0]] * count)
    return InstrumentBody(body, (FREE_JAW_A, FREE_JAW_B) if spec.has_jaws else (), FREE_BASE if spec.tip else None)
