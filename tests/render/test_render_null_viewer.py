"""The null viewer runs the interactive loop's calls without a display; make_viewer and the Viewer protocol."""

from __future__ import annotations

import numpy as np
import pytest

from surgsim.errors import InputError
from surgsim.render.frame import FrameData, InstrumentFrame, TissueFrame
from surgsim.render.viewer import NullViewer, Viewer, make_viewer
from surgsim.view import camera
from surgsim.view.input import Key, MouseMove


def test_the_null_viewer_runs_the_session_loop_headless(liver_scene, liver_model, tmp_path):
    script = [[Key("space", True)], [], [MouseMove(10, 10, 5, 0, frozenset({"right"}))]]
    pose = camera.laparoscope_pose([0, 0.4, 0], liver_model.positions.mean(axis=0))
    seen = []
    with NullViewer(input_batches=script, max_frames=5) as viewer:
        assert isinstance(viewer, Viewer)
        viewer.open(liver_scene)
        while not viewer.should_close():
            seen.append(viewer.poll_input())
            viewer.draw(FrameData({"liver": TissueFrame(liver_model.positions)}, pose,
                                  (InstrumentFrame("grasper", ()),)))
        assert viewer.snapshot(tmp_path / "x.png") is None
    assert viewer.frame_count == 5
    assert seen == script + [[], []]
    assert not (tmp_path / "x.png").exists()


def test_the_null_viewer_checks_frames_like_the_gl_viewers(liver_scene, liver_model):
    viewer = NullViewer()
    pose = camera.laparoscope_pose([0, 0.4, 0], [0, 0, 0])
    with pytest.raises(RuntimeError, match="open"):
        viewer.draw(FrameData({"liver": TissueFrame(liver_model.positions)}, pose))
    viewer.open(liver_scene)
    with pytest.raises(ValueError, match="differ from the scene"):
        viewer.draw(FrameData({}, pose))
    with pytest.raises(ValueError, match="burn"):
        viewer.draw(FrameData({"liver": TissueFrame(liver_model.positions, burn=np.zeros(3))}, pose))
    with pytest.raises(ValueError, match="outside"):
        viewer.draw(FrameData({"liver": TissueFrame(liver_model.positions, triangles=[[0, 1, 10**6]])}, pose))
    assert viewer.frame_count == 0


def test_make_viewer_names_the_choices():
    assert isinstance(make_viewer("null"), NullViewer)
    with pytest.raises(InputError, match="window, offscreen, null"):
        make_viewer("vr")


def test_without_a_display_a_gl_viewer_says_what_to_do():
    import os
    import subprocess
    import sys

    script = ("from surgsim.render import OffscreenViewer, RenderScene, DisplayUnavailable\n"
              "try:\n    OffscreenViewer(64, 48).open(RenderScene(()))\n"
              "except DisplayUnavailable as error:\n    print(error)\n")
    env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "xvfb-run" in result.stdout and "null viewer" in result.stdout


def test_scene_bounds_cover_tissues_and_rigid_anatomy(liver_model):
    from surgsim.render.frame import RenderScene, RigidMesh, TissueMesh

    box = RigidMesh("table", [[-1.0, -1.0, -1.0], [2.0, 0.0, 0.0], [0.0, 3.0, 0.0]], [[0, 1, 2]])
    lower, upper = RenderScene((TissueMesh.from_model("liver", liver_model),), rigid=(box,)).bounds()
    np.testing.assert_allclose(lower, [-1.0, -1.0, -1.0])
    np.testing.assert_allclose(upper, [2.0, 3.0, liver_model.positions[:, 2].max()])
