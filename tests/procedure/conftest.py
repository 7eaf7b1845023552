"""A small valid procedure that the tests break in one place at a time."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

VALID = textwrap.dedent("""\
    format_version: 1
    name: tiny
    title: Tiny procedure
    time_limit_s: 60
    force_limit_N: 3.0
    scene:
      organs:
        - name: sheet
          source: {kind: block, size_mm: [50, 50, 2], divisions: [5, 5, 1]}
          material: skin
          anchors: [edge]
      regions:
        edge: {kind: box, organ: sheet, min_mm: [-1, -1, -1], max_mm: [5, 51, 3]}
        middle: {kind: sphere, organ: sheet, center_mm: [25, 25, 1], radius_mm: 5}
        vessel: {kind: capsule, from_mm: [0, 0, -10], to_mm: [50, 0, -10], radius_mm: 2}
      landmarks:
        a: {organ: sheet, position_mm: [10, 25, 1]}
        b: {organ: sheet, position_mm: [40, 25, 1]}
      camera: {port_mm: [0, -100, 100], look_at_mm: [25, 25, 0]}
    instruments:
      - {name: left_grasper, type: grasper, port_mm: [-50, -80, 100], hand: left}
      - {name: right_scissors, type: scissors, port_mm: [100, -80, 100], hand: right}
    steps:
      - name: lift
        instructions: Lift the middle.
        goal: {kind: retract, region: middle, distance_mm: 10, direction: cranial, hold_s: 1}
      - name: divide
        instructions: Cut from a to b.
        goal:
          kind: cut
          line: {kind: landmarks, from_landmark: a, to_landmark: b}
    forbidden:
      - region: vessel
    rubric:
      metrics:
        time_s: {weight: 1, expert: 10, zero_at: 60}
      pass_thresholds: {min_score: 50}
    """)


@pytest.fixture
def write_procedure(tmp_path):
    """Write procedure text (the valid one with ``replace`` pairs applied) and return its path."""

    def write(replace: tuple[tuple[str, str], ...] = (), *, text: str | None = None, name: str = "p.yaml") -> Path:
        body = VALID if text is None else text
        for old, new in replace:
            assert old in body, old
            body = body.replace(old, new)
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
        return path

    return write
