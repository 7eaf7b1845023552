"""Asset paths (resolved relative to the procedure, kept inside the asset roots) and names referred to across a file."""

from __future__ import annotations

import os

import pytest

from surgsim.procedure import check_procedure, load_procedure
from surgsim.procedure.assets import CHECKOUT_ROOT, asset_roots

BLOCK = "{kind: block, size_mm: [50, 50, 2], divisions: [5, 5, 1]}"


def mesh_source(path: str) -> tuple[str, str]:
    return (BLOCK, f"{{kind: mesh, path: {path}, units: mm}}")


def issues(path) -> list[str]:
    return [str(issue) for issue in check_procedure(path)[1]]


def test_mesh_beside_or_below_the_procedure_is_found(write_procedure, tmp_path):
    (tmp_path / "meshes").mkdir()
    (tmp_path / "meshes" / "sheet.stl").write_text("solid empty\nendsolid empty\n")
    procedure = load_procedure(write_procedure([mesh_source("meshes/sheet.stl")]))
    assert procedure.asset_path("meshes/sheet.stl") == (tmp_path / "meshes" / "sheet.stl").resolve()


def test_missing_mesh(write_procedure, tmp_path):
    path = write_procedure([mesh_source("meshes/nothing.stl")])
    [message] = issues(path)
    assert message.startswith(f"{path}:9:34: ")  # the path itself
    assert "'meshes/nothing.stl' does not exist (looked for " in message


def test_path_escaping_the_asset_roots_is_refused_even_if_the_file_exists(write_procedure, tmp_path):
    (tmp_path / "secret.stl").write_text("solid x\nendsolid x\n")
    path = write_procedure([mesh_source("../secret.stl")], name="course/p.yaml")
    [message] = issues(path)
    assert "'../secret.stl' resolves to" in message and "outside the asset roots" in message


def test_symlink_out_of_the_asset_roots_is_refused(write_procedure, tmp_path):
    (tmp_path / "outside.stl").write_text("solid x\nendsolid x\n")
    (tmp_path / "course").mkdir()
    os.symlink(tmp_path / "outside.stl", tmp_path / "course" / "inside.stl")
    [message] = issues(write_procedure([mesh_source("inside.stl")], name="course/p.yaml"))
    assert "outside the asset roots" in message


def test_absolute_paths_are_refused(write_procedure, tmp_path):
    (tmp_path / "sheet.stl").write_text("solid x\nendsolid x\n")
    [message] = issues(write_procedure([mesh_source(str(tmp_path / "sheet.stl"))]))
    assert "is absolute; write it relative to the procedure file" in message


def test_a_course_folder_may_keep_its_assets_beside_its_procedures(write_procedure, tmp_path):
    (tmp_path / "course" / "assets").mkdir(parents=True)
    (tmp_path / "course" / "assets" / "sheet.stl").write_text("solid x\nendsolid x\n")
    load_procedure(write_procedure([mesh_source("../assets/sheet.stl")], name="course/procedures/p.yaml"))
    roots = asset_roots(tmp_path / "course" / "procedures" / "p.yaml")
    assert (CHECKOUT_ROOT / "assets").resolve() in roots and (tmp_path / "course" / "assets").resolve() in roots


def test_wrong_file_kind_for_the_source(write_procedure, tmp_path):
    (tmp_path / "sheet.obj.txt").write_text("")
    [message] = issues(write_procedure([mesh_source("sheet.obj.txt")]))
    assert "a mesh source takes .stl, .obj, .ply, .vtp, .vtk, .vtu files; got 'sheet.obj.txt'" in message


@pytest.mark.parametrize(
    "replace, expected",
    [
        (("goal: {kind: retract, region: middle,", "goal: {kind: retract, region: midle,"),
         "26:35: no region named 'midle'; defined: edge, middle, vessel. Did you mean 'middle'?"),
        (("from_landmark: a,", "from_landmark: c,"), "no landmark named 'c'; defined: a, b."),
        (("anchors: [edge]", "anchors: [vessel, edgy]"), "no region named 'edgy'"),
        (("- region: vessel", "- region: middle"), "region 'middle' is both forbidden and a step's goal."),
        (("{kind: sphere, organ: sheet,", "{kind: sphere, organ: shet,"),
         "no organ or rigid body named 'shet'; defined: sheet. Did you mean 'sheet'?"),
        (("name: right_scissors, type: scissors", "name: left_grasper, type: scissors"),
         "a second instrument 'left_grasper'; names must be unique."),
        (("type: scissors", "type: dissector"),
         "a cut goal needs one of: scissors, hook_cautery; the procedure has none."),
        (("      kind: cut\n", "      kind: cut\n      instrument: left_grasper\n"),
         "'left_grasper' is a grasper; a cut goal needs one of: scissors, hook_cautery."),
        (("pass_thresholds: {min_score: 50}", "pass_thresholds: {min_score: 50, min_goals_completed: 3}"),
         "min_goals_completed is 3, but the procedure has only 2 steps."),
    ],
)
def test_references_by_name(write_procedure, replace, expected):
    found = issues(write_procedure([replace]))
    assert any(expected in message for message in found), found


def test_anchor_must_belong_to_its_organ(write_procedure):
    path = write_procedure([
        ("      anchors: [edge]\n", "      anchors: [edge]\n    - name: other\n      source: {kind: block, "
                                    "size_mm: [5, 5, 5], divisions: [1, 1, 1]}\n      material: fat\n"
                                    "      anchors: [edge]\n"),
    ])
    assert any("region 'edge' belongs to 'sheet', so it cannot anchor 'other'." in m for m in issues(path))
