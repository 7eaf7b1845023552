"""The parts of surgsim.script that need no session: points along a cut goal's line."""

from __future__ import annotations

import math

import numpy as np
import pytest

from surgsim.procedure.schema import CircleLine, PolylineLine
from surgsim.script import line_points


def test_polyline_points_are_evenly_spaced_and_keep_the_corners():
    line = PolylineLine(kind="polyline", points_mm=[[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [10.0, 5.0, 0.0]])
    points = np.array(line_points(None, line, spacing_m=0.0025))
    assert len(points) == 1 + 4 + 2  # 10 mm in 4 steps, 5 mm in 2
    assert np.allclose(points[0], 0) and np.allclose(points[4], [0.01, 0, 0]) and np.allclose(points[-1],
                                                                                             [0.01, 0.005, 0])
    assert np.linalg.norm(np.diff(points, axis=0), axis=1).max() <= 0.0025 + 1e-12


def test_circle_points_lie_on_the_circle_in_its_plane():
    line = CircleLine(kind="circle", center_mm=[0.0, 0.0, 2.0], radius_mm=20.0, normal=[0.0, 0.0, 1.0])
    points = np.array(line_points(None, line, spacing_m=0.0034))
    assert len(points) == math.ceil(2 * math.pi * 0.02 / 0.0034)
    assert np.allclose(np.linalg.norm(points[:, :2], axis=1), 0.02)
    assert np.allclose(points[:, 2], 0.002)
    assert np.linalg.norm(points[1] - points[0]) == pytest.approx(2 * 0.02 * math.sin(math.pi / len(points)))
