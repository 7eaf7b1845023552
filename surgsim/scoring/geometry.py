"""Distances from a cut to the line it should follow (millimetres, scene frame)."""

from __future__ import annotations

import numpy as np

from surgsim.procedure.schema import CircleLine, CutLine, Landmark, LandmarkLine, PolylineLine


def distance_to_segment_mm(point: np.ndarray, start: np.ndarray, end: np.ndarray) -> float:
    along = end - start
    length_sq = float(along @ along)
    fraction = 0.0 if length_sq == 0.0 else float(np.clip((point - start) @ along / length_sq, 0.0, 1.0))
    return float(np.linalg.norm(point - (start + fraction * along)))


def distance_to_circle_mm(point: np.ndarray, center: np.ndarray, radius: float, normal: np.ndarray) -> float:
    """Distance to the nearest point of the circle (not the disc): out-of-plane and radial offsets combined."""
    unit = normal / np.linalg.norm(normal)
    offset = point - center
    height = float(offset @ unit)
    radial = float(np.linalg.norm(offset - height * unit))
    return float(np.hypot(radial - radius, height))


def distance_to_line_mm(point_mm, line: CutLine, landmarks: dict[str, Landmark]) -> float:
    point = np.asarray(point_mm, dtype=float)
    if isinstance(line, CircleLine):
        return distance_to_circle_mm(point, np.asarray(line.center_mm), line.radius_mm, np.asarray(line.normal))
    if isinstance(line, LandmarkLine):
        vertices = [landmarks[line.from_landmark].position_mm, landmarks[line.to_landmark].position_mm]
    elif isinstance(line, PolylineLine):
        vertices = line.points_mm
    else:
        raise TypeError(f"unknown cut line {type(line).__name__}")
    corners = np.asarray(vertices, dtype=float)
    return min(distance_to_segment_mm(point, a, b) for a, b in zip(corners[:-1], corners[1:]))
