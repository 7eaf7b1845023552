"""The OpenGL renderer, offscreen under Xvfb + Mesa: behaviour checked with pixel statistics, not golden images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from render_helpers import covered, covered_fraction
from scipy.spatial import ConvexHull

from surgsim.render.frame import (
    Capsule,
    FrameData,
    HudState,
    InstrumentFrame,
    InstrumentSpec,
    RenderScene,
    TissueFrame,
    TissueMesh,
)
from surgsim.view import camera

WIDTH, HEIGHT = 320, 240
pytestmark = pytest.mark.usefixtures("virtual_display")


@pytest.fixture
def offscreen():
    from surgsim.render.gl_viewer import OffscreenViewer

    viewer = OffscreenViewer(WIDTH, HEIGHT)
    yield viewer
    viewer.close()


def front_view(positions: np.ndarray, distance_m: float = 0.35):
    """A straight scope in front of (anterior to) the organ, aimed at its surface centroid."""
    centre = positions.mean(axis=0)
    return camera.laparoscope_pose(centre + np.array([0.0, distance_m, 0.08]), centre, fov_deg=60)


def liver_frame(model, pose, **tissue) -> FrameData:
    return FrameData({"liver": TissueFrame(model.positions, **tissue)}, pose)


def test_liver_fills_its_projected_outline_and_is_centred(offscreen, liver_scene, liver_model):
    surface = liver_model.positions[liver_model.surface_nodes]
    pose = front_view(surface)
    offscreen.open(liver_scene)
    offscreen.draw(liver_frame(liver_model, pose))
    mask = covered(offscreen.read_pixels())

    projected, in_front = camera.project(pose, surface, WIDTH, HEIGHT)
    assert in_front.all()
    assert projected.min() > 0 and projected[:, 0].max() < WIDTH and projected[:, 1].max() < HEIGHT
    hull_fraction = ConvexHull(projected).volume / (WIDTH * HEIGHT)  # a 2D hull's "volume" is its area
    # The silhouette lies inside the hull of the projected surface and fills most of it (the liver is not convex).
    assert 0.7 * hull_fraction < mask.mean() <= 1.02 * hull_fraction

    rows, columns = np.nonzero(mask)
    assert abs(columns.mean() - WIDTH / 2) < 0.1 * WIDTH
    assert abs(rows.mean() - HEIGHT / 2) < 0.1 * HEIGHT


def test_moving_the_camera_away_shrinks_the_organ(offscreen, liver_scene, liver_model):
    pose = front_view(liver_model.positions[liver_model.surface_nodes])
    offscreen.open(liver_scene)
    offscreen.draw(liver_frame(liver_model, pose))
    near = covered_fraction(offscreen.read_pixels())
    offscreen.draw(liver_frame(liver_model, camera.zoom(pose, 2.0)))
    far = covered_fraction(offscreen.read_pixels())
    assert far < 0.4 * near  # twice as far: about a quarter of the area


def test_each_region_keeps_its_colour(offscreen, liver_model, gallbladder_model):
    scene = RenderScene((TissueMesh.from_model("liver", liver_model),
                         TissueMesh.from_model("gallbladder", gallbladder_model)))
    # Side by side (the real gallbladder hides behind the liver from the front): this checks colours, not anatomy.
    beside = gallbladder_model.positions + [liver_model.positions[:, 0].max() - gallbladder_model.positions[:, 0].min()
                                            + 0.01, 0.0, 0.0]
    offscreen.open(scene)
    offscreen.draw(FrameData({"liver": TissueFrame(liver_model.positions), "gallbladder": TissueFrame(beside)},
                             front_view(np.concatenate([liver_model.positions, beside]), distance_m=0.45)))
    rgb = offscreen.read_pixels().astype(float)
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    mask = covered(offscreen.read_pixels())
    liver_like = mask & (red > 1.4 * green) & (red > 1.4 * blue)
    gallbladder_like = mask & (green > 1.1 * red) & (green > 1.1 * blue)
    assert liver_like.mean() > 0.02
    assert gallbladder_like.mean() > 0.002


def test_burn_darkens_the_tissue(offscreen, liver_scene, liver_model):
    pose = front_view(liver_model.positions[liver_model.surface_nodes])
    offscreen.open(liver_scene)
    offscreen.draw(liver_frame(liver_model, pose))
    fresh = offscreen.read_pixels()
    offscreen.draw(liver_frame(liver_model, pose, burn=np.ones(liver_model.node_count)))
    burnt = offscreen.read_pixels()
    mask = covered(fresh)
    assert burnt[mask].mean() < 0.6 * fresh[mask].mean()
    offscreen.draw(liver_frame(liver_model, pose))  # burn is kept until replaced
    assert np.array_equal(offscreen.read_pixels(), burnt)


def test_replacing_the_triangles_changes_the_surface_until_replaced_again(offscreen, liver_scene, liver_model):
    pose = front_view(liver_model.positions[liver_model.surface_nodes])
    triangles = liver_model.surface_triangles
    centroid_x = liver_model.positions[triangles].mean(axis=1)[:, 0]
    half = triangles[centroid_x < np.median(centroid_x)]
    offscreen.open(liver_scene)
    offscreen.draw(liver_frame(liver_model, pose))
    whole = covered_fraction(offscreen.read_pixels())
    offscreen.draw(liver_frame(liver_model, pose, triangles=half))
    cut = covered_fraction(offscreen.read_pixels())
    offscreen.draw(liver_frame(liver_model, pose))
    still_cut = covered_fraction(offscreen.read_pixels())
    offscreen.draw(liver_frame(liver_model, pose, triangles=triangles))
    restored = covered_fraction(offscreen.read_pixels())
    assert cut < 0.75 * whole
    assert still_cut == cut
    assert restored == whole


def test_instruments_are_drawn_and_an_energised_tip_glows(offscreen, liver_scene, liver_model):
    pose = front_view(liver_model.positions[liver_model.surface_nodes])
    right, up, forward = camera.camera_basis(pose)
    # A shaft across the view, between the lens and the liver, with a jaw at its end.
    middle = np.asarray(pose.eye_m) + 0.15 * forward
    shaft = Capsule(tuple(middle + 0.05 * right), tuple(middle), 0.004)
    jaw = Capsule(tuple(middle), tuple(middle - 0.012 * right), 0.004, part="jaw")
    positions = np.full_like(liver_model.positions, 10.0)  # the liver far out of view: only the tool is seen
    offscreen.open(liver_scene)

    def drawn(energy: bool) -> np.ndarray:
        tool = InstrumentFrame("grasper", (shaft, jaw), jaw=0.0, energy=energy)
        offscreen.draw(FrameData({"liver": TissueFrame(positions)}, pose, (tool,)))
        return offscreen.read_pixels().astype(float)

    idle, energised = drawn(False), drawn(True)
    assert covered(idle.astype(np.uint8)).mean() > 0.01
    orange = (energised[..., 0] > 150) & (energised[..., 1] > 60) & (energised[..., 2] < 0.6 * energised[..., 1])
    assert orange.sum() > 20
    idle_orange = (idle[..., 0] > 150) & (idle[..., 1] > 60) & (idle[..., 2] < 0.6 * idle[..., 1])
    assert idle_orange.sum() == 0


def test_clips_are_drawn_in_their_own_colour(offscreen, liver_scene, liver_model):
    from surgsim.render import palette

    pose = front_view(liver_model.positions[liver_model.surface_nodes])
    right, _, forward = camera.camera_basis(pose)
    middle = np.asarray(pose.eye_m) + 0.15 * forward
    clip = Capsule(tuple(middle - 0.01 * right), tuple(middle + 0.01 * right), 0.002, part="clip")
    positions = np.full_like(liver_model.positions, 10.0)
    offscreen.open(liver_scene)
    offscreen.draw(FrameData({"liver": TissueFrame(positions)}, pose))
    without = offscreen.read_pixels()
    offscreen.draw(FrameData({"liver": TissueFrame(positions)}, pose, clips=(clip,)))
    pixels = offscreen.read_pixels().astype(float)
    drawn = np.abs(pixels - without).max(axis=2) > 12
    assert drawn.sum() > 50
    # Lit titanium: warmer (more red than blue) than the grey instrument parts.
    warm = pixels[drawn][:, 0] - pixels[drawn][:, 2]
    assert np.median(warm) > 0 and palette.CLIP[0] > palette.CLIP[2]


def test_hud_is_composited_over_the_view(offscreen, liver_scene, liver_model):
    pose = front_view(liver_model.positions[liver_model.surface_nodes])
    offscreen.open(liver_scene)
    offscreen.draw(liver_frame(liver_model, pose))
    plain = offscreen.read_pixels()
    hud = HudState(procedure_title="Liver retraction", step_instructions="Grasp the inferior edge.", elapsed_s=3.0)
    offscreen.draw(FrameData({"liver": TissueFrame(liver_model.positions)}, pose, hud=hud))
    with_hud = offscreen.read_pixels()
    corner = (slice(0, HEIGHT // 4), slice(0, WIDTH // 3))
    assert (np.abs(with_hud[corner].astype(int) - plain[corner]).max(axis=2) > 40).mean() > 0.02


def test_snapshot_writes_the_frame_as_png(offscreen, liver_scene, liver_model, tmp_path):
    offscreen.open(liver_scene)
    offscreen.draw(liver_frame(liver_model, front_view(liver_model.positions)))
    path = offscreen.snapshot(tmp_path / "shots" / "frame.png")
    with Image.open(path) as image:
        assert image.size == (WIDTH, HEIGHT)
        assert np.array_equal(np.asarray(image.convert("RGB")), offscreen.read_pixels())
    assert [p.name for p in path.parent.iterdir()] == ["frame.png"]  # no temporary file left behind


def test_a_frame_that_does_not_fit_the_scene_is_refused(offscreen, liver_scene, liver_model):
    offscreen.open(liver_scene)
    pose = front_view(liver_model.positions)
    with pytest.raises(ValueError, match="shape"):
        offscreen.draw(FrameData({"liver": TissueFrame(liver_model.positions[:10])}, pose))
    with pytest.raises(ValueError, match="not in the scene"):
        offscreen.draw(FrameData({"liver": TissueFrame(liver_model.positions)}, pose,
                                 (InstrumentFrame("stapler", ()),)))


def test_viewers_can_be_closed_twice_and_reopened(liver_scene, liver_model):
    from surgsim.render.gl_viewer import OffscreenViewer

    pose = front_view(liver_model.positions)
    for _ in range(2):
        with OffscreenViewer(64, 48) as viewer:
            viewer.open(liver_scene)
            viewer.draw(liver_frame(liver_model, pose))
            assert viewer.read_pixels().shape == (48, 64, 3)
            viewer.close()
        assert viewer.frame_count == 1


def test_window_viewer_runs_the_interactive_calls(liver_model):
    from surgsim.render.gl_viewer import WindowViewer

    scene = RenderScene((TissueMesh.from_model("liver", liver_model),), instruments=(InstrumentSpec("g", "grasper"),))
    with WindowViewer(WIDTH, HEIGHT, vsync=False) as viewer:
        viewer.open(scene)
        viewer.draw(liver_frame(liver_model, front_view(liver_model.positions)))
        assert isinstance(viewer.poll_input(), list)
        assert not viewer.should_close()
        assert covered_fraction(viewer.read_pixels()) > 0.05


def test_rigid_anatomy_is_drawn_pale_behind_the_organ(offscreen, liver_model):
    from surgsim.render.frame import RigidMesh

    surface = liver_model.positions[liver_model.surface_nodes]
    pose = front_view(surface)
    # A wall 5 cm behind the liver (posterior, −y), facing the lens.
    y = surface[:, 1].min() - 0.05
    wall = RigidMesh("back_wall", [[-1.0, y, -1.0], [1.0, y, -1.0], [1.0, y, 1.0], [-1.0, y, 1.0]],
                     [[0, 2, 1], [0, 3, 2]])
    scene = RenderScene((TissueMesh.from_model("liver", liver_model),), rigid=(wall,))
    offscreen.open(scene)
    offscreen.draw(liver_frame(liver_model, pose))
    rgb = offscreen.read_pixels().astype(float)
    pale = (rgb.min(axis=2) > 60) & (rgb.max(axis=2) - rgb.min(axis=2) < 0.25 * rgb.max(axis=2))
    assert covered(rgb.astype(np.uint8)).mean() > 0.99  # the wall fills the background
    assert 0.2 < pale.mean() < 0.95  # pale around the organ, red where the liver is in front
