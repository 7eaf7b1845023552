"""import_model end to end: surfaces, tet meshes and label maps become sound tissue models, cached."""

from __future__ import annotations

import math
from pathlib import Path

import nibabel
import numpy as np
import pytest
import pyvista as pv

from surgsim.errors import InputError
from surgsim.mesh import cache
from surgsim.mesh.materials import MATERIALS
from surgsim.mesh.model import TissueModel
from surgsim.mesh.pipeline import PIPELINE_STAGES, import_model
from surgsim.mesh.primitives import tet_block
from surgsim.mesh.surface import clean_surface, make_watertight, read_mesh_file, signed_enclosed_volume

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "meshes"
LIVER_STL = ASSETS / "liver.stl"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("SURGSIM_CACHE_DIR", str(folder))
    return folder


def write_sphere(path: Path, radius: float) -> Path:
    pv.Sphere(radius=radius, theta_resolution=40, phi_resolution=40).save(path)
    return path


def enclosed_volume_in_metres(path: Path, metres_per_unit: float = 1.0) -> float:
    surface = make_watertight(clean_surface(read_mesh_file(path).scale(metres_per_unit), source=path), source=path)
    return signed_enclosed_volume(surface)


def assert_sound(model: TissueModel) -> None:
    """Invariants every imported model must hold."""
    assert model.consistency_problem() is None
    assert np.all(model.tet_volumes() > 0)
    assert len(np.unique(model.springs, axis=0)) == model.spring_count
    assert np.all(model.springs[:, 0] < model.springs[:, 1])
    densities = model.region_materials["density_kg_m3"][model.tet_region]
    expected_mass = float(np.sum(densities * model.tet_volumes()))
    assert model.masses.sum() == pytest.approx(expected_mass, rel=0.01)
    assert np.all(model.masses > 0)


def write_label_map(path: Path, labels: np.ndarray, spacing_mm: float = 2.0) -> Path:
    affine = np.diag([spacing_mm, spacing_mm, spacing_mm, 1.0])
    affine[:3, 3] = [-40.0, 20.0, 100.0]
    nibabel.save(nibabel.Nifti1Image(labels.astype(np.uint8), affine), path)
    return path


def two_organ_labels() -> np.ndarray:
    """A 40³ map at 2 mm: label 3 a ball of 15 mm radius, label 7 a 20 x 20 x 30 mm box beside it."""
    labels = np.zeros((40, 40, 40), dtype=np.uint8)
    i, j, k = np.meshgrid(*(np.arange(40),) * 3, indexing="ij")
    labels[(i - 12) ** 2 + (j - 20) ** 2 + (k - 20) ** 2 <= 7.5**2] = 3
    labels[24:34, 15:25, 12:27] = 7
    return labels


# -- surfaces ---------------------------------------------------------------------------------------------------------
def test_liver_surface_becomes_a_sound_liver_model():
    model = import_model(LIVER_STL, target_nodes=2500, use_cache=False)
    assert_sound(model)
    assert 0.7 * 2500 <= model.node_count <= 1.3 * 2500
    assert model.region_names == ("liver",)
    assert model.region_materials["youngs_modulus_pa"][0] == MATERIALS["liver"].youngs_modulus_pa
    assert model.volume() == pytest.approx(enclosed_volume_in_metres(LIVER_STL), rel=0.05)
    assert 0.9e-3 < model.volume() < 1.3e-3  # a 1.06 l adult liver, in m³
    assert len(model.surface_nodes) > 0 and model.region_labels.tolist() == [-1]


def test_sphere_volume_and_metadata(tmp_path):
    path = write_sphere(tmp_path / "ball.stl", 0.04)
    model = import_model(path, target_nodes=800, use_cache=False)
    assert_sound(model)
    assert model.volume() == pytest.approx(4 / 3 * math.pi * 0.04**3, rel=0.05)
    assert model.region_names == ("ball",)  # no material in the name: generic, named after the file
    assert model.region_materials["density_kg_m3"][0] == MATERIALS["generic"].density_kg_m3
    assert model.metadata["source"] == "ball.stl"
    assert model.metadata["source_sha256"] == cache.input_sha256(path)
    assert model.metadata["parameters"]["target_nodes"] == 800


