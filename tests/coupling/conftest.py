"""Fixtures of the coupling tests."""

from __future__ import annotations

import pytest
from coupling_scenes import Scene, Tissue

from surgsim.instruments import RigidWorld


def _scene_factory(add_instrument):
    """A scene builder for the fixtures below, and the scenes it made (closed at teardown)."""
    scenes = []

    def build(tissue, instruments: dict, *, anatomy=None, **options) -> Scene:
        solver, control = tissue if isinstance(tissue, Tissue) else (tissue, None)
        world = RigidWorld(dt=solver.options.dt)
        for name, (kind, a, b) in instruments.items():
            add_instrument(world, name, kind, a, b)
        if anatomy is not None:
            anatomy(world)
        scene = Scene(solver, world, control, **options)
        scenes.append(scene)
        return scene

    return build, scenes


@pytest.fixture
def make_scene(taichi_cpu):
    """make_scene(tissue, {name: (kind, port_m, aim_m)}, anatomy=callable(world), **coupling_options) -> Scene;
    ``tissue``: a :class:`Tissue` (its control becomes the coupler's) or a bare solver (a new control)."""
    build, scenes = _scene_factory(lambda world, name, kind, port, aim: world.add_instrument(
        name, kind, port_m=port, aim_m=aim))
    yield build
    for scene in scenes:
        scene.close()


@pytest.fixture
def make_free_scene(taichi_cpu):
    """make_free_scene(tissue, {name: (kind, position_m, aim_m)}, **coupling_options) -> Scene, with open-surgery
    (free 6-DOF) instruments."""
    build, scenes = _scene_factory(lambda world, name, kind, position, aim: world.add_free_instrument(
        name, kind, position_m=position, aim_m=aim))
    yield build
    for scene in scenes:
        scene.close()
