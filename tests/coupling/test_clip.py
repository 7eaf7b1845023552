"""A placed clip squeezes the duct shut, keeps holding it after the applier leaves, rides with the tissue, and cannot be
cut or torn through."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from coupling_scenes import Tissue, command, ramp

from surgsim.coupling.clipping import RigidFit, rigid_fit
from surgsim.mesh.materials import material
from surgsim.mesh.primitives import tet_block

CLIP_HALF_GAP_M = 5e-4  # tighter than the default, so that the squeeze shows on this fine mesh


@pytest.fixture
def clipped_duct(make_scene, taichi_cpu):
    """A 30 × 6 × 4 mm duct held at both ends, a clip applier come along +y across it, its jaws closed on it."""
    # The applier's jaws, slid on across the duct, push it ~8 mm sideways between its held ends: a stretch over the
    # generic tissue's failure strain near the ends (the clip is what is tested here, so the duct does not tear).
    tough = dataclasses.replace(material("generic"), name="duct", tear_strain=1.5)
    model = tet_block((0.03, 0.006, 0.004), (12, 3, 2), origin_m=(-0.015, -0.003, 0.0), region_name="duct",
                      tissue=tough)
    tissue = Tissue.of(model, gravity=(0.0, 0.0, 0.0))
    ends = np.flatnonzero(np.abs(model.positions[:, 0]) > 0.0145)
    tissue.control.anchor(ends)
    scene = make_scene(tissue, {"clips": ("clip_applier", (0.00125, -0.15, 0.002), (0.00125, 0.0, 0.002))},
                       clip_half_gap_m=CLIP_HALF_GAP_M)
    insertion = 0.15 + 0.006 + scene.world.instruments["clips"].spec.tip_length_m - 0.002
    scene.run(500, clips=lambda k: command(ramp(0.1, insertion, k, 400)))
    scene.run(200, clips=lambda k: command(insertion, jaw=ramp(0.0, 1.0, k, 100)))
    scene.insertion = insertion
    scene.ends = ends
    return scene


def _clip_local(scene, clip) -> np.ndarray:
    return (scene.coupler.positions()[clip.nodes] - clip.origin) @ clip.rotation


def test_a_clip_squeezes_the_duct_and_holds_it_after_the_applier_leaves(clipped_duct):
    scene = clipped_duct
    (clip,) = scene.coupler.clipping.clips
    assert len(clip.nodes) >= 4
    spread_before = np.ptp(clip.open_local[:, 1])
    assert spread_before > 2 * CLIP_HALF_GAP_M + 5e-4  # the jaws closed on more than a clip's gap of tissue
    assert np.abs(_clip_local(scene, clip)[:, 1]).max() <= CLIP_HALF_GAP_M + 1e-4
    # The applier opens and withdraws: the clip stays, and so does the squeeze.
    scene.run(150, clips=lambda k: command(scene.insertion, jaw=ramp(1.0, 0.0, k, 100)))
    scene.run(400, clips=lambda k: command(ramp(scene.insertion, 0.1, k, 300)))
    assert np.all(scene.control.anchored[clip.nodes])
    assert np.abs(_clip_local(scene, clip)[:, 1]).max() <= CLIP_HALF_GAP_M + 1e-4
    kinds = set(scene.kinds())
    assert "clip" in kinds and not kinds & {"tear", "blowup"}


def test_a_clip_rides_with_the_tissue(clipped_duct):
    scene = clipped_duct
    (clip,) = scene.coupler.clipping.clips
    scene.run(150, clips=lambda k: command(scene.insertion, jaw=ramp(1.0, 0.0, k, 100)))
    scene.run(300, clips=lambda k: command(ramp(scene.insertion, 0.1, k, 300)))
    origin_before = clip.origin.copy()
    clipped_before = scene.coupler.positions()[clip.nodes]
    # Lift the whole duct 5 mm by its held ends: the clip and what it holds follow.
    rest = scene.solver.model.positions[scene.ends]
    lift = np.array([0.0, 0.0, 0.005])
    for k in range(300):
        scene.control.set_anchor_targets(scene.ends, rest + lift * min(1.0, (k + 1) / 200))
        scene.coupler.step({})
    scene.run(300)
    np.testing.assert_allclose(clip.origin - origin_before, lift, atol=5e-4)
    np.testing.assert_allclose(scene.coupler.positions()[clip.nodes] - clipped_before, np.tile(lift, (len(clip.nodes), 1)),
                               atol=5e-4)
    assert not set(scene.kinds()) & {"tear", "blowup"}


def test_springs_inside_a_clip_cannot_be_removed_but_their_neighbours_can(clipped_duct):
    scene = clipped_duct
    (clip,) = scene.coupler.clipping.clips
    springs = scene.solver.model.springs
    inside = np.isin(springs, clip.nodes)
    held = np.flatnonzero(inside.all(axis=1))
    beside = np.flatnonzero(inside.any(axis=1) & ~inside.all(axis=1))
    assert len(held) and len(beside)
    topology = scene.coupler.topology
    assert len(topology.request_removal(held)) == 0
    assert len(topology.request_removal(beside[:1])) == 1


def test_rigid_fit_recovers_a_rotation_and_translation():
    rng = np.random.default_rng(3)
    points = rng.normal(size=(8, 3))
    angle = 0.7
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]])
    moved = points @ rotation.T + np.array([0.1, -0.2, 0.3])
    fitted, translation = rigid_fit(points, moved)
    np.testing.assert_allclose(fitted, rotation, atol=1e-12)
    np.testing.assert_allclose(translation, [0.1, -0.2, 0.3], atol=1e-12)
    identity, shift = rigid_fit(points[:2], points[:2] + 1.0)
    np.testing.assert_allclose(identity, np.eye(3))
    np.testing.assert_allclose(shift, [1.0, 1.0, 1.0])



def _horn_rotation(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """The best proper rotation by another method (Horn 1987, unit quaternions): the eigenvector of the largest
    eigenvalue of the symmetric 4 x 4 matrix built from the cross-covariance."""
    a, b = reference - reference.mean(axis=0), current - current.mean(axis=0)
    (sxx, sxy, sxz), (syx, syy, syz), (szx, szy, szz) = a.T @ b
    n = np.array([[sxx + syy + szz, syz - szy, szx - sxz, sxy - syx],
                  [syz - szy, sxx - syy - szz, sxy + syx, szx + sxz],
                  [szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy],
                  [sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz]])
    w, x, y, z = np.linalg.eigh(n)[1][:, -1]
    return np.array([[w * w + x * x - y * y - z * z, 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), w * w - x * x + y * y - z * z, 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), w * w - x * x - y * y + z * z]])


def test_rigid_fit_of_a_mirrored_set_is_the_best_proper_rotation():
    """A mirror image has no rotation onto it: the fit is the best proper rotation (det +1), as Horn's quaternion
    method finds it, and a reused fit gives the same answer bit for bit."""
    rng = np.random.default_rng(5)
    for thickness in (0.2, 1.0):
        points = rng.normal(size=(12, 3)) * np.array([1.0, 1.0, thickness])
        mirrored = points * np.array([1.0, 1.0, -1.0]) + np.array([0.3, 0.0, -0.1])
        fit = RigidFit(points)
        rotation, translation = fit(mirrored)
        assert np.linalg.det(rotation) == pytest.approx(1.0, abs=1e-12)
        np.testing.assert_allclose(rotation, _horn_rotation(points, mirrored), atol=1e-9)
        np.testing.assert_allclose(translation, mirrored.mean(axis=0) - rotation @ points.mean(axis=0), atol=1e-12)
        again, _ = fit(mirrored)
        assert np.array_equal(again, rotation)


def test_a_second_clip_beside_the_first_is_placed_and_drawn_where_it_closed(clipped_duct):
    scene = clipped_duct
    scene.run(150, clips=lambda k: command(scene.insertion, jaw=ramp(1.0, 0.0, k, 100)))
    scene.run(200, clips=lambda k: command(scene.insertion, jaw=ramp(0.0, 1.0, k, 100)))
    first, second = scene.coupler.clipping.clips
    assert [e.kind for e in scene.events].count("clip") == 2
    assert not np.isin(second.nodes, first.nodes).any()  # a node belongs to one clip
    for clip in (first, second):
        start, end, radius = clip.capsule()
        assert np.linalg.norm(end - start) == pytest.approx(scene.world.instruments["clips"].spec.jaw_length_m)
        # The clip's axis passes by the tissue it closed on.
        along = np.clip((np.asarray(clip.position_m) - start) @ (end - start) / np.sum((end - start) ** 2), 0, 1)
        assert np.linalg.norm(start + along * (end - start) - np.asarray(clip.position_m)) < 3e-3
