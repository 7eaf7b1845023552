"""The tool-contact pass: Taichi kernel against its numpy twin, Newton's third law, and the contact itself."""

from __future__ import annotations

import numpy as np
import pytest
from coupling_scenes import Tissue
from tool_contact_twin import buffers_numpy, post_step

from surgsim.mesh.primitives import tet_block
from surgsim.tissue.contact_layout import FLAG_CUT0, IO_WIDTH
from surgsim.tissue.tool_contact import ToolContact, capsule_row

DT = 1e-3


@pytest.fixture
def block(taichi_cpu) -> Tissue:
    """A 4 × 4 × 1 cm generic-tissue block (2.5 mm cubes) on its bottom face."""
    model = tet_block((0.04, 0.04, 0.01), (16, 16, 4), origin_m=(-0.02, -0.02, -0.01))
    tissue = Tissue.of(model)
    tissue.control.anchor(box=((-1, -1, -0.0101), (1, 1, -0.0099)))
    return tissue


def pressing_capsules(depth: float, *, drift_m: float = 0.0, energized: bool = False) -> np.ndarray:
    """A vertical probe pressing ``depth`` into the top face (z = 0), sliding along x, and a tilted one beside it."""
    radius = 0.0025
    tip = np.array([drift_m, 0.0, radius - depth])
    before = np.array([drift_m - 1e-5, 0.0, radius - depth + 1e-5])
    side = np.array([0.008, 0.006, 0.0014])
    return np.stack([
        capsule_row(tip + [0, 0, 0.05], tip, radius, before=(before + [0, 0, 0.05], before), friction=0.3),
        capsule_row(side + [0.03, 0.0, 0.03], side, 0.0015, friction=0.5, energized=energized),
    ])


def run_ticks(solver, control, contact, ticks: int, capsules_at, **kwargs):
    s0, s1 = solver.state(), solver.state()
    for k in range(ticks):
        solver.step(s0, s1, control, DT)
        report = contact.run(s0, s1, capsules_at(k), DT, **kwargs)
        s0, s1 = s1, s0
    return s0, s1, report


@pytest.mark.parametrize("tear_length_m", [0.0, 0.005])
def test_kernel_agrees_with_the_numpy_twin(block, tear_length_m):
    solver, control = block
    contact = ToolContact(solver, control, 2, burn_dwell_s=0.05, tear_checks=1, tear_length_m=tear_length_m)
    # A failure stretch that the sag under gravity exceeds, so that the tear test flags tets away from the tools too.
    contact._floats.write(failure_stretch=np.full(solver.model.tet_count, 1.001))
    offset = np.abs(solver.model.positions - [0.015, -0.015, 0.0])
    grasped = np.flatnonzero(np.all(offset < 0.003, axis=1))
    around = np.setdiff1d(np.flatnonzero(np.all(offset < 0.006, axis=1)), grasped)  # held softly, as a grasp does
    control.anchor(grasped)
    control.attach(around, solver.model.positions[around], 40.0)
    contact.set_grasps([np.concatenate([grasped, around])])
    s0, s1, _ = run_ticks(solver, control, contact, 60,
                          lambda k: pressing_capsules(min(0.004, 1e-4 * k), drift_m=1e-5 * k, energized=True))
    held = np.concatenate([grasped, around])
    control.set_anchor_targets(held, solver.model.positions[held] + [0.0, 0.0, 0.003])
    cutter = np.array([[-0.006, -0.03, 0.01, -0.006, 0.03, 0.01, -0.006, 0.0, -0.03]])
    solver.step(s0, s1, control, DT)
    capsules = pressing_capsules(0.0041, drift_m=6.1e-4, energized=True)
    before = [getattr(state, name).to_numpy() for state in (s0, s1)
              for name in ("positions", "velocities", "accelerations", "forces")]
    sections = buffers_numpy(contact)

    report = contact.run(s0, s1, capsules, DT, cutters=cutter)

    x_in, v_in = before[0], before[1]
    x_out, v_out, a_out, f_out = (before[4 + k].copy() for k in range(4))
    io = contact._io.copy()
    io[contact._output_row:] = 0.0
    post_step(x_in, v_in, x_out, v_out, a_out, f_out, solver.anchor_table(control).to_numpy(), io, sections)
    assert report.node_count[0] > 0 and report.energized_nodes[1] > 0 and report.cut > 0 and report.torn > 0
    for mine, theirs in ((x_out, s1.positions), (v_out, s1.velocities), (a_out, s1.accelerations),
                         (f_out, s1.forces)):
        np.testing.assert_allclose(mine, theirs.to_numpy(), rtol=0, atol=1e-9 * max(1.0, np.abs(mine).max()))
    np.testing.assert_allclose(io[contact._output_row:], report.outputs, rtol=1e-9, atol=1e-12)
    after = buffers_numpy(contact)
    for name in ("capsule", "flags", "overstrained", "tet_flags", "tri_mask"):
        np.testing.assert_array_equal(sections[name], after[name], err_msg=name)
    for name in ("burn", "normal", "param"):
        np.testing.assert_allclose(sections[name], after[name], rtol=0, atol=1e-9, err_msg=name)


