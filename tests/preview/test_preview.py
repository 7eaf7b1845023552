"""`surgsim preview`: the scene drawn without simulating."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from surgsim.cli import main
from surgsim.preview import frustum_corners

EXAMPLE = Path(__file__).parents[2] / "procedures" / "examples" / "tissue_lift.yaml"


def test_preview_draws_the_example_scene(tmp_path):
    out = tmp_path / "scene.png"
    assert main(["preview", str(EXAMPLE), "--snapshot", str(out)]) == 0
    pixels = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert pixels.shape[0] > 400 and pixels.shape[1] > 800
    colourful = (pixels.max(axis=2) - pixels.min(axis=2)) > 60
    assert colourful.mean() > 0.003  # the organ, regions and frustum are drawn in colour (empty axes: 0)


def test_bad_output_name_exits_2(tmp_path):
    assert main(["preview", str(EXAMPLE), "--snapshot", str(tmp_path / "scene.jpg")]) == 2
    assert not (tmp_path / "scene.jpg").exists()


def test_frustum_corners_span_the_field_of_view():
    corners = frustum_corners([0, 0, 0], [0, 1, 0], fov_deg=90.0, aspect=2.0, depth_m=1.0)
    # looking along +y with +z up: half height tan(45°) = 1 at depth 1, half width 2
    assert np.allclose(corners[:, 1], 1.0)
    assert sorted(set(np.round(corners[:, 2], 9))) == [-1.0, 1.0]
    assert sorted(set(np.round(np.abs(corners[:, 0]), 9))) == [pytest.approx(2.0)]
