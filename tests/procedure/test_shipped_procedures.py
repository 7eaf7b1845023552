"""The procedures shipped in procedures/ are valid, and the shipped JSON Schema matches the models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from surgsim.commands.procedure import schema_text
from surgsim.procedure import load_procedure
from surgsim.procedure.schema import CircleLine, ClipGoal, CutGoal, LabelMapSource, RetractGoal
from surgsim.scoring.geometry import distance_to_segment_mm

PROCEDURES = Path(__file__).resolve().parents[2] / "procedures"
SHIPPED = ("liver_retraction", "gallbladder_dissection", "pattern_cutting")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_procedure_is_valid(name):
    procedure = load_procedure(PROCEDURES / f"{name}.yaml").spec
    assert procedure.name == name
    assert procedure.rubric.metrics.weighted()


def test_liver_retraction_holds_the_edge_cranially_for_5_s():
    spec = load_procedure(PROCEDURES / "liver_retraction.yaml").spec
    retract = spec.steps[-1].goal
    assert isinstance(retract, RetractGoal) and retract.direction == [0.0, 0.0, 1.0] and retract.hold_s == 5
    assert spec.rubric.pass_thresholds.max_force_N == spec.force_limit_N


def test_gallbladder_dissection_uses_the_ct_label_map_and_guards_the_artery():
    procedure = load_procedure(PROCEDURES / "gallbladder_dissection.yaml")
    spec = procedure.spec
    gallbladder = next(organ for organ in spec.scene.organs if organ.name == "gallbladder")
    assert isinstance(gallbladder.source, LabelMapSource) and gallbladder.source.label == 4
    assert procedure.asset_path(gallbladder.source.path).name == "abdomen_ct_seg.nii.gz"
    kinds = [step.goal.kind for step in spec.steps]
    assert kinds == ["retract", "clip", "clip", "cut"]
    assert {zone.region for zone in spec.forbidden} == {"cystic_artery", "portal_vein_whole"}
    assert all(zone.max_force_N is None for zone in spec.forbidden)  # no contact at all
    assert isinstance(spec.steps[1].goal, ClipGoal) and spec.steps[1].goal.count == 2
    # A clip placed within tolerance of its mark must stay clear of the artery zone.
    artery = spec.scene.regions["cystic_artery"]
    for step in spec.steps[1:3]:
        mark = np.asarray(spec.scene.landmarks[step.goal.landmark].position_mm)
        clearance = distance_to_segment_mm(mark, np.asarray(artery.from_mm), np.asarray(artery.to_mm))
        assert clearance > step.goal.tolerance_mm + artery.radius_mm + 2.0


def test_pattern_cutting_cuts_a_4_cm_circle_from_a_block_sheet():
    spec = load_procedure(PROCEDURES / "pattern_cutting.yaml").spec
    assert spec.scene.organs[0].source.kind == "block" and spec.time_limit_s == 300
    cut = spec.steps[-1].goal
    assert isinstance(cut, CutGoal) and isinstance(cut.line, CircleLine) and cut.line.radius_mm == 20
    assert spec.rubric.metrics.cut_deviation_mean_mm is not None


def test_shipped_json_schema_is_up_to_date():
    shipped = (PROCEDURES / "procedure.schema.json").read_text()
    assert shipped == schema_text(), "regenerate it: surgsim schema > procedures/procedure.schema.json"
    schema = json.loads(shipped)
    assert schema["additionalProperties"] is False and "steps" in schema["required"]


@pytest.mark.parametrize("name", ["liver_retraction", "gallbladder_dissection"])
def test_ct_regions_and_landmarks_lie_on_their_organs(name):
    """The millimetre coordinates in the CT procedures were read off the label map; check they still hit it."""
    nibabel = pytest.importorskip("nibabel")
    from surgsim.procedure.schema import BoxRegion, SphereRegion

    procedure = load_procedure(PROCEDURES / f"{name}.yaml")
    spec = procedure.spec
    labels = {body.name: body.source.label for body in spec.scene.organs + spec.scene.rigid
              if isinstance(body.source, LabelMapSource)}
    image = nibabel.load(procedure.asset_path(spec.scene.organs[0].source.path))
    volume = np.asarray(image.dataobj)
    voxels_mm = {organ: nibabel.affines.apply_affine(image.affine, np.argwhere(volume == label))
                 for organ, label in labels.items()}
    for region_name, region in spec.scene.regions.items():
        if isinstance(region, BoxRegion):
            inside = np.all((voxels_mm[region.organ] >= region.min_mm) & (voxels_mm[region.organ] <= region.max_mm), 1)
        elif isinstance(region, SphereRegion):
            inside = np.linalg.norm(voxels_mm[region.organ] - region.center_mm, axis=1) <= region.radius_mm
        else:
            continue
        assert inside.sum() >= 20, f"region {region_name} holds only {inside.sum()} voxels of {region.organ}"
    to_voxel = np.linalg.inv(image.affine)
    for landmark_name, landmark in spec.scene.landmarks.items():
        index = np.rint(nibabel.affines.apply_affine(to_voxel, landmark.position_mm)).astype(int)
        assert volume[tuple(index)] == labels[landmark.organ], f"landmark {landmark_name} is off {landmark.organ}"