def test_newtons_third_law_at_contact(block):
    """The force the tissue receives, from its own states, equals minus the reaction on the capsules (1e-6 rel.)."""
    solver, control = block
    contact = ToolContact(solver, control, 2)
    s0, s1, _ = run_ticks(solver, control, contact, 40,
                          lambda k: pressing_capsules(min(0.003, 1e-4 * k), drift_m=1e-5 * k))
    masses = solver.layout.masses[:, None]
    for k in range(5):
        applied = s0.forces.to_numpy()  # carried from the last tick, acts during this step
        solver.step(s0, s1, control, DT)
        after_step = s1.positions.to_numpy()
        report = contact.run(s0, s1, pressing_capsules(0.003, drift_m=4e-4 + 1e-5 * k), DT)
        correction = s1.positions.to_numpy() - after_step
        on_tissue = (applied + masses * correction / DT**2)
        on_tissue[control.anchored] = 0.0  # the solver holds anchored nodes; forces there do not act
        tissue_total = on_tissue.sum(axis=0)
        tool_total = report.reaction.sum(axis=0)
        assert np.linalg.norm(tissue_total) > 0.05
        np.testing.assert_allclose(tissue_total, -tool_total, rtol=0, atol=1e-6 * np.linalg.norm(tool_total))
        s0, s1 = s1, s0


def test_tissue_is_kept_out_of_the_capsules(block):
    """After a probe pushed 4 mm into the block, no node (surface or interior) is inside it."""
    solver, control = block
    contact = ToolContact(solver, control, 2, skin_m=0.0)
    s0, _, report = run_ticks(solver, control, contact, 200, lambda k: pressing_capsules(min(0.004, 4e-5 * k)))
    x = s0.positions.to_numpy()
    probe = pressing_capsules(0.004)[0]
    p0, p1, radius = probe[0:3], probe[3:6], probe[6]
    axis = (p1 - p0) / np.linalg.norm(p1 - p0)
    along = np.clip((x - p0) @ axis, 0.0, np.linalg.norm(p1 - p0))
    distance = np.linalg.norm(x - (p0 + along[:, None] * axis), axis=1)
    assert distance.min() > radius - 1e-6
    assert report.reaction[0, 2] > 0.0  # the tissue pushes the probe up


def test_cutter_flags_only_the_springs_it_crosses(block):
    solver, control = block
    contact = ToolContact(solver, control, 2)
    cutter = np.array([[0.001, -0.1, 0.05, 0.001, 0.1, 0.05, 0.001, 0.0, -0.2]])  # covers the block at x = 1 mm
    s0, s1 = solver.state(), solver.state()
    solver.step(s0, s1, control, DT)
    report = contact.run(s0, s1, pressing_capsules(0.0), DT, cutters=cutter)
    x = solver.model.positions
    ends = x[solver.model.springs]
    crossing = (ends[:, 0, 0] - 0.001) * (ends[:, 1, 0] - 0.001) < 0
    np.testing.assert_array_equal(contact.spring_flags() == FLAG_CUT0, crossing)
    assert report.cut == crossing.sum()


