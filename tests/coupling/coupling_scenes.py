"""Helpers of the coupling tests: commands, ramps, a scene wrapper around a coupler and its world."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from surgsim.coupling import Coupler
from surgsim.instruments import RigidWorld
from surgsim.trace import InstrumentCommand


def command(insertion_m: float, *, jaw: float = 0.0, yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0,
            energy: bool = False) -> InstrumentCommand:
    return InstrumentCommand(pivot_yaw_rad=yaw, pivot_pitch_rad=pitch, insertion_m=insertion_m, roll_rad=roll,
                             jaw=jaw, energy=energy)


def ramp(start: float, end: float, k: int, ticks: int) -> float:
    """Linear motion from ``start`` to ``end`` over ``ticks`` ticks; ``k`` is the tick index."""
    return start + (end - start) * min(1.0, (k + 1) / ticks)


class Tissue(NamedTuple):
    """A tissue solver and the control its scene's coupler will own (anchors, obstacles, live springs)."""

    solver: object
    control: object

    @classmethod
    def of(cls, model, **options) -> Tissue:
        from surgsim.tissue import TissueSolver

        solver = TissueSolver(model, **options)
        return cls(solver, solver.control())

    @property
    def model(self):
        return self.solver.model


class Scene:
    """A coupler with its world; ``run(ticks, name=lambda k: command)`` drives instruments tick by tick. The coupler
    steps ``solver`` with ``control`` (a new one when None)."""

    def __init__(self, solver, world: RigidWorld, control=None, **options):
        self.solver = solver
        self.world = world
        self.coupler = Coupler(solver, world, control, options=options)
        self.control = self.coupler.control
        self.events = []

    def run(self, ticks: int, **drivers) -> None:
        for k in range(ticks):
            self.coupler.step({name: driver(k) for name, driver in drivers.items()})
        self.events += self.coupler.drain_events()

    def kinds(self) -> list[str]:
        return [event.kind for event in self.events]

    def close(self) -> None:
        self.world.close()


def assert_identical_runs(first, second) -> None:
    """Two runs' (final state, instrument forces, events, burn levels) are bit-identical, and the run exercised
    contact, grasp, release and burn."""
    for name in ("positions", "velocities", "accelerations", "forces"):
        assert np.array_equal(getattr(first[0], name), getattr(second[0], name)), name
    assert np.array_equal(first[1], second[1])
    assert first[2] == second[2]
    assert np.array_equal(first[3], second[3])
    assert {"contact_start", "grasp", "release", "burn"} <= {event.kind for event in first[2]}


def surface_point_and_normal(model, node: int) -> tuple[np.ndarray, np.ndarray]:
    """A surface node's position and its outward normal (area-weighted over its surface triangles)."""
    p = model.positions
    tris = model.surface_triangles
    mine = tris[np.any(tris == node, axis=1)]
    normal = np.cross(p[mine[:, 1]] - p[mine[:, 0]], p[mine[:, 2]] - p[mine[:, 0]]).sum(axis=0)
    return p[node].copy(), normal / np.linalg.norm(normal)
