"""A synthetic abdominal label map for tests and demos: a liver with a vessel through it and a gallbladder beneath.

Labels: 1 liver (an ellipsoid, thicker on the right, with low-frequency bumps; about 18 x 15 x 12 cm), 2 vessel
(a curved tube of 8 mm diameter that crosses the liver from back to front and leaves it on both sides), 3 gallbladder
(an ellipsoid of 36 ml set into the liver's underside). The shapes are defined in millimetres, so every grid size and
spacing samples the same organs; nothing is random.

    python tools/make_phantom.py [--size N] [--spacing-mm X Y Z] -o OUT

OUT ending in ``.nii.gz``/``.nii`` is written as NIfTI, ``.nrrd`` as NRRD (LPS, as 3D Slicer writes it), and a name
without an extension as a folder holding a DICOM series (one CT slice per file). Importable: :func:`make_phantom`
returns the labels and their RAS millimetre affine, and the ``write_*`` functions write any label array.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import nibabel
import nrrd
import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from surgsim.fileio import atomic_output

LIVER, VESSEL, GALLBLADDER = 1, 2, 3
FIELD_OF_VIEW_MM = 192.0
DEFAULT_SIZE = 128
# Where the centre of the grid lies in the patient (RAS mm); off the origin so that translations get exercised.
GRID_CENTRE_RAS_MM = np.array([60.0, 15.0, -40.0])

LIVER_SEMI_AXES_MM = np.array([90.0, 75.0, 66.0])
VESSEL_RADIUS_MM = 4.0
# The vessel's centreline is an arc of a circle in the plane x = VESSEL_ARC_CENTRE_MM[0].
VESSEL_ARC_CENTRE_MM = np.array([10.0, 0.0, -160.0])
VESSEL_ARC_RADIUS_MM = 170.0
VESSEL_HALF_LENGTH_Y_MM = 88.0
GALLBLADDER_CENTRE_MM = np.array([35.0, -25.0, -56.0])
GALLBLADDER_SEMI_AXES_MM = np.array([15.0, 40.0, 14.3])  # 4/3 pi abc = 36 ml
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def make_phantom(
    size: int | None = None, spacing_mm: Sequence[float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The phantom's labels ``[i, j, k]`` (uint8) and affine (4x4, voxel index → RAS millimetres).

    ``size`` voxels per axis over a 192 mm field of view (default 128, i.e. 1.5 mm); ``spacing_mm`` alone sets the
    voxel size per axis (anisotropic allowed) and the grid covers the same field of view; both together give a
    ``size``-cubed grid at that spacing, which must still hold the organs.
    """
    if spacing_mm is None:
        shape = np.full(3, size or DEFAULT_SIZE)
        spacing = np.full(3, FIELD_OF_VIEW_MM / shape[0])
    else:
        spacing = np.asarray(spacing_mm, dtype=float)
        if spacing.shape != (3,) or np.any(spacing <= 0):
            raise ValueError(f"spacing_mm must be three positive numbers, got {spacing_mm}")
        shape = np.full(3, size) if size else np.ceil(FIELD_OF_VIEW_MM / spacing - 1e-9).astype(int)
        too_small = shape * spacing < FIELD_OF_VIEW_MM - 1e-6
        if np.any(too_small):
            raise ValueError(
                f"a {size}-voxel grid at {spacing.tolist()} mm spans {(shape * spacing).tolist()} mm, less than the "
                f"{FIELD_OF_VIEW_MM:g} mm the phantom needs; use a larger size or spacing"
            )
    if np.any(shape < 16):
        raise ValueError(f"size {shape.min()} is too coarse to resolve the vessel; use at least 16 voxels per axis")

    # Organ coordinates (mm from the grid centre) of each voxel centre, one axis at a time so they broadcast.
    x, y, z = (spacing[a] * (np.arange(shape[a]) - (shape[a] - 1) / 2.0) for a in range(3))
    labels = np.zeros(tuple(shape), dtype=np.uint8)
    slab = 16  # slices at a time keep the float temporaries of a 512-cubed grid small
    for start in range(0, shape[2], slab):
        labels[:, :, start : start + slab] = _labels_at(
            x[:, None, None], y[None, :, None], z[None, None, start : start + slab]
        )
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = GRID_CENTRE_RAS_MM - spacing * (shape - 1) / 2.0
    return labels, affine


