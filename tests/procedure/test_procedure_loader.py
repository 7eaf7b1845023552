"""Loading procedures: every problem with its line and column, what was expected, and a likely fix."""

from __future__ import annotations


import pytest

from surgsim.errors import InputError
from surgsim.procedure import ProcedureError, check_procedure, load_procedure
from surgsim.procedure.schema import NAMED_DIRECTIONS


def messages(path) -> list[str]:
    procedure, issues = check_procedure(path)
    assert procedure is None
    return [str(issue) for issue in issues]


def test_the_valid_procedure_loads(write_procedure):
    procedure = load_procedure(write_procedure())
    assert procedure.spec.steps[0].goal.direction == list(NAMED_DIRECTIONS["cranial"])
    assert procedure.spec.scene.organs[0].placement.scale == 1.0
    assert len(procedure.sha256) == 64 and procedure.path.is_absolute()


def test_misspelled_key_names_line_column_and_the_likely_key(write_procedure):
    path = write_procedure([("      material: skin", "      matrial: skin")])
    assert messages(path) == [
        f"{path}:8:7: scene.organs[0] is missing the required key 'material'.",
        f"{path}:10:7: unknown key 'matrial' in scene.organs[0]. Did you mean 'material'?",
    ]


def test_a_key_in_the_wrong_unit_suggests_the_right_one(write_procedure):
    path = write_procedure([("time_limit_s: 60", "time_limit_min: 1")])
    assert f"{path}:4:1: unknown key 'time_limit_min' at the top level. Did you mean 'time_limit_s'?" in messages(path)


@pytest.mark.parametrize(
    "replace, expected",
    [
        (("distance_mm: 10", 'distance_mm: "10 mm"'),
         "26:56: steps[0].goal.distance_mm: expected a valid number (in millimetres); got '10 mm'. Write the number "
         "alone: the unit is part of the key's name."),
        (("distance_mm: 10", "distance_mm: 1e1"), "It was read as text"),
        (("distance_mm: 10", "distance_mm: -10"),
         "steps[0].goal.distance_mm: expected greater than 0 (in millimetres)"),
        (("hold_s: 1", "hold_s: true"), "steps[0].goal.hold_s: expected a valid number (in seconds); got True."),
        (("size_mm: [50, 50, 2]", "size_mm: [50, 50]"), "scene.organs[0].source.size_mm: expected at least 3 items"),
        (("material: skin", "material: skinn"), "expected 'liver', 'gallbladder', 'fat', 'vessel', 'skin' or "
                                                "'generic'; got 'skinn'. Did you mean 'skin'?"),
        (("kind: retract", "kind: retrakt"), "steps[0].goal: unknown kind 'retrakt'; expected one of grasp, retract, "
                                             "cut, touch, cauterize, clip. Did you mean 'retract'?"),
        (("direction: cranial", "direction: upwards"), "unknown direction 'upwards'; use one of cranial, caudal"),
        (("hand: left", "hand: both"), "instruments[0].hand: expected 'left' or 'right'; got 'both'."),
        (("{kind: block, size_mm: [50, 50, 2], divisions: [5, 5, 1]}", "{size_mm: [50, 50, 2]}"),
         "scene.organs[0].source needs a 'kind': one of model, mesh, label_map, block."),
        (("max_mm: [5, 51, 3]", "max_mm: [-5, 51, 3]"), "scene.regions.edge: min_mm must be below max_mm"),
        (("divisions: [5, 5, 1]}", "divisions: [5, 5, 1]}\n      target_nodes: 500"),
         "target_nodes applies to mesh and label_map sources only"),
    ],
)
def test_wrong_types_units_and_values(write_procedure, replace, expected):
    found = messages(write_procedure([replace]))
    assert any(expected in message for message in found), found


def test_every_problem_is_reported_not_just_the_first(write_procedure):
    path = write_procedure([("hand: left", "hand: both"), ("hold_s: 1", "hold_s: soon"), ("title:", "titel:")])
    assert len(messages(path)) == 4  # the bad hand, the bad hold, titel unknown, title missing


def test_malformed_yaml_points_at_the_problem(write_procedure):
    path = write_procedure([("size_mm: [50, 50, 2]", "size_mm: [50, 50, 2")])
    [message] = messages(path)
    assert message.startswith(f"{path}:9:") and "not valid YAML" in message


def test_duplicate_keys_are_reported(write_procedure):
    path = write_procedure([("title: Tiny procedure", "title: Tiny procedure\ntitle: Again")])
    assert messages(path) == [f"{path}:4:1: duplicate key 'title' (first at line 3)."]


def test_newer_format_version(write_procedure):
    path = write_procedure([("format_version: 1", "format_version: 2")])
    assert messages(path) == [
        f"{path}:1:17: format_version 2 is newer than this surgsim understands (1); upgrade surgsim."
    ]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "the file is empty"),
        ("- just\n- a list\n", "expected a procedure (a mapping of keys) at the top level"),
        ("!!python/object:os.system {}\n", "unsupported tag tag:yaml.org,2002:python/object:os.system"),
        ("name: !!python/name:os.system\n", "cannot read this value"),
    ],
)
def test_files_that_are_not_procedures(write_procedure, text, expected):
    [message] = messages(write_procedure(text=text))
    assert expected in message


def test_not_utf8(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_bytes(b"name: \xff\xfe\n")
    assert "not UTF-8 text" in messages(path)[0]


def test_alias_bomb_is_refused_before_expansion(write_procedure):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):  # 9^9 ≈ 387 million strings if expanded
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    # Expanding this would take minutes and gigabytes; the limit refuses it while the node graph is counted.
    [message] = messages(write_procedure(text="\n".join(lines) + "\n"))
    assert "refused as a possible alias bomb" in message


def test_too_many_aliases_and_recursive_aliases_are_refused(write_procedure):
    many = "a: &a 1\nb: [" + ", ".join(["*a"] * 150) + "]\n"
    assert "more than 100 aliases" in messages(write_procedure(text=many))[0]
    recursive = "a: &a [*a]\n"
    assert "recursive alias" in messages(write_procedure(text=recursive, name="r.yaml"))[0]


def test_ordinary_anchors_and_merge_keys_work(write_procedure):
    path = write_procedure([
        ("  - {name: left_grasper, type: grasper, port_mm: [-50, -80, 100], hand: left}",
         "  - &grasper {name: left_grasper, type: grasper, port_mm: [-50, -80, 100], hand: left}\n"
         "  - {<<: *grasper, name: spare_grasper}"),
    ])
    procedure = load_procedure(path)
    assert [i.name for i in procedure.spec.instruments] == ["left_grasper", "spare_grasper", "right_scissors"]


def test_load_procedure_raises_one_input_error_listing_the_count(write_procedure):
    path = write_procedure([("hand: left", "hand: both"), ("hold_s: 1", "hold_s: soon")])
    with pytest.raises(ProcedureError) as caught:
        load_procedure(path)
    assert isinstance(caught.value, InputError) and len(caught.value.issues) == 2
    assert "2 problems; the first, at line 21" in caught.value.problem and "surgsim validate" in caught.value.problem


def test_missing_file(tmp_path):
    assert messages(tmp_path / "nope.yaml") == [f"{tmp_path / 'nope.yaml'}: no such file."]
