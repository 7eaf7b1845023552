"""Fixtures of the coupling tests."""

from __future__ import annotations

import pytest
from coupling_scenes import Scene

from surgsim.instruments import RigidWorld


@pytest.fixture
def make_scene(taichi_cpu):
    """make_scene(solver, {name: (kind, port_m, aim_m)}, anatomy=callable(world), **coupling_options) -> Scene."""
    scenes = []

    def build(solver, instruments: dict, *, anatomy=None, **options) -> Scene:
        world = RigidWorld(dt=solver.options.dt)
        for name, (kind, port, aim) in instruments.items():
            world.add_instrument(name, kind, port_m=port, aim_m=aim)
        if anatomy is not None:
            anatomy(world)
        scene = Scene(solver, world, **options)
        scenes.append(scene)
        return scene

    yield build
    for scene in scenes:
        scene.close()