def test_millimetre_surface_is_recognised_and_scale_and_units_apply(tmp_path, caplog):
    path = write_sphere(tmp_path / "ball_mm.stl", 40.0)
    with caplog.at_level("INFO", logger="surgsim"):
        guessed = import_model(path, target_nodes=300, use_cache=False)
    assert "millimetres" in caplog.text
    assert guessed.volume() == pytest.approx(4 / 3 * math.pi * 0.04**3, rel=0.05)
    in_cm = import_model(path, target_nodes=300, units="cm", use_cache=False)
    assert in_cm.volume() == pytest.approx(4 / 3 * math.pi * 0.4**3, rel=0.05)
    scaled = import_model(path, target_nodes=300, scale=0.0005, use_cache=False)
    assert scaled.volume() == pytest.approx(4 / 3 * math.pi * 0.02**3, rel=0.05)


def test_material_comes_from_the_file_name_unless_given(tmp_path):
    path = write_sphere(tmp_path / "my_gallbladder_v2.stl", 0.02)
    guessed = import_model(path, target_nodes=200, use_cache=False)
    assert guessed.region_names == ("gallbladder",)
    assert guessed.metadata["region_materials"] == ["gallbladder"]
    given = import_model(path, target_nodes=200, material="fat", use_cache=False)
    assert given.region_names == ("fat",)
    assert given.region_materials["density_kg_m3"][0] == MATERIALS["fat"].density_kg_m3
    with pytest.raises(InputError) as raised:
        import_model(path, material="bone")
    assert raised.value.source == "--material"


def test_progress_reports_every_stage_in_order(tmp_path):
    stages = []
    import_model(write_sphere(tmp_path / "ball.stl", 0.03), target_nodes=200, progress=stages.append)
    assert stages == list(PIPELINE_STAGES)


# -- tetrahedral meshes -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("extension", [".vtu", ".vtk"])
def test_tet_mesh_is_used_as_it_is(tmp_path, extension):
    block = tet_block(size_m=(40.0, 20.0, 20.0), divisions=(4, 2, 2))  # numbers in mm, as a file would hold them
    grid = pv.UnstructuredGrid({pv.CellType.TETRA: block.tets}, block.positions)
    path = tmp_path / f"liver_block{extension}"
    grid.save(path)
    stages = []
    model = import_model(path, units="mm", progress=stages.append, use_cache=False)
    assert_sound(model)
    assert "tetrahedralize" not in stages
    assert (model.node_count, model.tet_count) == (block.node_count, block.tet_count)
    assert np.allclose(np.sort(model.positions, axis=0), np.sort(block.positions * 1e-3, axis=0))
    assert model.volume() == pytest.approx(0.04 * 0.02 * 0.02)
    assert model.region_names == ("liver",)


def test_tet_mesh_with_flat_tets_is_refused(tmp_path):
    points = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=float)
    grid = pv.UnstructuredGrid({pv.CellType.TETRA: np.array([[0, 1, 2, 3], [0, 1, 2, 4]])}, points)
    path = tmp_path / "flat.vtu"
    grid.save(path)
    with pytest.raises(InputError, match="zero volume") as raised:
        import_model(path, units="m")
    assert raised.value.source == str(path)


