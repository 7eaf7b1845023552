"""Region geometry used by the scene builder: embedded points, segment distances and the shapes instruments touch."""

from __future__ import annotations

import numpy as np
import pytest

from surgsim.mesh.primitives import tet_block
from surgsim.procedure.region_geometry import (
    AlignedBox,
    Ball,
    Embedding,
    SurfacePatch,
    Tube,
    capsule_contact,
    closest_points_of_segments,
    embed_point,
    segment_point_distances,
)


def _brute_segment_distance(p0, p1, q0, q1, count=2001):
    s = np.linspace(0, 1, count)[:, None]
    a, b = p0 + s * (p1 - p0), q0 + s * (q1 - q0)
    return min(segment_point_distances(q0, q1, a).min(), segment_point_distances(p0, p1, b).min())


def test_closest_points_of_segments_match_brute_force():
    rng = np.random.default_rng(3)
    cases = [rng.normal(size=(4, 3)) for _ in range(40)]
    cases.append(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], float))  # parallel
    cases.append(np.array([[0, 0, 0], [0, 0, 0], [0, 1, 0], [1, 1, 0]], float))  # a point and a segment
    for p0, p1, q0, q1 in cases:
        on_first, on_second = closest_points_of_segments(p0, p1, q0, q1)
        assert segment_point_distances(p0, p1, on_first[None])[0] == pytest.approx(0.0, abs=1e-12)
        assert segment_point_distances(q0, q1, on_second[None])[0] == pytest.approx(0.0, abs=1e-12)
        assert np.linalg.norm(on_first - on_second) == pytest.approx(_brute_segment_distance(p0, p1, q0, q1), abs=2e-3)


def test_embedding_inside_a_tet_beside_a_node_or_fixed():
    block = tet_block((0.01, 0.01, 0.01), (1, 1, 1))
    nodes = np.arange(block.node_count)
    inside = embed_point([0.002, 0.005, 0.007], block.positions, block.tets, nodes)
    assert len(inside.nodes) == 4 and inside.weights.min() >= 0 and inside.weights.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(inside.position(block.positions), [0.002, 0.005, 0.007], atol=1e-15)
    stretched = block.positions * [2.0, 1.0, 1.0]
    np.testing.assert_allclose(inside.position(stretched), [0.004, 0.005, 0.007], atol=1e-15)

    beside = embed_point([0.013, 0.0, 0.0], block.positions, block.tets, nodes, max_node_distance_m=0.005)
    assert beside.nodes.tolist() == [1]  # the corner at (10, 0, 0) mm, 3 mm away
    np.testing.assert_allclose(beside.position(block.positions + 0.001), [0.014, 0.001, 0.001], atol=1e-15)

    alone = embed_point([0.03, 0.0, 0.0], block.positions, block.tets, nodes, max_node_distance_m=0.005)
    assert len(alone.nodes) == 0
    np.testing.assert_allclose(alone.position(block.positions + 1.0), [0.03, 0.0, 0.0])
    np.testing.assert_allclose(Embedding.fixed([1, 2, 3]).position(block.positions), [1, 2, 3])


def test_surface_patch_finds_points_between_distant_nodes():
    # One 20 mm cube: its nodes are 20 mm apart, so a 2 mm capsule over the middle of a face is far from every node.
    cube = tet_block((0.02, 0.02, 0.02), (1, 1, 1))
    patch = SurfacePatch(cube.surface_triangles, rest_vertices_m=cube.positions, vertex_nodes=np.arange(8))
    surface = patch.placed(cube.positions)
    over_face = [np.array([0.0, 0.01, 0.0225]), np.array([0.02, 0.01, 0.0225])]
    touched = capsule_contact(surface, [(*over_face, 0.002)], 0.001)
    assert touched is not None and touched[2] == pytest.approx(0.02) and 0.0 <= touched[0] <= 0.02
    assert capsule_contact(surface, [(over_face[0] + [0, 0, 0.0011], over_face[1] + [0, 0, 0.0011], 0.002)],
                           0.001) is None
    # The patch follows the nodes.
    raised = patch.placed(cube.positions + [0.0, 0.0, 0.03])
    assert capsule_contact(raised, [(*over_face, 0.002)], 0.001) is None
    fixed = SurfacePatch(cube.surface_triangles, rest_vertices_m=cube.positions)
    assert capsule_contact(fixed.placed(cube.positions + 1.0), [(*over_face, 0.002)], 0.001) is not None


