"""`surgsim validate` and `surgsim schema` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from surgsim.cli import main

PROCEDURES = Path(__file__).resolve().parents[2] / "procedures"


def test_valid_files_exit_0(capsys):
    files = [str(path) for path in sorted(PROCEDURES.glob("*.yaml"))]
    assert main(["validate", *files]) == 0
    assert capsys.readouterr().out.count(": ok") == len(files)


def test_errors_in_several_files_are_all_listed_with_exit_2(write_procedure, capsys):
    # The shared test procedure's 'middle' sphere misses its sheet's nodes unless it is wider.
    good = write_procedure([("center_mm: [25, 25, 1], radius_mm: 5", "center_mm: [25, 25, 1], radius_mm: 8")],
                           name="good.yaml")
    typo = write_procedure([("      material: skin", "      matrial: skin")], name="typo.yaml")
    broken = write_procedure(text="steps: [\n", name="broken.yaml")
    assert main(["validate", str(good), str(typo), str(broken), "missing.yaml"]) == 2
    captured = capsys.readouterr()
    assert f"{good}: ok" in captured.out
    err = captured.err.splitlines()
    assert f"{typo}:10:7: unknown key 'matrial' in scene.organs[0]. Did you mean 'material'?" in err
    assert any(line.startswith(f"{broken}:2:1: not valid YAML") for line in err)
    assert "missing.yaml: no such file." in err
    assert err[-1] == "4 problems found."  # the typo is also a missing key


def test_schema_prints_json_schema(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"].endswith("2020-12/schema") and schema["title"] == "surgsim procedure"
    assert "rubric" in schema["properties"]


def test_real_process(write_procedure):
    typo = write_procedure([("time_limit_s: 60", "time_limit_min: 1")])
    result = subprocess.run([sys.executable, "-m", "surgsim", "validate", str(typo)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert f"{typo}:4:1: unknown key 'time_limit_min' at the top level. Did you mean 'time_limit_s'?" in result.stderr


def test_names_that_select_nothing_in_the_scene_are_reported_with_line_and_column(write_procedure, capsys):
    """The shared test procedure's 'middle' sphere (radius 5 mm) falls between its sheet's nodes, 10 mm apart; an
    anchor region moved off the sheet holds none either."""
    path = write_procedure((("max_mm: [5, 51, 3]", "max_mm: [5, 51, 3]}\n    far: {kind: box, organ: sheet, "
                                                   "min_mm: [70, 70, 70], max_mm: [80, 80, 80]"),))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    lines = path.read_text().splitlines()
    middle = next(number for number, line in enumerate(lines, 1) if line.lstrip().startswith("middle:"))
    far = next(number for number, line in enumerate(lines, 1) if line.lstrip().startswith("far:"))
    assert err[0] == (f"{path}:{far}:10: region 'far' selects no part of 'sheet', which spans [0.0, 0.0, 0.0] to "
                      "[50.0, 50.0, 2.0] mm in the scene; move or enlarge the region.")
    assert err[1].startswith(f"{path}:{middle}:13: region 'middle' selects no part of 'sheet'")
    assert err[2] == "2 problems found."
    assert main(["validate", "--no-scene", str(path)]) == 0


def test_an_anchor_without_nodes_of_its_organ_is_reported_where_it_is_named(write_procedure, capsys):
    path = write_procedure((("center_mm: [25, 25, 1], radius_mm: 5", "center_mm: [25, 25, 1], radius_mm: 8"),
                            ("anchors: [edge]", "anchors: [edge, vessel]")))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    line = next(number for number, text in enumerate(path.read_text().splitlines(), 1) if "anchors:" in text)
    assert err[0] == (f"{path}:{line}:23: anchor region 'vessel' holds no node of organ 'sheet', so it would anchor "
                      "nothing.")


def test_non_finite_numbers_are_reported_with_line_and_column(write_procedure, capsys):
    path = write_procedure((("force_limit_N: 3.0", "force_limit_N: .inf"),
                            ("port_mm: [-50, -80, 100]", "port_mm: [.nan, -80, 100]")))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"{path}:5:16: force_limit_N: expected a finite number (in newtons); got inf."
    assert err[1].startswith(f"{path}:") and "port_mm[0]: expected a finite number (in millimetres); got nan." in err[1]
