"""A coarser resolution takes its nodes from the organs no step works on first."""

from __future__ import annotations

from pathlib import Path

import pytest

from surgsim.procedure import load_procedure
from surgsim.procedure.scene_builder import BACKGROUND_FLOOR_SHARE, operated_organs, organ_target_nodes

PROCEDURES = Path(__file__).resolve().parents[2] / "procedures"


@pytest.fixture(scope="module")
def gallbladder():
    return load_procedure(PROCEDURES / "gallbladder_dissection.yaml").spec


def test_the_organs_a_step_works_on_are_found(gallbladder):
    assert operated_organs(gallbladder) == {"gallbladder"}  # its clips, cut and retraction are all on the gallbladder
    liver = load_procedure(PROCEDURES / "liver_retraction.yaml").spec
    assert operated_organs(liver) == {"liver"}


@pytest.mark.parametrize("resolution", [0.7, 0.5, 0.35, 0.25])
def test_budget_is_kept_and_the_worked_organ_is_coarsened_last(gallbladder, resolution):
    own = {organ.name: organ.target_nodes for organ in gallbladder.scene.organs}
    targets = organ_target_nodes(gallbladder, resolution)
    assert sum(targets.values()) == pytest.approx(resolution * sum(own.values()), abs=2)
    liver_share = targets["liver"] / own["liver"]
    gallbladder_share = targets["gallbladder"] / own["gallbladder"]
    assert gallbladder_share >= liver_share
    assert gallbladder_share <= 1.0 and liver_share >= BACKGROUND_FLOOR_SHARE - 1e-9


def test_full_resolution_is_every_organs_own(gallbladder):
    assert organ_target_nodes(gallbladder, 1.0) == {organ.name: organ.target_nodes for organ in gallbladder.scene.organs}


def test_at_a_budget_below_the_floor_every_organ_takes_the_same_share(gallbladder):
    own = {organ.name: organ.target_nodes for organ in gallbladder.scene.organs}
    targets = organ_target_nodes(gallbladder, 0.1)
    assert targets["liver"] / own["liver"] == pytest.approx(targets["gallbladder"] / own["gallbladder"], rel=0.02)
