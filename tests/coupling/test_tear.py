"""Tearing: springs stretched beyond their region's tear strain break, and only those.

The block is stretched uniformly (every node held and moved to x(1 + ε)), so each spring's strain is known in closed
form: for a rest edge (dx, dy, dz) of length L it is sqrt(((1 + ε) dx)² + dy² + dz²) / L − 1. (Held at its two ends
only, a spring network concentrates strain next to the clamps, ~1.9× the mean on these blocks, which would blur the
threshold.) The nodes are held after the coupler is built: anchors present when it is built are the scene's
(ligaments, cut faces), and the springs holding them never tear.
"""

from __future__ import annotations

import numpy as np
import pytest
from coupling_scenes import Tissue, ramp

from surgsim.mesh.materials import Material, material
from surgsim.mesh.primitives import tet_block


def stretch(make_scene, strain: float, tissue):
    """A 4 × 1 × 0.5 cm block stretched uniformly along x to ``strain`` in 0.2 s, then held 0.1 s."""
    model = tet_block((0.04, 0.01, 0.005), (16, 4, 2), tissue=tissue)
    scene = make_scene(Tissue.of(model, gravity=(0.0, 0.0, 0.0)), {})
    nodes = scene.control.anchor(np.arange(model.node_count))
    for k in range(300):
        scene.control.set_anchor_targets(nodes, model.positions * [1.0 + ramp(0.0, strain, k, 200), 1.0, 1.0])
        scene.coupler.step()
    scene.events += scene.coupler.drain_events()
    return scene, model


def spring_strain(model, strain: float) -> np.ndarray:
    edge = model.positions[model.springs[:, 1]] - model.positions[model.springs[:, 0]]
    return np.linalg.norm(edge * [1.0 + strain, 1.0, 1.0], axis=1) / model.rest_lengths - 1.0


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_springs_tear_above_the_tear_strain_and_not_below(make_scene, factor):
    tear_strain = material("generic").tear_strain
    scene, model = stretch(make_scene, factor * tear_strain, "generic")
    broken = ~scene.coupler.topology.spring_active
    expected = spring_strain(model, factor * tear_strain) > tear_strain
    np.testing.assert_array_equal(broken, expected)
    tears = [e for e in scene.events if e.kind == "tear"]
    assert sum(e.detail["springs"] for e in tears) == scene.coupler.torn_springs == expected.sum()
    assert bool(tears) == (factor > 1.0)
    assert all(e.region == "generic" and e.instrument is None for e in tears)


def test_the_tear_strain_is_the_regions(make_scene):
    """The same stretch tears a weak tissue and not a strong one."""
    for tear_strain, tears in ((0.2, True), (0.8, False)):
        tissue = Material("tested", 1000.0, 10e3, 0.45, 0.3, tear_strain)
        scene, _ = stretch(make_scene, 0.4, tissue)
        assert ("tear" in scene.kinds()) == tears


def test_springs_holding_scene_anchors_do_not_tear(make_scene):
    """The same stretch with the nodes anchored before the coupler is built (scene anchors): nothing tears, and the
    contact pass's tear strain of every spring is +inf."""
    model = tet_block((0.04, 0.01, 0.005), (16, 4, 2), tissue="generic")
    tissue = Tissue.of(model, gravity=(0.0, 0.0, 0.0))
    nodes = tissue.control.anchor(np.arange(model.node_count))
    scene = make_scene(tissue, {})
    assert np.all(np.isinf(scene.coupler.contact.tear_strain))
    for k in range(300):
        tissue.control.set_anchor_targets(nodes, model.positions * [1.0 + ramp(0.0, 0.6, k, 200), 1.0, 1.0])
        scene.coupler.step()
    scene.events += scene.coupler.drain_events()
    assert "tear" not in scene.kinds() and scene.coupler.torn_springs == 0


def test_only_springs_touching_scene_anchors_are_exempt(make_scene):
    model = tet_block((0.04, 0.01, 0.005), (16, 4, 2), tissue="generic")
    tissue = Tissue.of(model)
    held = tissue.control.anchor(box=((-1, -1, -1), (0.0051, 1, 1)))
    scene = make_scene(tissue, {})
    touching = np.isin(model.springs, held).any(axis=1)
    tear_strain = scene.coupler.contact.tear_strain
    assert np.all(np.isinf(tear_strain[touching]))
    np.testing.assert_array_equal(tear_strain[~touching], model.spring_material("tear_strain")[~touching])