# -- label maps -------------------------------------------------------------------------------------------------------
def test_label_map_gives_one_region_per_label(tmp_path):
    path = write_label_map(tmp_path / "organs.nii.gz", two_organ_labels())
    model = import_model(path, labels="liver=3,gallbladder=7", target_nodes=1200, use_cache=False)
    assert_sound(model)
    assert model.region_names == ("liver", "gallbladder")
    assert model.region_labels.tolist() == [3, 7]
    assert model.region_materials["youngs_modulus_pa"].tolist() == [
        MATERIALS["liver"].youngs_modulus_pa,
        MATERIALS["gallbladder"].youngs_modulus_pa,
    ]
    ball_volume = 4 / 3 * math.pi * 0.015**3
    box_volume = 0.02 * 0.02 * 0.03
    volumes = [model.tet_volumes()[model.tet_region == r].sum() for r in range(2)]
    assert volumes[0] == pytest.approx(ball_volume, rel=0.12)
    assert volumes[1] == pytest.approx(box_volume, rel=0.12)
    assert 0.7 * 1200 <= model.node_count <= 1.3 * 1200
    # The map's affine puts voxel [0, 0, 0] at (-40, 20, 100) mm; the ball's centre is voxel (12, 20, 20).
    ball_centre = model.positions[model.node_region == 0].mean(axis=0)
    assert ball_centre == pytest.approx([-0.016, 0.060, 0.140], abs=0.002)


def test_thin_label_keeps_its_shape_and_takes_nodes_from_the_others(tmp_path):
    labels = np.zeros((48, 48, 48), dtype=np.uint8)
    i, j, k = np.meshgrid(*(np.arange(48),) * 3, indexing="ij")
    labels[(i - 24) ** 2 + (j - 16) ** 2 + (k - 24) ** 2 <= 14**2] = 1  # a ball of 28 mm radius
    labels[4:44, 36:39, 22:25] = 2  # a rod of 80 x 6 x 6 mm: 0.5 % of the volume
    path = write_label_map(tmp_path / "ball_and_rod.nii.gz", labels)
    model = import_model(path, target_nodes=1500, use_cache=False)
    assert_sound(model)
    rod_volume = model.tet_volumes()[model.tet_region == 1].sum()
    assert rod_volume == pytest.approx(40 * 3 * 3 * 0.002**3, rel=0.25)
    assert np.count_nonzero(model.node_region == 1) > 0.05 * model.node_count  # far above its volume share
    assert 0.7 * 1500 <= model.node_count <= 1.3 * 1500


def test_one_material_for_every_label_and_default_labels(tmp_path):
    path = write_label_map(tmp_path / "organs.nii.gz", two_organ_labels())
    model = import_model(path, material="fat", target_nodes=600, use_cache=False)
    assert model.region_names == ("label_3", "label_7")
    assert np.all(model.region_materials["density_kg_m3"] == MATERIALS["fat"].density_kg_m3)


def test_absent_label_lists_the_labels_present(tmp_path):
    path = write_label_map(tmp_path / "organs.nii.gz", two_organ_labels())
    with pytest.raises(InputError) as raised:
        import_model(path, labels="liver=5")
    assert raised.value.source == "--label"
    assert "3" in raised.value.problem and "7" in raised.value.problem


def test_empty_label_map_is_refused_naming_it(tmp_path):
    path = write_label_map(tmp_path / "empty.nii.gz", np.zeros((10, 10, 10), dtype=np.uint8))
    with pytest.raises(InputError) as raised:
        import_model(path)
    assert "empty.nii.gz" in raised.value.source


def test_ct_example_gallbladder_and_liver():
    model = import_model(ASSETS / "abdomen_ct_seg.nii.gz", labels="liver=5,gallbladder=4", use_cache=False)
    assert_sound(model)
    assert model.region_labels.tolist() == [5, 4]
    gallbladder_ml = model.tet_volumes()[model.tet_region == 1].sum() * 1e6
    assert 10 < gallbladder_ml < 100


# -- options that do not fit the input -------------------------------------------------------------------------------
def test_options_that_do_not_apply_are_refused(tmp_path):
    surface = write_sphere(tmp_path / "ball.stl", 0.03)
    label_map = write_label_map(tmp_path / "organs.nii.gz", two_organ_labels())
    with pytest.raises(InputError) as raised:
        import_model(surface, labels="3")
    assert raised.value.source == "--label"
    with pytest.raises(InputError) as raised:
        import_model(label_map, units="mm")
    assert raised.value.source == "--units/--scale"
    with pytest.raises(InputError) as raised:
        import_model(surface, smoothing=-1)
    assert raised.value.source == "--smoothing"