def principal_stretch(rest: np.ndarray, now: np.ndarray, tets: np.ndarray) -> np.ndarray:
    """λ₁ of each tet from its deformation gradient's singular values (independent of the kernel's closed form)."""
    d0 = np.stack([rest[tets[:, k]] - rest[tets[:, 0]] for k in (1, 2, 3)], axis=2)
    d = np.stack([now[tets[:, k]] - now[tets[:, 0]] for k in (1, 2, 3)], axis=2)
    return np.linalg.svd(d @ np.linalg.inv(d0), compute_uv=False)[:, 0]


@pytest.mark.parametrize("inward", [False, True])
def test_tets_tear_above_their_failure_stretch(block, inward):
    """A corner node pulled far out, or pushed as far in through its tets (folding them): the tets flagged torn are
    exactly those whose maximum principal stretch exceeds the failure stretch. A fold is no exemption (issue 12)."""
    solver, control = block
    contact = ToolContact(solver, control, 0, tear_checks=1)
    model = solver.model
    corner = int(np.argmax(model.positions @ [1.0, 1.0, 1.0]))  # the top corner (+x, +y, +z)
    moved = model.positions.copy()
    moved[corner] += (-1.0 if inward else 1.0) * 0.006
    s0, s1 = solver.state(), solver.state()
    s1.set_positions(moved)
    report = contact.run(s0, s1, np.zeros((0, IO_WIDTH)), DT)
    over = principal_stretch(model.positions, moved, model.tets) > contact.failure_stretch
    assert over.sum() >= 1 and report.torn == over.sum()
    np.testing.assert_array_equal(contact.torn_tets(), np.flatnonzero(over))


def averaged_stretch(rest, now, tets, length_m):
    """λ₁ of C = FᵀF averaged by rest volume over the tets whose rest centroids lie within ``length_m`` of each tet's
    (brute force over all pairs; one body)."""
    d0 = np.stack([rest[tets[:, k]] - rest[tets[:, 0]] for k in (1, 2, 3)], axis=2)
    d = np.stack([now[tets[:, k]] - now[tets[:, 0]] for k in (1, 2, 3)], axis=2)
    f = d @ np.linalg.inv(d0)
    c = np.transpose(f, (0, 2, 1)) @ f
    volume = np.abs(np.linalg.det(d0)) / 6.0
    centroids = rest[tets].mean(axis=1)
    near = np.linalg.norm(centroids[:, None] - centroids[None], axis=2) <= length_m
    averaged = np.einsum("ij,jkl->ikl", near * volume, c) / (near @ volume)[:, None, None]
    return np.sqrt(np.linalg.eigvalsh(averaged)[:, -1])


def test_a_pulled_node_tears_only_where_the_tissue_around_is_over_the_failure_stretch_too(block):
    """A corner node pulled out strains its few tets beyond failure. With a tear length they tear only once the tissue
    around them is strained too: the torn tets are exactly those over the failure stretch both alone and averaged
    over their neighbourhood (3 mm out: none, though alone they are over; 6 mm out: some). A stretch that spans the
    tissue tears everywhere."""
    solver, control = block
    model = solver.model
    corner = int(np.argmax(model.positions @ [1.0, 1.0, 1.0]))
    length = 0.005
    local = ToolContact(solver, control, 0, tear_checks=1)
    nonlocal_ = ToolContact(solver, control, 0, tear_checks=1, tear_length_m=length)
    limit = nonlocal_.failure_stretch
    s0, s1 = solver.state(), solver.state()
    torn = {}
    for pull in (0.003, 0.006):
        moved = model.positions.copy()
        moved[corner] += pull
        s1.set_positions(moved)
        alone = local.run(s0, s1, np.zeros((0, IO_WIDTH)), DT).torn
        report = nonlocal_.run(s0, s1, np.zeros((0, IO_WIDTH)), DT)
        over = (principal_stretch(model.positions, moved, model.tets) > limit) & \
            (averaged_stretch(model.positions, moved, model.tets, length) > limit)
        assert alone >= 1 and report.torn == over.sum()
        if report.torn:
            np.testing.assert_array_equal(nonlocal_.torn_tets(), np.flatnonzero(over))
        torn[pull] = report.torn
    assert torn[0.003] == 0 < torn[0.006]

    stretched = model.positions * [1.0, 1.0, 1.6]  # 60 % through the whole block, beyond the failure strain
    s1.set_positions(stretched)
    assert nonlocal_.run(s0, s1, np.zeros((0, IO_WIDTH)), DT).torn == model.tet_count


