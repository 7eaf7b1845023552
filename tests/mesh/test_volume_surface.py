"""Label surfaces: closed, outward, the right volume, in the same RAS place whatever format the labels came in."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import nibabel
import numpy as np
import pytest

from surgsim.errors import InputError
from surgsim.mesh.volume import LabelVolume, label_surface, load_label_volume

TOOLS = str(Path(__file__).resolve().parents[2] / "tools")
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)
import make_phantom as phantom  # noqa: E402

ABDOMEN_CT_LABELS = Path(__file__).resolve().parents[2] / "assets" / "meshes" / "abdomen_ct_seg.nii.gz"
GALLBLADDER_CT, LIVER_CT = 4, 5  # TotalSegmentator 'total' ids


def signed_volume(surface) -> float:
    """Enclosed volume by the divergence theorem: positive only when the triangles are wound outward."""
    triangles = surface.faces.reshape(-1, 4)[:, 1:]
    a, b, c = (np.asarray(surface.points)[triangles[:, k]] for k in range(3))
    return float(np.einsum("ij,ij->", a, np.cross(b, c)) / 6.0)


def assert_closed_and_outward(surface) -> None:
    assert surface.n_points > 0 and surface.is_all_triangles
    assert surface.n_open_edges == 0
    assert surface.is_manifold
    assert signed_volume(surface) > 0


def voxel_volume(volume: LabelVolume, label: int) -> float:
    return volume.labels_present()[label] * volume.voxel_volume_m3()


def labels_volume(tmp_path: Path, values: np.ndarray, affine_mm: np.ndarray) -> LabelVolume:
    return load_label_volume(phantom.write_nifti(tmp_path / "labels.nii.gz", values, affine_mm))


@pytest.fixture(scope="module")
def phantom_volumes(tmp_path_factory):
    """The phantom on a 2 mm grid, turned and with k flipped (a negative-determinant affine), in three formats."""
    folder = tmp_path_factory.mktemp("phantom")
    labels, affine = phantom.make_phantom(size=96)
    turn = np.radians(30.0)
    rotation = np.array([[np.cos(turn), -np.sin(turn), 0], [np.sin(turn), np.cos(turn), 0], [0, 0, 1]])
    affine[:3, :3] = rotation @ affine[:3, :3] @ np.diag([1.0, 1.0, -1.0])
    assert np.linalg.det(affine[:3, :3]) < 0
    return {
        "nifti": load_label_volume(phantom.write_nifti(folder / "p.nii.gz", labels, affine)),
        "nrrd": load_label_volume(phantom.write_nrrd(folder / "p.nrrd", labels, affine)),
        "dicom": load_label_volume(phantom.write_dicom_series(folder / "dicom", labels, affine)),
    }


@pytest.mark.parametrize("label", [phantom.LIVER, phantom.VESSEL, phantom.GALLBLADDER])
def test_phantom_surfaces_are_closed_outward_and_keep_the_voxel_volume(phantom_volumes, label):
    volume = phantom_volumes["nifti"]
    surface = label_surface(volume, label)
    assert_closed_and_outward(surface)
    assert signed_volume(surface) == pytest.approx(voxel_volume(volume, label), rel=0.10)


@pytest.mark.parametrize("kind", ["nrrd", "dicom"])
def test_every_format_gives_the_same_surface_in_ras(phantom_volumes, kind):
    voxel = phantom_volumes["nifti"].spacing_m().max()
    for label in (phantom.LIVER, phantom.GALLBLADDER):
        reference = label_surface(phantom_volumes["nifti"], label)
        surface = label_surface(phantom_volumes[kind], label)
        np.testing.assert_allclose(surface.bounds, reference.bounds, atol=voxel)
        np.testing.assert_allclose(surface.center_of_mass(), reference.center_of_mass(), atol=voxel)
        assert signed_volume(surface) == pytest.approx(signed_volume(reference), rel=0.01)


def test_surface_lies_where_the_voxels_are(phantom_volumes):
    volume = phantom_volumes["dicom"]
    index = np.argwhere(volume.data == phantom.GALLBLADDER)
    voxel_centroid = volume.affine[:3, :3] @ index.mean(axis=0) + volume.affine[:3, 3]
    surface = label_surface(volume, phantom.GALLBLADDER)
    np.testing.assert_allclose(surface.center_of_mass(), voxel_centroid, atol=volume.spacing_m().max() / 2)


def test_normals_point_away_from_a_convex_organ(phantom_volumes):
    surface = label_surface(phantom_volumes["nifti"], phantom.GALLBLADDER).compute_normals(
        cell_normals=False, auto_orient_normals=False, consistent_normals=False
    )
    outward = np.einsum("ij,ij->i", surface.point_data["Normals"], surface.points - surface.center_of_mass())
    assert np.all(outward > 0)


def test_anisotropic_box_has_its_physical_size(tmp_path):
    values = np.zeros((40, 30, 12), dtype=np.uint8)
    values[5:30, 4:24, 2:10] = 1  # 25 x 20 x 8 voxels of 0.8 x 1.2 x 3 mm = 20 x 24 x 24 mm
    volume = labels_volume(tmp_path, values, np.diag([0.8, 1.2, 3.0, 1.0]))
    surface = label_surface(volume, 1)
    assert_closed_and_outward(surface)
    low, high = np.array(surface.bounds).reshape(3, 2).T
    np.testing.assert_allclose(high - low, [0.020, 0.024, 0.024], atol=volume.spacing_m().max())
    assert signed_volume(surface) == pytest.approx(0.020 * 0.024 * 0.024, rel=0.10)


def test_organ_cut_by_the_scan_border_is_closed(tmp_path):
    values = np.zeros((20, 20, 20), dtype=np.uint8)
    values[:12, 4:16, 4:16] = 1  # runs out of the volume at i = 0
    volume = labels_volume(tmp_path, values, np.diag([2.0, 2.0, 2.0, 1.0]))
    surface = label_surface(volume, 1, smoothing_iterations=0)
    assert_closed_and_outward(surface)
    assert surface.bounds[0] == pytest.approx(-1e-3)  # closed half a voxel beyond the last voxel centre


def test_only_the_largest_piece_is_kept_and_its_cavities_are_filled(tmp_path, caplog):
    values = np.zeros((30, 30, 30), dtype=np.uint8)
    values[2:20, 2:20, 2:20] = 1
    values[8:12, 8:12, 8:12] = 0  # an enclosed cavity
    values[24:27, 24:27, 24:27] = 1  # an island of 27 voxels
    values[20, 20, 20] = 1  # touches the block only at a corner: a separate piece for marching cubes too
    volume = labels_volume(tmp_path, values, np.eye(4))
    with caplog.at_level(logging.WARNING, logger="surgsim.mesh.volume"):
        surface = label_surface(volume, 1, smoothing_iterations=0)
    assert "dropped 2 smaller piece(s) of 28 voxels" in caplog.text
    assert_closed_and_outward(surface)
    assert surface.connectivity().n_cells == surface.n_cells  # one shell
    assert signed_volume(surface) == pytest.approx(18**3 * 1e-9, rel=0.02)


def test_decimation_reaches_the_target_and_stays_closed(phantom_volumes):
    volume = phantom_volumes["nifti"]
    full = label_surface(volume, phantom.LIVER)
    decimated = label_surface(volume, phantom.LIVER, target_points=2000)
    assert full.n_points > 10_000
    assert decimated.n_points == pytest.approx(2000, rel=0.05)
    assert_closed_and_outward(decimated)
    assert signed_volume(decimated) == pytest.approx(signed_volume(full), rel=0.02)


def test_smoothing_removes_the_staircase_without_shrinking(phantom_volumes):
    volume = phantom_volumes["nifti"]
    raw = label_surface(volume, phantom.GALLBLADDER, smoothing_iterations=0)
    smooth = label_surface(volume, phantom.GALLBLADDER)
    assert smooth.area < raw.area * 0.95  # the voxel steps add area that smoothing takes away
    assert signed_volume(smooth) == pytest.approx(signed_volume(raw), rel=0.02)


def test_missing_label_is_an_input_error_listing_the_labels(phantom_volumes):
    with pytest.raises(InputError) as raised:
        label_surface(phantom_volumes["nifti"], 9)
    assert raised.value.source == "--label"
    assert "label 9" in raised.value.problem and "3 (" in raised.value.problem


def test_256_cubed_phantom_liver_surface_is_closed(tmp_path):
    labels, affine = phantom.make_phantom(size=256)
    affine[:3] /= 1000  # millimetres to metres
    volume = LabelVolume(data=labels, affine=affine, path=tmp_path / "phantom")
    surface = label_surface(volume, phantom.LIVER)  # its speed is measured by tools/bench_mesh.py
    assert_closed_and_outward(surface)


# -- the real CT segmentation (TotalSegmentator example, 3 mm voxels) --------------------------------------------------
@pytest.fixture(scope="module")
def abdomen_ct():
    return load_label_volume(ABDOMEN_CT_LABELS)


def test_ct_gallbladder_is_36_ml(abdomen_ct):
    surface = label_surface(abdomen_ct, GALLBLADDER_CT)
    assert_closed_and_outward(surface)
    assert signed_volume(surface) * 1e6 == pytest.approx(36.0, rel=0.15)


def test_ct_liver_cut_off_by_the_scan_is_closed(abdomen_ct):
    liver = abdomen_ct.data == LIVER_CT
    assert liver[:, :, 0].any() or liver[:, :, -1].any(), "the test needs a liver that leaves the scan"
    surface = label_surface(abdomen_ct, LIVER_CT)
    assert_closed_and_outward(surface)
    assert signed_volume(surface) == pytest.approx(voxel_volume(abdomen_ct, LIVER_CT), rel=0.10)


def test_ct_affine_is_nibabels_in_metres(abdomen_ct):
    affine_mm = nibabel.load(ABDOMEN_CT_LABELS).affine
    np.testing.assert_allclose(abdomen_ct.affine[:3], affine_mm[:3] / 1000)


def test_ct_liver_decimated_beyond_what_it_can_take_stays_closed(abdomen_ct, caplog):
    with caplog.at_level(logging.WARNING, logger="surgsim.mesh.volume"):
        surface = label_surface(abdomen_ct, LIVER_CT, target_points=50)
    assert_closed_and_outward(surface)
    assert "instead of 50" in caplog.text
