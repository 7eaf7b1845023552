"""tools/make_phantom.py: the same organs in millimetres at every resolution, deterministic, written atomically."""

from __future__ import annotations

import sys
from pathlib import Path

import nibabel
import numpy as np
import pytest

TOOLS = str(Path(__file__).resolve().parents[2] / "tools")
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)
import make_phantom as phantom  # noqa: E402


def physical_extent_mm(labels: np.ndarray, affine: np.ndarray, label: int) -> np.ndarray:
    """Size of the label's voxel block along each axis: voxel count between the outermost voxels times spacing."""
    index = np.argwhere(labels == label)
    return (index.max(axis=0) - index.min(axis=0) + 1) * np.diag(affine)[:3]


def centre_ras_mm(labels: np.ndarray, affine: np.ndarray, label: int) -> np.ndarray:
    return affine[:3, :3] @ np.argwhere(labels == label).mean(axis=0) + affine[:3, 3]


def test_default_grid_is_128_cubed_at_1_5_mm_with_three_labels():
    labels, affine = phantom.make_phantom()
    assert labels.shape == (128, 128, 128) and labels.dtype == np.uint8
    np.testing.assert_allclose(np.diag(affine)[:3], 1.5)
    assert set(np.unique(labels)) == {0, phantom.LIVER, phantom.VESSEL, phantom.GALLBLADDER}


def test_liver_is_about_18_by_15_by_12_cm():
    labels, affine = phantom.make_phantom()
    np.testing.assert_allclose(physical_extent_mm(labels, affine, phantom.LIVER), [180, 150, 120], rtol=0.05)


def test_vessel_is_8_mm_across_and_leaves_the_liver_on_both_sides():
    labels, affine = phantom.make_phantom(size=192)
    assert physical_extent_mm(labels, affine, phantom.VESSEL)[0] == pytest.approx(8.0, abs=2.0)
    vessel_y = np.argwhere(labels == phantom.VESSEL)[:, 1]
    liver_y = np.argwhere(labels == phantom.LIVER)[:, 1]
    assert vessel_y.min() < liver_y.min() and vessel_y.max() > liver_y.max()


def test_gallbladder_holds_36_ml():
    labels, affine = phantom.make_phantom()
    millilitres = np.count_nonzero(labels == phantom.GALLBLADDER) * np.prod(np.diag(affine)[:3]) / 1000.0
    assert millilitres == pytest.approx(36.0, rel=0.05)


@pytest.mark.parametrize(
    "size, spacing_mm", [(64, None), (None, (0.8, 1.2, 3.0)), (100, (2.0, 2.0, 2.0))], ids=["coarse", "aniso", "both"]
)
def test_every_resolution_samples_the_same_organs(size, spacing_mm):
    reference_labels, reference_affine = phantom.make_phantom()
    labels, affine = phantom.make_phantom(size, spacing_mm)
    coarsest = max(np.diag(affine)[:3].max(), 1.5)
    for label in (phantom.LIVER, phantom.GALLBLADDER):
        np.testing.assert_allclose(
            physical_extent_mm(labels, affine, label),
            physical_extent_mm(reference_labels, reference_affine, label),
            atol=2 * coarsest,
        )
        np.testing.assert_allclose(
            centre_ras_mm(labels, affine, label),
            centre_ras_mm(reference_labels, reference_affine, label),
            atol=coarsest,
        )


def test_anisotropic_spacing_keeps_the_field_of_view():
    labels, affine = phantom.make_phantom(spacing_mm=(0.8, 1.2, 3.0))
    assert labels.shape == (240, 160, 64)
    np.testing.assert_allclose(np.diag(affine)[:3], (0.8, 1.2, 3.0))


def test_is_deterministic():
    first, first_affine = phantom.make_phantom(size=48)
    second, second_affine = phantom.make_phantom(size=48)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first_affine, second_affine)


def test_refuses_a_grid_too_small_for_the_organs():
    with pytest.raises(ValueError, match="less than"):
        phantom.make_phantom(size=64, spacing_mm=(1.0, 1.0, 1.0))


def test_cli_writes_nifti_with_the_phantom_geometry(tmp_path):
    output = tmp_path / "out" / "phantom.nii.gz"
    assert phantom.main(["--size", "48", "-o", str(output)]) == 0
    image = nibabel.load(output)
    labels, affine = phantom.make_phantom(size=48)
    np.testing.assert_array_equal(np.asarray(image.dataobj), labels)
    np.testing.assert_allclose(image.affine, affine)
    assert int(image.header["sform_code"]) == 1
    assert [p.name for p in output.parent.iterdir()] == ["phantom.nii.gz"]  # no temporary file left behind


def test_cli_writes_nrrd_and_dicom(tmp_path):
    assert phantom.main(["--size", "32", "-o", str(tmp_path / "phantom.nrrd")]) == 0
    assert phantom.main(["--size", "32", "-o", str(tmp_path / "dicom")]) == 0
    assert (tmp_path / "phantom.nrrd").is_file()
    assert len(list((tmp_path / "dicom").glob("*.dcm"))) == 32


def test_cli_refuses_an_unknown_output_format(tmp_path, capsys):
    with pytest.raises(SystemExit):
        phantom.main(["--size", "32", "-o", str(tmp_path / "phantom.stl")])
    assert ".nii.gz" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_dicom_writer_refuses_a_non_empty_folder_and_leaves_no_temporary(tmp_path):
    labels, affine = phantom.make_phantom(size=32)
    target = tmp_path / "series"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(OSError):
        phantom.write_dicom_series(target, labels, affine)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["series"]
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