def test_a_tet_tears_only_after_tear_checks_tests_in_a_row(block):
    solver, control = block
    contact = ToolContact(solver, control, 0, tear_checks=3)
    model = solver.model
    corner = int(np.argmax(model.positions @ [1.0, 1.0, 1.0]))
    moved = model.positions.copy()
    moved[corner] += 0.006
    s0, s1 = solver.state(), solver.state()
    torn = []
    for positions in (moved, moved, model.positions, moved, moved, moved):
        s1.set_positions(positions)
        torn.append(contact.run(s0, s1, np.zeros((0, IO_WIDTH)), DT).torn)
    assert torn[:5] == [0, 0, 0, 0, 0] and torn[5] > 0


def test_strain_is_measured_from_the_settled_reference(block):
    """Set the reference to a stretched shape: that shape reads as unstrained (nothing tears), and a corner pulled out
    from it tears exactly the tets whose principal stretch from the reference exceeds the failure stretch."""
    solver, control = block
    contact = ToolContact(solver, control, 0, tear_checks=1)
    model = solver.model
    reference = model.positions * [1.6, 1.0, 1.0]  # far beyond the failure strain from the rest shape
    contact.set_strain_reference(reference)
    s0, s1 = solver.state(), solver.state()
    s1.set_positions(reference)
    assert contact.run(s0, s1, np.zeros((0, IO_WIDTH)), DT).torn == 0
    corner = int(np.argmax(model.positions @ [1.0, 1.0, 1.0]))
    moved = reference.copy()
    moved[corner] += 0.006
    s1.set_positions(moved)
    report = contact.run(s0, s1, np.zeros((0, IO_WIDTH)), DT)
    over = principal_stretch(reference, moved, model.tets) > contact.failure_stretch
    assert over.sum() >= 1 and report.torn == over.sum()
    np.testing.assert_array_equal(contact.torn_tets(), np.flatnonzero(over))


def test_a_tet_folded_by_the_settling_is_no_strain_reference(block):
    """A tet squeezed below SETTLED_FOLD of its rest volume in the reference has a nearly singular edge matrix: it
    never tears (a micrometre would read as a huge stretch); the others keep their failure stretch."""
    from surgsim.tissue.contact_layout import SETTLED_FOLD

    solver, control = block
    contact = ToolContact(solver, control, 0, tear_checks=1)
    model = solver.model
    top = int(np.argmax(model.positions @ [1.0, 1.0, 1.0]))
    reference = model.positions.copy()
    reference[top] -= [0.0, 0.0, 0.0024]  # the top corner pressed almost through its tets (2.5 mm cubes)
    t = model.tets
    volume = lambda p: np.linalg.det(np.stack([p[t[:, k]] - p[t[:, 0]] for k in (1, 2, 3)], axis=2))
    squeezed = volume(reference) / volume(model.positions) < SETTLED_FOLD
    assert squeezed.any()
    before = contact.failure_stretch
    contact.set_strain_reference(reference)
    assert np.all(np.isinf(contact.failure_stretch[squeezed]))
    np.testing.assert_array_equal(contact.failure_stretch[~squeezed], before[~squeezed])