def test_volume_shapes_report_their_nearest_point():
    origin = np.zeros(3)
    ball = Ball(origin, 0.002)
    np.testing.assert_allclose(ball.nearest_within(np.array([0.005, -1, 0]), np.array([0.005, 1, 0]), 0.0031),
                               [0.002, 0, 0], atol=1e-12)
    assert ball.nearest_within(np.array([0.005, -1, 0]), np.array([0.005, 1, 0]), 0.0029) is None
    tube = Tube(np.array([0.0, 0.0, 0.0]), np.array([0.01, 0.0, 0.0]), 0.001)
    np.testing.assert_allclose(tube.nearest_within(np.array([0.005, 0.0, 0.003]), np.array([0.005, 0.0, 0.01]), 0.002),
                               [0.005, 0.0, 0.001], atol=1e-12)
    box = AlignedBox(origin, np.array([0.01, 0.01, 0.001]))
    near = box.nearest_within(np.array([-0.02, 0.0, 0.002]), np.array([0.02, 0.0, 0.002]), 0.0011)
    assert near is not None and near[2] == pytest.approx(0.001)
    assert box.nearest_within(np.array([-0.02, 0.0, 0.003]), np.array([0.02, 0.0, 0.003]), 0.0019) is None


def _contacts_agree(shape_at, capsules_at, ticks: int) -> int:
    """Tick a shape and a tool's capsules; the answer with the clearance memory must equal the exact one every tick.
    Returns the ticks in contact."""
    memory, contacts = {}, 0
    for tick in range(ticks):
        shape, capsules = shape_at(tick), capsules_at(tick)
        exact = capsule_contact(shape, capsules, 0.001)
        remembered = capsule_contact(shape, capsules, 0.001, memory)
        assert (exact is None) == (remembered is None), tick
        if exact is not None:
            contacts += 1
            np.testing.assert_array_equal(exact, remembered)
    return contacts


def _to_and_fro(start: np.ndarray, reach_m: float, period: int, rng, wobble_m: float):
    """A tip that goes from ``reach_m`` above ``start`` down to it and back every ``period`` ticks."""
    def tip(tick: int) -> np.ndarray:
        phase = abs((tick % period) - period / 2) / (period / 2)
        return start + np.array([0.0, 0.0, reach_m * phase]) + rng.normal(0, wobble_m, 3)
    return tip


def test_remembered_clearance_of_fixed_anatomy_gives_the_exact_answer_on_every_tick(monkeypatch):
    """A tool wandering toward, into and away from rigid anatomy: the contact answer with the clearance memory equals
    the exact test on every tick, and the memory skips most exact tests while the tool is far."""
    block = tet_block((0.04, 0.03, 0.02), (4, 3, 2), tissue="liver")
    fixed = SurfacePatch(block.surface_triangles, rest_vertices_m=block.positions)
    shape = fixed.placed(block.positions)
    assert shape.fixed and shape is fixed.placed(block.positions + 1.0)
    assert len(shape.motion_points()) == 0
    calls = []
    measure = type(shape).clearance
    monkeypatch.setattr(type(shape), "clearance", lambda self, p0, p1: calls.append(1) or measure(self, p0, p1))
    tip = _to_and_fro(block.positions.mean(axis=0) + [0.0, 0.0, 0.005], 0.1, 300, np.random.default_rng(7), 0.0003)

    def capsules(tick):
        t = tip(tick)
        return [(t, t + [0.0, 0.0, 0.2], 0.0025), (t, t + [0.004, 0.0, 0.0], 0.001)]

    assert _contacts_agree(lambda tick: shape, capsules, 600) > 50
    assert len(calls) < 0.6 * 2 * 600  # far ticks reuse the remembered clearance


def test_remembered_clearance_of_a_moving_vessel_gives_the_exact_answer_on_every_tick():
    """A marked vessel (a tube whose ends ride on the tissue) swaying while a tool approaches and leaves it."""
    def vessel(tick):
        sway = 0.004 * np.sin(tick / 40.0)
        return Tube(np.array([0.0, sway, 0.0]), np.array([0.03, sway, 0.002]), 0.0025)

    tip = _to_and_fro(np.array([0.015, 0.0, 0.003]), 0.05, 400, np.random.default_rng(3), 0.0002)

    def capsules(tick):
        t = tip(tick)
        return [(t, t + [0.0, 0.0, 0.2], 0.0025)]

    assert _contacts_agree(vessel, capsules, 800) > 20
