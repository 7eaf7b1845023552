"""The rigid world: one PyBullet client (DIRECT mode) holding the instruments and the static rigid anatomy.

Deterministic by construction: its own client (never PyBullet's global default), a fixed time step equal to the
physics tick, a fixed solver iteration count, deterministic overlapping-pair ordering, and instruments driven and read
in the order they were added. Two worlds given the same calls produce bit-identical states.

Static anatomy (bone, a trainer's box, the table) is made of primitive shapes whose geometry (``StaticBody.geometry``,
metres) the coupling also hands to the tissue (:mod:`surgsim.coupling.anatomy`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pybullet

from surgsim.errors import InputError
from surgsim.instruments.builder import quaternion_from_matrix
from surgsim.instruments.instrument import Instrument
from surgsim.instruments.specs import InstrumentSpec, load_spec
from surgsim.instruments.trocar import DEFAULT_MAX_ANGLE_RAD, Trocar

_IDENTITY = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


@dataclass(frozen=True)
class StaticBody:
    """A static rigid shape: ``kind`` (box, plane, sphere, capsule), its PyBullet body id and its geometry [m]."""

    name: str
    kind: str
    body_id: int
    geometry: dict


class RigidWorld:
    """One PyBullet world in DIRECT mode, stepped at ``dt`` [s] with ``gravity`` [m/s²]. Use as a context manager
    or call :meth:`close`."""

    def __init__(self, *, dt: float = 1e-3, gravity=(0.0, 0.0, -9.81), solver_iterations: int = 50):
        if not 0 < dt <= 0.1:
            raise InputError("rigid world", f"dt must lie in (0, 0.1] s, got {dt}.")
        self.dt = float(dt)
        self.client = pybullet.connect(pybullet.DIRECT)
        pybullet.setTimeStep(self.dt, physicsClientId=self.client)
        pybullet.setGravity(*gravity, physicsClientId=self.client)
        pybullet.setPhysicsEngineParameter(numSolverIterations=solver_iterations, deterministicOverlappingPairs=1,
                                           physicsClientId=self.client)
        self.instruments: dict[str, Instrument] = {}
        self.static_bodies: list[StaticBody] = []

    # -- lifetime --------------------------------------------------------------------------------------------------
    def close(self) -> None:
        if self.client is not None:
            pybullet.disconnect(physicsClientId=self.client)
            self.client = None

    def __enter__(self) -> "RigidWorld":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- instruments -----------------------------------------------------------------------------------------------
    def add_instrument(self, name: str, kind: str | InstrumentSpec, *, port_m, aim_m,
                       max_angle_rad: float = DEFAULT_MAX_ANGLE_RAD) -> Instrument:
        """An instrument called ``name`` of ``kind`` (or a spec) through a trocar at ``port_m`` facing ``aim_m`` [m].

        It starts with zero pivot angles, the tip at the pivot, no roll and open jaws.
        """
        if name in self.instruments:
            raise InputError("instrument", f"an instrument called '{name}' already exists.")
        spec = kind if isinstance(kind, InstrumentSpec) else load_spec(kind)
        trocar = Trocar(tuple(float(v) for v in port_m), tuple(float(v) for v in aim_m), max_angle_rad)
        instrument = Instrument(self.client, name, spec, trocar, dt=self.dt)
        self.instruments[name] = instrument
        return instrument

    # -- static anatomy --------------------------------------------------------------------------------------------
    def add_box(self, name: str, center_m, half_extents_m, *, rotation=_IDENTITY) -> StaticBody:
        """A solid box: centre [m], half extents [m] along its axes, ``rotation`` (3×3, columns = axes)."""
        shape = pybullet.createCollisionShape(pybullet.GEOM_BOX, halfExtents=list(half_extents_m),
                                              physicsClientId=self.client)
        return self._add(name, "box", shape, center_m, quaternion_from_matrix(np.asarray(rotation)),
                         center_m=tuple(center_m), half_extents_m=tuple(half_extents_m), rotation=tuple(map(tuple,
                                                                                                        rotation)))

    def add_plane(self, name: str, point_m, normal) -> StaticBody:
        """The half-space below the plane through ``point_m`` with ``normal`` (pointing into free space)."""
        n = np.asarray(normal, dtype=np.float64)
        n = n / np.linalg.norm(n)
        shape = pybullet.createCollisionShape(pybullet.GEOM_PLANE, planeNormal=list(n), physicsClientId=self.client)
        return self._add(name, "plane", shape, point_m, (0.0, 0.0, 0.0, 1.0), point_m=tuple(point_m),
                         normal=tuple(n))

    def add_sphere(self, name: str, center_m, radius_m: float) -> StaticBody:
        shape = pybullet.createCollisionShape(pybullet.GEOM_SPHERE, radius=radius_m, physicsClientId=self.client)
        return self._add(name, "sphere", shape, center_m, (0.0, 0.0, 0.0, 1.0), p0_m=tuple(center_m),
                         p1_m=tuple(center_m), radius_m=float(radius_m))

    def add_capsule(self, name: str, p0_m, p1_m, radius_m: float) -> StaticBody:
        p0, p1 = np.asarray(p0_m, dtype=np.float64), np.asarray(p1_m, dtype=np.float64)
        axis = p1 - p0
        length = float(np.linalg.norm(axis))
        if length == 0:
            return self.add_sphere(name, p0_m, radius_m)
        z = axis / length
        helper = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
        x = np.cross(helper, z)
        x /= np.linalg.norm(x)
        rotation = np.column_stack([x, np.cross(z, x), z])
        shape = pybullet.createCollisionShape(pybullet.GEOM_CAPSULE, radius=radius_m, height=length,
                                              physicsClientId=self.client)
        return self._add(name, "capsule", shape, (p0 + p1) / 2.0, quaternion_from_matrix(rotation),
                         p0_m=tuple(p0), p1_m=tuple(p1), radius_m=float(radius_m))

    def _add(self, name: str, kind: str, shape: int, position, orientation, **geometry) -> StaticBody:
        if any(body.name == name for body in self.static_bodies):
            raise InputError("rigid anatomy", f"a static body called '{name}' already exists.")
        body_id = pybullet.createMultiBody(baseMass=0.0, baseCollisionShapeIndex=shape,
                                           basePosition=[float(v) for v in position],
                                           baseOrientation=orientation, physicsClientId=self.client)
        body = StaticBody(name, kind, body_id, geometry)
        self.static_bodies.append(body)
        return body

    # -- stepping --------------------------------------------------------------------------------------------------
    def step(self) -> None:
        """One physics tick: motors of every instrument, forces already pushed, then PyBullet, then read back."""
        for instrument in self.instruments.values():
            instrument.drive()
        pybullet.stepSimulation(physicsClientId=self.client)
        for instrument in self.instruments.values():
            instrument.sync()
