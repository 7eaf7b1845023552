"""Cautery: a hook with energy on, touching tissue, burns it, and after a dwell divides it."""

from __future__ import annotations

import numpy as np
import pytest
from coupling_scenes import Tissue, command, ramp

from surgsim.mesh.primitives import tet_block

PORT = (0.0, 0.0, 0.12)
DWELL_S = 0.2


@pytest.fixture
def block(taichi_cpu):
    model = tet_block((0.03, 0.03, 0.01), (12, 12, 4), origin_m=(-0.015, -0.015, -0.01))
    tissue = Tissue.of(model)
    tissue.control.anchor(box=((-1, -1, -0.0101), (1, 1, -0.0099)))
    return tissue


def press_hook(make_scene, tissue, *, energy: bool, seconds: float):
    """The hook comes down onto the block's top (its bent end lying flat on it) and presses 1 mm."""
    scene = make_scene(tissue, {"hook": ("hook_cautery", PORT, (0.0, 0.0, 0.0))}, burn_dwell_s=DWELL_S)
    reach = PORT[2] - scene.world.instruments["hook"].spec.tip[-1].radius_m + 0.001
    scene.run(400, hook=lambda k: command(ramp(0.05, reach, k, 300)))
    scene.run(int(seconds * 1000), hook=lambda k: command(reach, energy=energy))
    scene.run(100, hook=lambda k: command(reach))  # energy off
    return scene


def test_energy_on_in_contact_burns_then_divides_the_tissue(make_scene, block):
    scene = press_hook(make_scene, block, energy=True, seconds=2 * DWELL_S)
    burns = [e for e in scene.events if e.kind == "burn"]
    assert len(burns) == 1  # one continuous burn
    burn = burns[0]
    assert burn.instrument == "hook" and burn.region == "generic" and burn.force_n > 0
    assert np.linalg.norm(np.array(burn.position_m) - scene.world.instruments["hook"].tip_position()) < 0.006
    levels = scene.coupler.burn_levels()
    charred = levels >= 1.0
    assert charred.sum() >= 2
    far = np.linalg.norm(block.model.positions - burn.position_m, axis=1) > 0.01
    assert np.all(levels[far] == 0.0)
    springs = block.model.springs
    between_charred = charred[springs[:, 0]] & charred[springs[:, 1]]
    assert between_charred.any() and not scene.coupler.topology.spring_active[between_charred].any()
    cuts = [e for e in scene.events if e.kind == "cut"]
    assert len(cuts) == 1 and cuts[0].instrument == "hook" and cuts[0].detail["by"] == "cautery"
    assert cuts[0].detail["springs"] == between_charred.sum()
    assert scene.events.index(burn) < scene.events.index(cuts[0])


def test_no_energy_no_burn(make_scene, block):
    scene = press_hook(make_scene, block, energy=False, seconds=2 * DWELL_S)
    assert "burn" not in scene.kinds() and "cut" not in scene.kinds()
    assert scene.coupler.burn_levels().max() == 0.0
    assert "contact_start" in scene.kinds()


def test_a_short_burn_marks_but_does_not_divide(make_scene, block):
    scene = press_hook(make_scene, block, energy=True, seconds=0.5 * DWELL_S)
    assert scene.kinds().count("burn") == 1 and "cut" not in scene.kinds()
    levels = scene.coupler.burn_levels()
    assert 0.3 < levels.max() < 1.0
