"""Reading label maps: NIfTI, NRRD and DICOM agree on RAS metres; every bad input is an InputError naming the path."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import nibabel
import nrrd
import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.pixels import pack_bits
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from surgsim.errors import InputError
from surgsim.mesh.volume import SEGMENTATION_STORAGE_UID, LabelVolume, load_label_volume, parse_label_spec

TOOLS = str(Path(__file__).resolve().parents[2] / "tools")
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)
import make_phantom as phantom  # noqa: E402

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def oblique_affine(affine_mm: np.ndarray) -> np.ndarray:
    """The phantom's affine turned 25 degrees about z and 10 about x, with k running from head to feet, so that no
    reader gets away with assuming axis-aligned slices stacked along +z."""
    a, b = np.radians(25.0), np.radians(10.0)
    about_z = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    about_x = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    turned = np.array(affine_mm, dtype=float)
    turned[:3, :3] = about_x @ about_z @ affine_mm[:3, :3]
    turned[:3, 2] *= -1
    return turned


def write_dicom_seg(path: Path, labels: np.ndarray, affine_mm: np.ndarray) -> Path:
    """A minimal BINARY DICOM-SEG: one segment per label, one frame per segment and non-empty slice."""
    affine_lps = LPS_TO_RAS @ affine_mm
    column_step, row_step, slice_step = np.linalg.norm(affine_lps[:3, :3], axis=0)
    dataset = pydicom.Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.file_meta.MediaStorageSOPClassUID = SEGMENTATION_STORAGE_UID
    dataset.SOPClassUID = SEGMENTATION_STORAGE_UID
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    dataset.StudyInstanceUID, dataset.SeriesInstanceUID = generate_uid(), generate_uid()
    dataset.Modality, dataset.SegmentationType = "SEG", "BINARY"
    dataset.Rows, dataset.Columns = labels.shape[1], labels.shape[0]
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 1, 1, 0, 0
    segment_ids = [int(n) for n in np.unique(labels) if n]
    dataset.SegmentSequence = [pydicom.Dataset() for _ in segment_ids]
    for item, number in zip(dataset.SegmentSequence, segment_ids):
        item.SegmentNumber, item.SegmentLabel = number, f"label {number}"
    shared = pydicom.Dataset()
    shared.PlaneOrientationSequence = [pydicom.Dataset()]
    shared.PlaneOrientationSequence[0].ImageOrientationPatient = list(
        np.concatenate([affine_lps[:3, 0] / column_step, affine_lps[:3, 1] / row_step])
    )
    shared.PixelMeasuresSequence = [pydicom.Dataset()]
    shared.PixelMeasuresSequence[0].PixelSpacing = [row_step, column_step]
    shared.PixelMeasuresSequence[0].SliceThickness = slice_step
    dataset.SharedFunctionalGroupsSequence = [shared]
    frames, masks = [], []
    for number in segment_ids:
        for k in range(labels.shape[2]):
            mask = labels[:, :, k].T == number
            if not mask.any():
                continue  # SEG writers leave empty frames out; the reader must not need them
            frame = pydicom.Dataset()
            frame.PlanePositionSequence = [pydicom.Dataset()]
            frame.PlanePositionSequence[0].ImagePositionPatient = list(affine_lps[:3, 3] + k * affine_lps[:3, 2])
            frame.SegmentIdentificationSequence = [pydicom.Dataset()]
            frame.SegmentIdentificationSequence[0].ReferencedSegmentNumber = number
            frames.append(frame)
            masks.append(mask)
    dataset.PerFrameFunctionalGroupsSequence = frames
    dataset.NumberOfFrames = len(frames)
    dataset.PixelData = pack_bits(np.stack(masks).astype(np.uint8))
    dataset.save_as(path, enforce_file_format=True)
    return path


def write_nifti(path: Path, values: np.ndarray, spacing_mm=(1.0, 1.0, 1.0)) -> Path:
    nibabel.save(nibabel.Nifti1Image(values, np.diag([*spacing_mm, 1.0])), path)
    return path


@pytest.fixture(scope="module")
def phantom_files(tmp_path_factory):
    """The same oblique phantom as NIfTI, NRRD, a DICOM series and a DICOM-SEG, with its labels and RAS mm affine."""
    folder = tmp_path_factory.mktemp("phantom")
    labels, affine = phantom.make_phantom(size=64)
    affine = oblique_affine(affine)
    files = {
        "nifti": phantom.write_nifti(folder / "phantom.nii.gz", labels, affine),
        "nrrd": phantom.write_nrrd(folder / "phantom.nrrd", labels, affine),
        "dicom": phantom.write_dicom_series(folder / "dicom", labels, affine),
        "dicom-seg": write_dicom_seg(folder / "phantom_seg.dcm", labels, affine),
    }
    return files, labels, affine


def label_voxels_ras_m(volume: LabelVolume, label: int) -> np.ndarray:
    index = np.argwhere(volume.data == label)
    return index @ volume.affine[:3, :3].T + volume.affine[:3, 3]


# -- geometry ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["nifti", "nrrd", "dicom", "dicom-seg"])
def test_every_format_puts_each_label_at_the_same_ras_metres(phantom_files, kind):
    files, labels, affine_mm = phantom_files
    volume = load_label_volume(files[kind])
    assert volume.labels_present() == {n: int(np.count_nonzero(labels == n)) for n in (1, 2, 3)}
    np.testing.assert_allclose(volume.spacing_m(), 3e-3, rtol=1e-5)  # DICOM stores decimal strings
    assert volume.voxel_volume_m3() == pytest.approx(27e-9, rel=1e-5)
    for label in (1, 2, 3):
        expected = np.argwhere(labels == label) @ affine_mm[:3, :3].T / 1000 + affine_mm[:3, 3] / 1000
        actual = label_voxels_ras_m(volume, label)
        np.testing.assert_allclose(np.sort(actual, axis=0), np.sort(expected, axis=0), atol=1e-6)


def test_folder_holding_one_dicom_seg_reads_like_the_file(tmp_path, phantom_files):
    files, labels, _ = phantom_files
    (tmp_path / "seg").mkdir()
    (tmp_path / "seg" / "segmentation.dcm").write_bytes(files["dicom-seg"].read_bytes())
    from_folder = load_label_volume(tmp_path / "seg")
    from_file = load_label_volume(files["dicom-seg"])
    np.testing.assert_array_equal(from_folder.data, from_file.data)
    np.testing.assert_allclose(from_folder.affine, from_file.affine)


def test_nrrd_in_lps_space_is_flipped_to_ras(tmp_path):
    values = np.zeros((4, 5, 6), dtype=np.uint8)
    values[0, 0, 0] = 1
    header = {
        "space": "left-posterior-superior",
        "space directions": np.diag([0.5, 0.6, 2.0]),
        "space origin": np.array([10.0, 20.0, 30.0]),
    }
    nrrd.write(str(tmp_path / "lps.nrrd"), values, header)
    volume = load_label_volume(tmp_path / "lps.nrrd")
    np.testing.assert_allclose(volume.affine[:3, 3], [-0.010, -0.020, 0.030])
    np.testing.assert_allclose(volume.affine[:3, :3], np.diag([-0.5e-3, -0.6e-3, 2e-3]))


def test_nrrd_in_ras_space_is_kept(tmp_path):
    values = np.ones((3, 3, 3), dtype=np.uint8)
    header = {"space": "right-anterior-superior", "space directions": np.eye(3), "space origin": np.array([1.0, 2, 3])}
    nrrd.write(str(tmp_path / "ras.nrrd"), values, header)
    np.testing.assert_allclose(load_label_volume(tmp_path / "ras.nrrd").affine[:3, 3], [1e-3, 2e-3, 3e-3])


def test_nrrd_with_a_detached_header_reads_like_one_file(tmp_path, phantom_files):
    _, labels, affine = phantom_files
    nhdr = tmp_path / "phantom.nhdr"
    nrrd.write(str(nhdr), labels, nrrd.read_header(str(phantom_files[0]["nrrd"])), detached_header=True)
    volume = load_label_volume(nhdr)
    np.testing.assert_array_equal(volume.data, labels)
    np.testing.assert_allclose(volume.affine, load_label_volume(phantom_files[0]["nifti"]).affine, atol=1e-9)


def test_dicom_patient_positions_become_ras(phantom_files):
    """Against the standard itself: the first pixel of the slice lowest along the normal is at ImagePositionPatient,
    which is LPS millimetres."""
    files, _, _ = phantom_files
    slices = [pydicom.dcmread(f) for f in sorted(files["dicom"].glob("*.dcm"))]
    orientation = np.array(slices[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(orientation[:3], orientation[3:])
    lowest = min(slices, key=lambda s: np.dot(np.array(s.ImagePositionPatient, dtype=float), normal))
    lps = np.array(lowest.ImagePositionPatient, dtype=float)
    volume = load_label_volume(files["dicom"])
    np.testing.assert_allclose(volume.affine[:3, 3], [-lps[0] / 1000, -lps[1] / 1000, lps[2] / 1000], atol=1e-9)
    np.testing.assert_allclose(volume.data[:, :, 0], lowest.pixel_array.T)


def test_anisotropic_spacing_gives_the_box_its_physical_size(tmp_path):
    values = np.zeros((40, 30, 12), dtype=np.uint8)
    values[5:30, 4:24, 2:10] = 7  # 25 x 20 x 8 voxels
    volume = load_label_volume(write_nifti(tmp_path / "box.nii.gz", values, spacing_mm=(0.8, 1.2, 3.0)))
    np.testing.assert_allclose(volume.spacing_m(), [0.8e-3, 1.2e-3, 3e-3])
    box = label_voxels_ras_m(volume, 7)
    np.testing.assert_allclose(box.max(axis=0) - box.min(axis=0) + volume.spacing_m(), [0.020, 0.024, 0.024])
    assert volume.labels_present()[7] * volume.voxel_volume_m3() == pytest.approx(0.020 * 0.024 * 0.024)


def test_float_data_holding_whole_numbers_is_a_label_map(tmp_path):
    values = np.zeros((4, 4, 4), dtype=np.float32)
    values[1:3, 1:3, 1:3] = 5.0
    volume = load_label_volume(write_nifti(tmp_path / "float_labels.nii", values))
    assert volume.labels_present() == {5: 8}
    assert volume.data.dtype.kind == "u"


def test_loaded_labels_cannot_be_changed_by_accident(phantom_files):
    volume = load_label_volume(phantom_files[0]["nifti"])
    with pytest.raises(ValueError):
        volume.data[0, 0, 0] = 9


# -- label specs ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nifti_volume(phantom_files):
    return load_label_volume(phantom_files[0]["nifti"])


def test_no_spec_takes_every_label(nifti_volume):
    assert parse_label_spec(None, nifti_volume) == [("label_1", 1), ("label_2", 2), ("label_3", 3)]


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("3", [("label_3", 3)]),
        ("liver=1,gallbladder=3", [("liver", 1), ("gallbladder", 3)]),
        (" portal_vein = 2 , 3 ", [("portal_vein", 2), ("label_3", 3)]),
    ],
)
def test_spec_picks_and_names_labels(nifti_volume, spec, expected):
    assert parse_label_spec(spec, nifti_volume) == expected


@pytest.mark.parametrize("spec", ["", "liver", "liver=", "=3", "1;2", "liver=1,", "3.5", "-1", "a b=1", "1=liver"])
def test_malformed_spec_explains_the_syntax_and_lists_the_labels(nifti_volume, spec):
    with pytest.raises(InputError) as raised:
        parse_label_spec(spec, nifti_volume)
    assert raised.value.source == "--label"
    assert "liver=5,gallbladder=4" in raised.value.problem
    assert "1 (" in raised.value.problem and "voxels" in raised.value.problem


def test_spec_with_a_missing_label_lists_those_present(nifti_volume):
    with pytest.raises(InputError) as raised:
        parse_label_spec("liver=1,tumour=9", nifti_volume)
    assert raised.value.source == "--label"
    problem = raised.value.problem
    assert "label 9 is not in" in problem and str(nifti_volume.path) in problem
    for label, count in nifti_volume.labels_present().items():
        assert f"{label} ({count:,} voxels" in problem


@pytest.mark.parametrize("spec", ["liver=1,liver=3", "a=1,b=1"])
def test_spec_repeating_a_name_or_label_is_refused(nifti_volume, spec):
    with pytest.raises(InputError, match="repeats"):
        parse_label_spec(spec, nifti_volume)


# -- bad inputs -------------------------------------------------------------------------------------------------------
def _corrupt_nifti(path: Path) -> Path:
    path = path / "corrupt.nii.gz"
    path.write_bytes(np.random.default_rng(1).bytes(4096))
    return path


def _truncated_nifti(path: Path) -> Path:
    values = np.random.default_rng(2).integers(0, 5, size=(32, 32, 32), dtype=np.uint8)
    compressed = gzip.compress(write_nifti(path / "whole.nii", values).read_bytes())
    path = path / "truncated.nii.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    return path


def _all_zero(path: Path) -> Path:
    return write_nifti(path / "empty.nii.gz", np.zeros((8, 8, 8), dtype=np.uint8))


def _one_voxel_thick(path: Path) -> Path:
    return write_nifti(path / "flat.nii.gz", np.ones((8, 8, 1), dtype=np.uint8))


def _float_ct(path: Path) -> Path:
    ct = np.linspace(-1000.0, 400.0, 8 * 8 * 8, dtype=np.float32).reshape(8, 8, 8)
    return write_nifti(path / "ct.nii.gz", ct)


def _integer_ct(path: Path) -> Path:
    ct = np.full((8, 8, 8), -1000, dtype=np.int16)
    ct[2:6, 2:6, 2:6] = 40
    return write_nifti(path / "ct_int16.nii.gz", ct)


def _four_dimensional(path: Path) -> Path:
    return write_nifti(path / "series.nii.gz", np.ones((4, 4, 4, 3), dtype=np.uint8))


def _zero_spacing(path: Path) -> Path:
    header = {"space": "right-anterior-superior", "space directions": np.diag([1.0, 0.0, 1.0])}
    nrrd.write(str(path / "squashed.nrrd"), np.ones((4, 4, 4), dtype=np.uint8), header)
    return path / "squashed.nrrd"


def _nrrd_without_spacing(path: Path) -> Path:
    nrrd.write(str(path / "bare.nrrd"), np.ones((4, 4, 4), dtype=np.uint8))
    return path / "bare.nrrd"


def _dicom_with_a_missing_slice(path: Path) -> Path:
    labels, affine = phantom.make_phantom(size=32)
    folder = phantom.write_dicom_series(path / "gappy", labels, affine)
    (folder / "slice_0010.dcm").unlink()
    return folder


def _single_dicom_slice(path: Path) -> Path:
    labels, affine = phantom.make_phantom(size=32)
    folder = phantom.write_dicom_series(path / "series", labels, affine)
    return folder / "slice_0016.dcm"


def _two_dicom_series(path: Path) -> Path:
    first = phantom.write_dicom_series(path / "first", *phantom.make_phantom(size=32))
    second = phantom.write_dicom_series(path / "second", *phantom.make_phantom(size=40))
    (second / "slice_0000.dcm").rename(first / "other_series.dcm")
    return first


def _folder_without_dicom(path: Path) -> Path:
    (path / "notes").mkdir()
    (path / "notes" / "README.txt").write_text("no images here")
    return path / "notes"


@pytest.mark.parametrize(
    "make_input, expected",
    [
        (lambda p: p / "missing.nii.gz", "no such file"),
        (lambda p: (p / "mesh.stl").write_text("solid") and p / "mesh.stl", "unknown kind of label map"),
        (_corrupt_nifti, "not a readable NIfTI"),
        (_truncated_nifti, "not a readable NIfTI"),
        (_all_zero, "every voxel is 0"),
        (_one_voxel_thick, "only 1 voxel thick"),
        (_float_ct, "non-integer values"),
        (_integer_ct, "negative values"),
        (_four_dimensional, "4 axes"),
        (_zero_spacing, "zero voxel spacing"),
        (_nrrd_without_spacing, "voxel size is unknown"),
        (_dicom_with_a_missing_slice, "uneven"),
        (_single_dicom_slice, "single DICOM slice"),
        (_two_dicom_series, "2 DICOM series"),
        (_folder_without_dicom, "no DICOM image files"),
    ],
    ids=[
        "missing", "unknown-extension", "corrupt-nifti", "truncated-nifti", "all-zero", "one-voxel-thick",
        "float-ct", "integer-ct", "4d", "zero-spacing", "nrrd-no-spacing", "dicom-gap", "dicom-one-slice",
        "two-series", "no-dicom",
    ],
)
def test_bad_input_is_an_input_error_naming_the_path(tmp_path, make_input, expected):
    path = make_input(tmp_path)
    with pytest.raises(InputError) as raised:
        load_label_volume(path)
    assert raised.value.source == str(path)
    assert expected in raised.value.problem
    assert "\n" not in raised.value.problem