def test_the_pass_leaves_a_resting_organ_alone_and_agrees_with_the_twin(taichi_cpu):
    """With the awake window on the pressed organ only (the other one sleeps), the pass changes nothing of the
    sleeping organ, and the kernel and its twin agree."""
    from surgsim.mesh.combine import combine_models

    resting = tet_block((0.02, 0.02, 0.01), (4, 4, 2), origin_m=(0.08, -0.01, -0.01))
    pressed = tet_block((0.04, 0.04, 0.01), (16, 16, 4), origin_m=(-0.02, -0.02, -0.01))
    combined = combine_models([("resting", resting), ("pressed", pressed)])
    tissue = Tissue.of(combined.model)
    solver, control = tissue
    control.anchor(box=((-1, -1, -0.0101), (1, 1, -0.0099)))
    awake = combined.node_ranges["pressed"]
    window = control.set_awake(awake.start, awake.stop)
    contact = ToolContact(solver, control, 2, burn_dwell_s=0.05, tear_checks=1)
    s0, s1, _ = run_ticks(solver, control, contact, 40,
                          lambda k: pressing_capsules(min(0.004, 1e-4 * k), drift_m=1e-5 * k, energized=True))
    solver.step(s0, s1, control, DT)
    before = [getattr(state, name).to_numpy() for state in (s0, s1)
              for name in ("positions", "velocities", "accelerations", "forces")]
    sections = buffers_numpy(contact)
    report = contact.run(s0, s1, pressing_capsules(0.0041, drift_m=4.1e-4, energized=True), DT)
    assert report.node_count[0] > 0
    x_out, v_out, a_out, f_out = (before[4 + k].copy() for k in range(4))
    io = contact._io.copy()
    io[contact._output_row:] = 0.0
    post_step(before[0], before[1], x_out, v_out, a_out, f_out, solver.anchor_table(control).to_numpy(), io, sections)
    for mine, theirs in ((x_out, s1.positions), (v_out, s1.velocities), (a_out, s1.accelerations),
                         (f_out, s1.forces)):
        np.testing.assert_allclose(mine, theirs.to_numpy(), rtol=0, atol=1e-9 * max(1.0, np.abs(mine).max()))
    rest = slice(0, awake.start)
    np.testing.assert_array_equal(s1.positions.to_numpy()[rest], before[4][rest])
    np.testing.assert_array_equal(s1.forces.to_numpy()[rest], before[7][rest])
    after = buffers_numpy(contact)
    for name in ("capsule", "flags", "overstrained", "tet_flags", "tri_mask"):
        np.testing.assert_array_equal(sections[name], after[name], err_msg=name)
    assert np.all(after["flags"][: window.first_spring] == 0)


def test_tear_neighbourhoods_are_the_same_body_tets_within_the_length_in_order():
    """Against the definition, brute force: two blocks 2 mm apart (closer than the length), so a list that crossed
    bodies would show it; each list sorted, the tet itself included, volumes its rest volume."""
    from surgsim.mesh.combine import combine_models
    from surgsim.tissue.tool_contact import tear_neighbourhoods

    left = tet_block((0.02, 0.02, 0.01), (5, 5, 2), origin_m=(-0.022, -0.01, -0.01))
    right = tet_block((0.02, 0.02, 0.01), (5, 5, 2), origin_m=(0.0, -0.01, -0.01))
    model = combine_models([("left", left), ("right", right)]).model
    length = 0.006
    offsets, ids, volumes = tear_neighbourhoods(model, length)
    p, tets = model.positions, model.tets
    centroids = p[tets].mean(axis=1)
    body = (tets[:, 0] >= left.node_count).astype(int)
    gap = np.linalg.norm(centroids[body == 0][:, None] - centroids[body == 1][None], axis=2).min()
    assert gap < length  # the lists must leave out the other block's tets within reach
    for t in range(len(tets)):
        distance = np.linalg.norm(centroids - centroids[t], axis=1)
        expected = np.flatnonzero((distance <= length) & (body == body[t]))
        np.testing.assert_array_equal(ids[offsets[t]:offsets[t + 1]], expected)
    edges = np.stack([p[tets[ids, k]] - p[tets[ids, 0]] for k in (1, 2, 3)], axis=2)
    np.testing.assert_allclose(volumes, np.abs(np.linalg.det(edges)) / 6.0)
    assert np.any(offsets[1:] - offsets[:-1] > 1)
    offsets0, ids0, _ = tear_neighbourhoods(model, 0.0)
    np.testing.assert_array_equal(ids0, np.arange(len(tets)))