def _labels_at(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    u, v = x / LIVER_SEMI_AXES_MM[0], y / LIVER_SEMI_AXES_MM[1]
    # The right lobe (+x) is the thick one; the bumps keep the outline from being a plain ellipsoid.
    w = z / (LIVER_SEMI_AXES_MM[2] * (0.85 + 0.15 * u))
    bumps = 1.0 + 0.06 * np.sin(2.5 * u + 0.5) * np.cos(2.0 * v) + 0.04 * np.cos(3.0 * w - 1.0)
    liver = u**2 + v**2 + w**2 < bumps**2

    gallbladder = np.sum(
        ((np.stack(np.broadcast_arrays(x, y, z), axis=-1) - GALLBLADDER_CENTRE_MM) / GALLBLADDER_SEMI_AXES_MM) ** 2,
        axis=-1,
    ) < 1.0

    across = y - VESSEL_ARC_CENTRE_MM[1]
    up = z - VESSEL_ARC_CENTRE_MM[2]
    from_centreline = np.hypot(np.hypot(across, up) - VESSEL_ARC_RADIUS_MM, x - VESSEL_ARC_CENTRE_MM[0])
    along = np.arctan2(across, up)
    vessel = (from_centreline < VESSEL_RADIUS_MM) & (
        np.abs(along) < math.asin(VESSEL_HALF_LENGTH_Y_MM / VESSEL_ARC_RADIUS_MM)
    )

    labels = np.where(liver, LIVER, 0)
    labels = np.where(gallbladder, GALLBLADDER, labels)
    return np.where(vessel, VESSEL, labels).astype(np.uint8)


# -- writers ---------------------------------------------------------------------------------------------------------
def write_nifti(path: str | os.PathLike, labels: np.ndarray, affine_mm: np.ndarray) -> Path:
    """NIfTI-1 with the affine as both sform and qform (scanner frame, millimetres)."""
    image = nibabel.Nifti1Image(labels, affine_mm)
    image.header.set_xyzt_units("mm")
    image.set_sform(affine_mm, code="scanner")
    image.set_qform(affine_mm, code="scanner")
    name = Path(path).name
    # nibabel chooses the format from the whole double extension, which the temporary file must keep.
    with atomic_output(path, suffix=".nii.gz" if name.endswith(".nii.gz") else ".nii") as tmp:
        nibabel.save(image, tmp)
    return Path(path)


def write_nrrd(path: str | os.PathLike, labels: np.ndarray, affine_mm: np.ndarray) -> Path:
    """NRRD in ``left-posterior-superior`` space, as 3D Slicer writes segmentations."""
    affine_lps = LPS_TO_RAS @ affine_mm
    header = {
        "space": "left-posterior-superior",
        "space directions": affine_lps[:3, :3].T,  # one row per axis
        "space origin": affine_lps[:3, 3],
        "kinds": ["domain", "domain", "domain"],
        "encoding": "gzip",
    }
    with atomic_output(path, suffix=".nrrd") as tmp:
        nrrd.write(str(tmp), labels, header)
    return Path(path)


def write_dicom_series(folder: str | os.PathLike, labels: np.ndarray, affine_mm: np.ndarray) -> Path:
    """One uncompressed CT slice per ``k`` in a new folder, geometry in the DICOM patient frame (LPS).

    The folder appears complete or not at all; an existing, non-empty ``folder`` is refused.
    """
    folder = Path(folder)
    affine_lps = LPS_TO_RAS @ affine_mm
    # Deterministic UIDs: writing the same labels twice gives identical files.
    uid_seed = [hashlib.sha256(np.ascontiguousarray(labels)).hexdigest(), affine_mm.tobytes().hex()]
    study, series, frame_of_reference = (generate_uid(entropy_srcs=[*uid_seed, role]) for role in ("st", "se", "for"))
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        for k in range(labels.shape[2]):
            _dicom_slice(labels, affine_lps, k, uid_seed, study, series, frame_of_reference).save_as(
                tmp / f"slice_{k:04d}.dcm", enforce_file_format=True
            )
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _dicom_slice(
    labels: np.ndarray, affine_lps: np.ndarray, k: int, uid_seed: list[str], study: str, series: str, frame: str
) -> pydicom.Dataset:
    column_step, row_step = np.linalg.norm(affine_lps[:3, :2], axis=0)
    orientation = np.concatenate([affine_lps[:3, 0] / column_step, affine_lps[:3, 1] / row_step])
    dataset = pydicom.Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.file_meta.MediaStorageSOPClassUID = CTImageStorage
    dataset.SOPClassUID = CTImageStorage
    dataset.SOPInstanceUID = generate_uid(entropy_srcs=[*uid_seed, str(k)])
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.StudyInstanceUID, dataset.SeriesInstanceUID, dataset.FrameOfReferenceUID = study, series, frame
    dataset.Modality = "CT"
    dataset.PatientName, dataset.PatientID = "Phantom^Surgsim", "surgsim-phantom"
    dataset.SeriesDescription = "surgsim phantom labels"
    dataset.InstanceNumber = k + 1
    dataset.ImageOrientationPatient = [f"{value:.6f}" for value in orientation]
    dataset.ImagePositionPatient = [f"{value:.6f}" for value in affine_lps[:3, 3] + k * affine_lps[:3, 2]]
    dataset.PixelSpacing = [f"{row_step:.6f}", f"{column_step:.6f}"]  # between rows, between columns
    dataset.SliceThickness = f"{np.linalg.norm(affine_lps[:3, 2]):.6f}"
    dataset.Rows, dataset.Columns = labels.shape[1], labels.shape[0]
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 16, 16, 15, 0
    dataset.RescaleSlope, dataset.RescaleIntercept = 1, 0
    # A slice's pixels are [row, column], i.e. the label plane [i, j] transposed.
    dataset.PixelData = np.ascontiguousarray(labels[:, :, k].T, dtype=np.uint16).tobytes()
    return dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, help=f"voxels per axis (default {DEFAULT_SIZE}, or from --spacing-mm)")
    parser.add_argument("--spacing-mm", type=float, nargs=3, metavar=("X", "Y", "Z"), help="voxel size per axis")
    parser.add_argument("-o", "--output", required=True, type=Path, help="OUT.nii.gz, OUT.nrrd or a DICOM folder")
    args = parser.parse_args(argv)
    try:
        labels, affine = make_phantom(args.size, args.spacing_mm)
    except ValueError as exc:
        parser.error(str(exc))
    name = args.output.name.lower()
    if name.endswith((".nii.gz", ".nii")):
        write_nifti(args.output, labels, affine)
    elif name.endswith(".nrrd"):
        write_nrrd(args.output, labels, affine)
    elif not args.output.suffix:
        write_dicom_series(args.output, labels, affine)
    else:
        parser.error(f"{args.output}: give .nii.gz, .nii, .nrrd or a folder name without an extension")
    print(f"{args.output}: {labels.shape} voxels of {np.diag(affine)[:3]} mm, labels {np.unique(labels).tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
