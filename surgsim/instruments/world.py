"""The rigid world: one PyBullet client (DIRECT mode) holding the instruments and the static rigid anatomy.

Deterministic by construction: its own client (never PyBullet's global default), a fixed time step equal to the
physics tick, a fixed solver iteration count, deterministic overlapping-pair ordering, and instruments driven and read
in the order they were added. Two worlds given the same calls produce bit-identical states.

Instruments are laparoscopic (:meth:`RigidWorld.add_instrument`: through a trocar) or open-surgery tools moved freely
(:meth:`RigidWorld.add_free_instrument`). Instruments collide with each other and with the static anatomy, as real
ones clash, except two trocar instruments whose ports are closer than ``SHARED_PORT_M``: they enter through the same
port (or side by side in one incision), where their shafts overlap by construction and colliding would jam them.

Static anatomy (bone, a trainer's box, the table) is made of primitive shapes whose geometry (``StaticBody.geometry``,
metres) the coupling also hands to the tissue (:mod:`surgsim.coupling.anatomy`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pybullet

from surgsim.errors import InputError
from surgsim.instruments.builder import quaternion_from_matrix
from surgsim.instruments.free_instrument import FreeInstrument
from surgsim.instruments.instrument import Instrument
from surgsim.instruments.pose import aim_rotation
from surgsim.instruments.specs import InstrumentSpec, load_spec
from surgsim.instruments.tool import InstrumentBase
from surgsim.instruments.trocar import DEFAULT_MAX_ANGLE_RAD, Trocar

_IDENTITY = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
# Trocar instruments whose pivots are closer than this [m] share a port: they do not collide with each other.
SHARED_PORT_M = 0.01


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
        self.instruments: dict[str, InstrumentBase] = {}
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

        It starts with zero pivot angles, the tip at the pivot, no roll and open jaws. It does not collide with a
        trocar instrument whose port is closer than ``SHARED_PORT_M`` (the same port).
        """
        spec = self._new_instrument(name, kind)
        trocar = Trocar(tuple(float(v) for v in port_m), tuple(float(v) for v in aim_m), max_angle_rad)
        instrument = Instrument(self.client, name, spec, trocar, dt=self.dt)
        for other in self.instruments.values():
            if other.trocar is not None and np.linalg.norm(other.trocar.pivot - trocar.pivot) < SHARED_PORT_M:
                self._disable_collisions(instrument, other)
        self.instruments[name] = instrument
        return instrument

    def add_free_instrument(self, name: str, kind: str | InstrumentSpec, *, position_m, aim_m,
                            roll_rad: float = 0.0) -> FreeInstrument:
        """An open-surgery instrument called ``name`` of ``kind`` (or a spec), moved freely in 6 DOF: it starts with
        the distal end of its shaft at ``position_m`` [m], the shaft pointing toward ``aim_m`` [m], rolled
        ``roll_rad`` about it from the port-frame convention (:func:`~surgsim.instruments.pose.aim_rotation`), and
        open jaws."""
        spec = self._new_instrument(name, kind)
        values = [float(v) for v in (*position_m, *aim_m, roll_rad)]
        if len(values) != 7 or not all(np.isfinite(values)):
            raise InputError(f"instrument '{name}'", "position_m and aim_m must be finite points [x, y, z] and "
                                                     "roll_rad a finite angle.")
        if np.linalg.norm(np.subtract(values[3:6], values[0:3])) < 1e-6:
            raise InputError(f"instrument '{name}'", "aim_m must be at least 1 µm from position_m.")
        rotation = aim_rotation(values[0:3], values[3:6], roll_rad=values[6])
        instrument = FreeInstrument(self.client, name, spec, position_m=values[0:3], rotation=rotation, dt=self.dt)
        self.instruments[name] = instrument
        return instrument

    def _new_instrument(self, name: str, kind: str | InstrumentSpec) -> InstrumentSpec:
        if name in self.instruments:
            raise InputError("instrument", f"an instrument called '{name}' already exists.")
        return kind if isinstance(kind, InstrumentSpec) else load_spec(kind)

    def _disable_collisions(self, first: InstrumentBase, second: InstrumentBase) -> None:
        """No contact between any link of ``first`` and any link of ``second`` (base included)."""
        a, b = first.body.body_id, second.body.body_id
        links_a = range(-1, pybullet.getNumJoints(a, physicsClientId=self.client))
        links_b = range(-1, pybullet.getNumJoints(b, physicsClientId=self.client))
        for link_a in links_a:
            for link_b in links_b:
                pybullet.setCollisionFilterPair(a, b, link_a, link_b, 0, physicsClientId=self.client)

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