def test_unknown_extension_and_missing_file(tmp_path):
    unknown = tmp_path / "organ.xyz"
    unknown.write_text("1 2 3\n")
    with pytest.raises(InputError, match="unknown file type") as raised:
        import_model(unknown)
    assert raised.value.source == str(unknown)
    with pytest.raises(InputError, match="no such file") as raised:
        import_model(tmp_path / "absent.stl")
    assert raised.value.source == str(tmp_path / "absent.stl")


def test_target_over_the_limit_is_refused_before_reading(tmp_path):
    with pytest.raises(InputError) as raised:
        import_model(tmp_path / "absent.stl", target_nodes=5_000_000)
    assert raised.value.source == "--target-nodes"


# -- cache ------------------------------------------------------------------------------------------------------------
def test_cache_hit_skips_meshing_and_is_identical(tmp_path, private_cache):
    path = write_sphere(tmp_path / "ball.stl", 0.04)
    first = import_model(path, target_nodes=1500)
    assert len(list(private_cache.glob("*.npz"))) == 1
    stages = []
    second = import_model(path, target_nodes=1500, progress=stages.append)
    assert stages == ["read", "cached"]  # no surface, repair or tetrahedralize stage ran
    for field in ("positions", "tets", "springs", "rest_lengths", "masses", "surface_triangles", "node_region"):
        assert np.array_equal(getattr(first, field), getattr(second, field)), field
    assert second.metadata == first.metadata


def test_cache_key_follows_input_bytes_and_parameters(tmp_path, private_cache):
    path = write_sphere(tmp_path / "ball.stl", 0.04)
    import_model(path, target_nodes=300)
    import_model(path, target_nodes=400)
    import_model(path, target_nodes=300, material="liver")
    assert len(list(private_cache.glob("*.npz"))) == 3
    write_sphere(path, 0.03)  # same name, other bytes
    stages = []
    model = import_model(path, target_nodes=300, progress=stages.append)
    assert "cached" not in stages
    assert model.volume() == pytest.approx(4 / 3 * math.pi * 0.03**3, rel=0.05)


def test_corrupt_cache_entry_is_rebuilt_silently(tmp_path, private_cache):
    path = write_sphere(tmp_path / "ball.stl", 0.04)
    original = import_model(path, target_nodes=300)
    (entry,) = private_cache.glob("*.npz")
    entry.write_bytes(b"PK\x03\x04 this is no longer a zip file")
    stages = []
    rebuilt = import_model(path, target_nodes=300, progress=stages.append)
    assert "cached" not in stages
    assert np.array_equal(rebuilt.tets, original.tets)
    assert TissueModel.load(entry).node_count == original.node_count  # the entry was written again


def test_no_cache_neither_reads_nor_writes_it(tmp_path, private_cache):
    path = write_sphere(tmp_path / "ball.stl", 0.04)
    import_model(path, target_nodes=300, use_cache=False)
    assert not private_cache.exists() or not list(private_cache.iterdir())


def test_unwritable_cache_folder_only_costs_the_speed_up(tmp_path, monkeypatch):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("SURGSIM_CACHE_DIR", str(blocker / "models"))
    model = import_model(write_sphere(tmp_path / "ball.stl", 0.04), target_nodes=300)
    assert model.node_count > 0


def test_folder_digest_covers_every_file_in_sorted_order(tmp_path):
    series = tmp_path / "series"
    series.mkdir()
    (series / "b.dcm").write_bytes(b"second")
    (series / "a.dcm").write_bytes(b"first")
    digest = cache.input_sha256(series)
    assert digest == cache.input_sha256(series)
    (series / "a.dcm").write_bytes(b"changed")
    assert cache.input_sha256(series) != digest
