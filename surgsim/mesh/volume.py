"""Segmentation label maps (NIfTI, NRRD, DICOM) → closed organ surfaces.

Coordinates: a :class:`LabelVolume`'s affine maps voxel indices ``[i, j, k]`` to **metres in the patient's RAS
frame** (x towards the patient's right, y anterior, z superior), whatever the file stored:

- NIfTI: nibabel's affine (the sform, else the qform), which is RAS in millimetres by definition;
- NRRD: ``space directions`` and ``space origin`` in the frame that ``space`` names (``left-posterior-superior`` has
  x and y flipped, ``right-anterior-superior`` is kept);
- DICOM: the patient frame is LPS in millimetres, so x and y are flipped; the affine comes from
  ImageOrientationPatient, PixelSpacing and the slice positions.

Millimetres become metres on reading, so every surface that :func:`label_surface` returns is in the same frame and
unit as a :class:`~surgsim.mesh.model.TissueModel`.
"""

from __future__ import annotations

import logging
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import nibabel
import nrrd
import numpy as np
import pydicom
import pyvista as pv
from nibabel.filebasedimages import ImageFileError
from nibabel.spatialimages import HeaderDataError
from pydicom.errors import InvalidDicomError
from scipy import ndimage, sparse
from scipy.sparse import csgraph

from surgsim.errors import InputError

log = logging.getLogger(__name__)

MM = 1e-3
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
SEGMENTATION_STORAGE_UID = "1.2.840.10008.5.1.4.1.1.66.4"
# Face-connectivity: marching cubes keeps voxels that touch only along an edge or corner apart, so components must be
# counted the same way for "one component" to mean "one surface".
FACE_CONNECTIVITY = ndimage.generate_binary_structure(3, 1)
# Windowed-sinc pass band: low enough to remove the voxel staircase, and the filter keeps the volume regardless.
SMOOTHING_PASS_BAND = 0.01
# NRRD ``space`` values → signs that turn that frame's x, y, z into RAS.
_NRRD_SPACE_SIGNS = {
    "right-anterior-superior": (1, 1, 1),
    "ras": (1, 1, 1),
    "left-anterior-superior": (-1, 1, 1),
    "las": (-1, 1, 1),
    "left-posterior-superior": (-1, -1, 1),
    "lps": (-1, -1, 1),
    "scanner-xyz": (-1, -1, 1),  # the DICOM scanner frame, which is LPS
}
_NIFTI_SUFFIXES = (".nii", ".nii.gz")
_NRRD_SUFFIXES = (".nrrd", ".nhdr")
_DICOM_SUFFIXES = (".dcm",)
_LABEL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*")


@dataclass(frozen=True, eq=False)
class LabelVolume:
    """An integer label map: ``data[i, j, k]`` is the label of that voxel (0 is background).

    ``affine`` (4x4) maps a voxel index to RAS metres; ``path`` is the file or DICOM folder it came from.
    """

    data: np.ndarray
    affine: np.ndarray
    path: Path

    def labels_present(self) -> dict[int, int]:
        """Label id → voxel count, for every non-zero label in the volume, in increasing id order."""
        if self.data.dtype.kind == "u" and self.data.dtype.itemsize <= 2:
            counts = np.bincount(self.data.ravel())
            ids = np.flatnonzero(counts)
            counts = counts[ids]
        else:
            ids, counts = np.unique(self.data, return_counts=True)
        return {int(i): int(n) for i, n in zip(ids, counts) if i != 0}

    def spacing_m(self) -> np.ndarray:
        """Distance between neighbouring voxel centres along i, j and k [m]."""
        return np.linalg.norm(self.affine[:3, :3], axis=0)

    def voxel_volume_m3(self) -> float:
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    def __repr__(self) -> str:
        spacing_mm = ", ".join(f"{s * 1e3:.3g}" for s in self.spacing_m())
        return f"LabelVolume({self.path}, shape {self.data.shape}, spacing ({spacing_mm}) mm)"


# -- reading ---------------------------------------------------------------------------------------------------------
def load_label_volume(path: str | os.PathLike) -> LabelVolume:
    """Read a label map from ``.nii``/``.nii.gz``, ``.nrrd``/``.nhdr``, a DICOM series folder, or one DICOM-SEG file.

    Every problem with the input (missing, unreadable, not a label map, empty, flat) raises :class:`InputError`
    naming ``path``.
    """
    path = Path(path)
    name = path.name.lower()
    if path.is_dir():
        data, affine = _read_dicom_folder(path)
    elif not path.exists():
        raise InputError(path, "no such file or folder.")
    elif name.endswith(_NIFTI_SUFFIXES):
        data, affine = _read_nifti(path)
    elif name.endswith(_NRRD_SUFFIXES):
        data, affine = _read_nrrd(path)
    elif name.endswith(_DICOM_SUFFIXES):
        data, affine = _read_dicom_file(path)
    else:
        raise InputError(
            path,
            "unknown kind of label map; surgsim reads NIfTI (.nii, .nii.gz), NRRD (.nrrd, .nhdr), a folder holding "
            "one DICOM series, or a DICOM-SEG file (.dcm).",
        )
    return _validated(path, data, affine)


def _read_nifti(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        image = nibabel.load(path, mmap=False)
        values = np.asanyarray(image.dataobj)
    except (ImageFileError, HeaderDataError, OSError, EOFError, ValueError, zlib.error, MemoryError) as exc:
        raise InputError(path, f"not a readable NIfTI file: {_reason(exc)}.") from None
    header = image.header
    if not header.get_sform(coded=True)[1] and not header.get_qform(coded=True)[1]:
        log.warning("%s has no sform or qform orientation; using its voxel sizes with nibabel's default axes", path)
    return _as_labels(path, _three_dimensional(path, values)), _in_metres(image.affine)


def _read_nrrd(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        values, header = nrrd.read(str(path))
    except (nrrd.NRRDError, OSError, EOFError, ValueError, UnicodeDecodeError, zlib.error, MemoryError) as exc:
        raise InputError(path, f"not a readable NRRD file: {_reason(exc)}.") from None
    values = _three_dimensional(path, values)
    space = str(header.get("space", "")).lower()
    if space and space not in _NRRD_SPACE_SIGNS:
        raise InputError(
            path,
            f"NRRD space '{space}' is not an anatomical frame surgsim understands; expected one of "
            f"{', '.join(sorted(_NRRD_SPACE_SIGNS))}.",
        )
    if not space:
        log.warning("%s does not name its 'space'; assuming right-anterior-superior (RAS)", path)
    if "space directions" in header:
        directions = np.array(header["space directions"], dtype=float)
        if directions.shape != (3, 3) or not np.all(np.isfinite(directions)):
            raise InputError(path, f"NRRD 'space directions' must be three spatial vectors, got {directions}.")
        linear = directions.T  # the file lists one row per axis; the affine has one column per axis
    elif "spacings" in header:
        linear = np.diag(np.array(header["spacings"], dtype=float))
    else:
        raise InputError(
            path,
            "NRRD header has neither 'space directions' nor 'spacings', so the voxel size is unknown; save it with "
            "its geometry (e.g. from 3D Slicer) or as NIfTI.",
        )
    affine = np.eye(4)
    affine[:3, :3] = linear
    affine[:3, 3] = np.array(header.get("space origin", np.zeros(3)), dtype=float)
    signs = np.diag([*_NRRD_SPACE_SIGNS.get(space, (1, 1, 1)), 1.0])
    return _as_labels(path, values), _in_metres(signs @ affine)


def _read_dicom_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    dataset = _read_dicom_dataset(path)
    if dataset.get("SOPClassUID") == SEGMENTATION_STORAGE_UID:
        return _read_dicom_seg(path, dataset)
    if int(dataset.get("NumberOfFrames", 1)) > 1:
        raise InputError(
            path,
            "multi-frame DICOM images are read only when they are segmentations (DICOM-SEG); export the label map "
            "as a series of single-frame slices, NIfTI or NRRD.",
        )
    raise InputError(
        path,
        "is a single DICOM slice, only 1 voxel thick; give the folder that holds the whole series instead.",
    )


def _read_dicom_dataset(path: Path) -> pydicom.Dataset:
    try:
        return pydicom.dcmread(path)
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise InputError(path, f"not a readable DICOM file: {_reason(exc)}.") from None


def _read_dicom_folder(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    slices = []
    for file in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        try:
            dataset = pydicom.dcmread(file)
        except InvalidDicomError:
            continue  # folders often hold a README, a DICOMDIR index or thumbnails beside the images
        except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
            raise InputError(file, f"not a readable DICOM file: {_reason(exc)}.") from None
        if "PixelData" in dataset:
            slices.append(dataset)
    if not slices:
        raise InputError(folder, "folder holds no DICOM image files; point at a folder with one DICOM series.")
    series = {str(s.get("SeriesInstanceUID", "")) for s in slices}
    if len(series) > 1:
        raise InputError(
            folder,
            f"folder holds {len(series)} DICOM series; point at a folder that holds only the label-map series.",
        )
    if len(slices) == 1 and slices[0].get("SOPClassUID") == SEGMENTATION_STORAGE_UID:
        return _read_dicom_seg(folder, slices[0])
    if len(slices) == 1:
        raise InputError(folder, "folder holds a single DICOM slice, only 1 voxel thick; a label volume needs more.")
    return _stack_dicom_slices(folder, slices)


def _stack_dicom_slices(folder: Path, slices: list[pydicom.Dataset]) -> tuple[np.ndarray, np.ndarray]:
    first = slices[0]
    try:
        orientation = np.array(first.ImageOrientationPatient, dtype=float)
        pixel_spacing = np.array(first.PixelSpacing, dtype=float)
        positions = np.array([s.ImagePositionPatient for s in slices], dtype=float)
        same_grid = all(
            np.allclose(np.array(s.ImageOrientationPatient, dtype=float), orientation, atol=1e-4)
            and np.allclose(np.array(s.PixelSpacing, dtype=float), pixel_spacing)
            and (s.Rows, s.Columns) == (first.Rows, first.Columns)
            for s in slices
        )
    except (AttributeError, ValueError, TypeError) as exc:
        raise InputError(folder, f"DICOM slices lack the geometry of a 3-D series: {_reason(exc)}.") from None
    if not same_grid:
        raise InputError(folder, "DICOM slices differ in orientation, pixel spacing or size; they are not one volume.")
    row_direction, column_direction = orientation[:3], orientation[3:]
    normal = np.cross(row_direction, column_direction)
    order = np.argsort(positions @ normal)
    slices = [slices[i] for i in order]
    positions = positions[order]
    _check_even_slice_spacing(folder, positions @ normal)

    # Pixel arrays are [row, column]; the volume's i runs along a row (across columns), j down the rows.
    planes = [_dicom_pixels(folder, s).T for s in slices]
    affine = np.eye(4)
    affine[:3, 0] = row_direction * pixel_spacing[1]  # PixelSpacing is (between rows, between columns)
    affine[:3, 1] = column_direction * pixel_spacing[0]
    # The mean step from the first to the last slice keeps a gantry tilt instead of assuming slices stack on the normal.
    affine[:3, 2] = (positions[-1] - positions[0]) / (len(slices) - 1)
    affine[:3, 3] = positions[0]
    return _as_labels(folder, np.stack(planes, axis=2)), _in_metres(LPS_TO_RAS @ affine)


def _check_even_slice_spacing(folder: Path, slice_positions: np.ndarray) -> None:
    gaps = np.diff(slice_positions)
    if gaps.min() < 1e-3:
        raise InputError(folder, "two DICOM slices share one position (zero slice spacing); is the series duplicated?")
    if gaps.max() - gaps.min() > 0.01 * gaps.mean() + 1e-3:
        raise InputError(
            folder,
            f"DICOM slice spacing is uneven ({gaps.min():.3g} to {gaps.max():.3g} mm); a slice may be missing.",
        )


def _dicom_pixels(source: Path, dataset: pydicom.Dataset) -> np.ndarray:
    try:
        values = dataset.pixel_array
    except (RuntimeError, NotImplementedError, ValueError, AttributeError) as exc:
        syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", "unknown")
        raise InputError(
            source, f"cannot decode DICOM pixel data (transfer syntax {syntax}): {_reason(exc)}."
        ) from None
    slope = float(dataset.get("RescaleSlope", 1) or 1)
    intercept = float(dataset.get("RescaleIntercept", 0) or 0)
    if slope != 1 or intercept != 0:
        values = values * slope + intercept
    return values


def _read_dicom_seg(source: Path, dataset: pydicom.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """A DICOM-SEG's frames (one per segment and slice) as one label map whose labels are the segment numbers."""
    try:
        shared = dataset.SharedFunctionalGroupsSequence[0]
        frames = dataset.PerFrameFunctionalGroupsSequence
        orientation = np.array(
            _functional_group(shared, frames[0], "PlaneOrientationSequence").ImageOrientationPatient, dtype=float
        )
        measures = _functional_group(shared, frames[0], "PixelMeasuresSequence")
        pixel_spacing = np.array(measures.PixelSpacing, dtype=float)
        positions = np.array([f.PlanePositionSequence[0].ImagePositionPatient for f in frames], dtype=float)
        segment_numbers = [int(f.SegmentIdentificationSequence[0].ReferencedSegmentNumber) for f in frames]
        between_slices = float(measures.get("SpacingBetweenSlices", 0) or 0)
    except (AttributeError, IndexError, KeyError, ValueError, TypeError) as exc:
        raise InputError(source, f"DICOM-SEG lacks the geometry of a 3-D segmentation: {_reason(exc)}.") from None
    masks = _dicom_pixels(source, dataset).reshape(len(frames), dataset.Rows, dataset.Columns)
    if dataset.get("SegmentationType", "BINARY") == "FRACTIONAL":
        masks = masks > 0.5 * float(dataset.get("MaximumFractionalValue", 255))
    else:
        masks = masks > 0

    row_direction, column_direction = orientation[:3], orientation[3:]
    normal = np.cross(row_direction, column_direction)
    along_normal = positions @ normal
    distinct = np.unique(np.round(along_normal, 3))
    if between_slices <= 0 and len(distinct) > 1:
        between_slices = float(np.diff(distinct).min())  # empty slices are often left out, so take the closest pair
    if between_slices <= 0:
        raise InputError(source, "DICOM-SEG covers a single slice, only 1 voxel thick.")
    slice_index = (along_normal - distinct[0]) / between_slices
    if np.any(np.abs(slice_index - np.round(slice_index)) > 0.01):
        raise InputError(source, "DICOM-SEG frames do not lie on evenly spaced slices.")
    slice_index = np.round(slice_index).astype(int)
    in_plane = positions - np.outer(along_normal, normal)
    if np.any(np.abs(in_plane - in_plane[0]) > 1e-2):
        raise InputError(source, "DICOM-SEG frames are shifted within their planes; they do not form one volume.")

    labels = np.zeros((dataset.Columns, dataset.Rows, slice_index.max() + 1), dtype=np.uint16)
    overlapping = 0
    for mask, k, segment in zip(masks, slice_index, segment_numbers):
        plane = labels[:, :, k]
        mask = mask.T
        overlapping += int(np.count_nonzero(mask & (plane != 0) & (plane != segment)))
        plane[mask] = segment
    if overlapping:
        log.warning("%s: segments overlap in %d voxels; each takes the segment listed last", source, overlapping)
    affine = np.eye(4)
    affine[:3, 0] = row_direction * pixel_spacing[1]
    affine[:3, 1] = column_direction * pixel_spacing[0]
    affine[:3, 2] = normal * between_slices
    affine[:3, 3] = in_plane[0] + distinct[0] * normal
    return labels, _in_metres(LPS_TO_RAS @ affine)


def _functional_group(shared: pydicom.Dataset, frame: pydicom.Dataset, name: str) -> pydicom.Dataset:
    """A functional group item, which a multi-frame file may store once for all frames or per frame."""
    return (shared if name in shared else frame)[name][0]


def _reason(exc: Exception) -> str:
    """A library's exception text as one clause of an InputError paragraph."""
    return " ".join(str(exc).split()).rstrip(".") or type(exc).__name__


def _in_metres(affine_mm: np.ndarray) -> np.ndarray:
    """The same voxel-to-patient transform with millimetres as output replaced by metres."""
    affine = np.array(affine_mm, dtype=float)
    affine[:3] *= MM
    return affine


def _three_dimensional(path: Path, values: np.ndarray) -> np.ndarray:
    while values.ndim > 3 and values.shape[-1] == 1:
        values = values[..., 0]
    if values.ndim != 3:
        raise InputError(
            path, f"has {values.ndim} axes (shape {values.shape}); a label map is one 3-D volume of label ids."
        )
    return values


def _as_labels(path: Path, values: np.ndarray) -> np.ndarray:
    """The voxel values as non-negative integer label ids, or :class:`InputError` if they are an image's intensities."""
    if values.dtype.kind == "b":
        values = values.astype(np.uint8)
    elif values.dtype.kind == "f":
        fractional = ~np.isfinite(values) | (values != np.round(values))
        if fractional.any():
            example = values[fractional].flat[0]
            raise InputError(
                path,
                f"holds non-integer values (e.g. {example:g}), so it is an image such as a CT or MR scan, not a "
                "segmentation; give the label map (integer organ ids per voxel) that a segmentation tool wrote.",
            )
    elif values.dtype.kind not in "iu":
        raise InputError(path, f"holds values of type {values.dtype}; a label map holds integer organ ids.")
    if values.size == 0:
        raise InputError(path, f"holds no voxels (shape {values.shape}).")
    lowest, highest = values.min(), values.max()
    if lowest < 0:
        raise InputError(
            path,
            f"holds negative values (down to {lowest:g}), so it is an image such as a CT scan (air is -1000 HU), not "
            "a segmentation; give the label map (non-negative organ ids per voxel) that a segmentation tool wrote.",
        )
    if highest > np.iinfo(np.uint32).max:
        raise InputError(path, f"holds label ids up to {highest:g}, more than a label map uses.")
    return np.ascontiguousarray(values, dtype=np.min_scalar_type(int(highest)))


def _validated(path: Path, data: np.ndarray, affine: np.ndarray) -> LabelVolume:
    if not np.all(np.isfinite(affine)):
        raise InputError(path, "its voxel-to-patient transform holds non-finite numbers.")
    axes = "ijk"
    for axis, (count, spacing) in enumerate(zip(data.shape, np.linalg.norm(affine[:3, :3], axis=0))):
        if count < 2:
            raise InputError(
                path,
                f"is only {count} voxel thick along axis {axes[axis]} (shape {data.shape}); a label volume needs at "
                "least 2 voxels in every direction to have a surface.",
            )
        if spacing < 1e-9:
            raise InputError(path, f"has zero voxel spacing along axis {axes[axis]}; its geometry is broken.")
    if abs(np.linalg.det(affine[:3, :3])) < 1e-18:
        raise InputError(path, "its voxel axes are parallel (zero voxel volume); its geometry is broken.")
    if not data.any():
        raise InputError(path, "holds no labels: every voxel is 0 (background).")
    data.flags.writeable = False
    return LabelVolume(data=data, affine=affine, path=path)


# -- choosing labels --------------------------------------------------------------------------------------------------
def parse_label_spec(spec: str | None, volume: LabelVolume) -> list[tuple[str, int]]:
    """Turn a ``--label`` value into ``[(name, label id), ...]``.

    ``None`` takes every label present, named ``label_<id>``; ``"3"`` → ``[("label_3", 3)]``;
    ``"liver=5,gallbladder=4"`` names them. A malformed spec or a label not in ``volume`` raises
    :class:`InputError` (source ``--label``) that lists the labels the volume has.
    """
    present = volume.labels_present()
    if spec is None:
        return [(f"label_{label}", label) for label in present]
    chosen: list[tuple[str, int]] = []
    for item in spec.split(","):
        name, _, number = item.strip().rpartition("=")
        name, number = name.strip(), number.strip()
        well_formed = number.isascii() and number.isdigit() and (_LABEL_NAME.fullmatch(name) or "=" not in item)
        if not well_formed:
            raise InputError(
                "--label",
                f"cannot read '{item.strip()}' in '{spec}'; give label ids, optionally named, separated by commas, "
                f"e.g. '5' or 'liver=5,gallbladder=4'. {_describe_labels(volume, present)}",
            )
        label = int(number)
        if label not in present:
            raise InputError("--label", f"label {label} is not in {volume.path}. {_describe_labels(volume, present)}")
        chosen.append((name or f"label_{label}", label))
    for position, what in ((0, "name"), (1, "label id")):
        values = [entry[position] for entry in chosen]
        repeated = sorted({str(v) for v in values if values.count(v) > 1})
        if repeated:
            raise InputError("--label", f"'{spec}' repeats the {what} {', '.join(repeated)}; give each once.")
    return chosen


def scan_edges_touched(volume: LabelVolume, label_id: int) -> list[str]:
    """The faces of the scan that label ``label_id`` reaches ("first i slice", "last k slice", ...): an organ that
    touches one runs on outside the scan and was cut off there."""
    touched = []
    for axis, letter in enumerate("ijk"):
        for end, word in ((0, "first"), (-1, "last")):
            face = np.take(volume.data, end, axis=axis)
            if np.any(face == label_id):
                touched.append(f"{word} {letter} slice")
    return touched


def _describe_labels(volume: LabelVolume, present: dict[int, int]) -> str:
    millilitres = volume.voxel_volume_m3() * 1e6
    listing = "; ".join(f"{label} ({count:,} voxels, {count * millilitres:.4g} ml)" for label, count in present.items())
    return f"Labels in {volume.path}: {listing}."


# -- surfaces --------------------------------------------------------------------------------------------------------
def label_surface(
    volume: LabelVolume,
    label_id: int,
    *,
    smoothing_iterations: int = 20,
    target_points: int | None = None,
) -> pv.PolyData:
    """The closed, outward-wound triangle surface of one label, in RAS metres.

    Only the label's largest face-connected piece is kept (a warning reports the dropped islands) and cavities
    enclosed inside it are filled, so the result is one shell around solid tissue: a structure inside an organ is a
    label of its own. The voxel mask is padded so an organ cut off by the edge of the scan is closed flat there.
    Windowed-sinc smoothing removes the voxel staircase without shrinking the organ; ``target_points`` then
    decimates by quadric edge collapse, stopping short of the target (with a warning) where reaching it would break
    the closed surface.
    """
    present = volume.labels_present()
    if label_id not in present:
        raise InputError("--label", f"label {label_id} is not in {volume.path}. {_describe_labels(volume, present)}")
    mask, corner = _padded_label_mask(volume.data, label_id)
    solid = _largest_solid_piece(mask, label_id, volume.path)
    spacing = volume.spacing_m()
    surface = _isosurface(solid, spacing)
    if smoothing_iterations > 0:
        surface = surface.smooth_taubin(
            n_iter=smoothing_iterations, pass_band=SMOOTHING_PASS_BAND, normalize_coordinates=True
        )
    if target_points is not None and surface.n_points > target_points:
        surface = _decimated(surface, target_points, label_id, volume.path)
    # Grid-frame metres → voxel index (undo spacing, add the crop corner) → RAS metres through the affine.
    linear = volume.affine[:3, :3]
    points = (np.asarray(surface.points, dtype=np.float64) / spacing) @ linear.T
    points += linear @ corner + volume.affine[:3, 3]
    triangles = surface.faces.reshape(-1, 4)[:, 1:]
    return _closed_outward_surface(points, triangles)


def _padded_label_mask(data: np.ndarray, label_id: int) -> tuple[np.ndarray, np.ndarray]:
    """The label's bounding box as a boolean mask with one background voxel on every side, and the voxel index of
    the mask's ``[0, 0, 0]``. Cropping makes a small organ in a large scan cheap; the padding closes cut organs."""
    mask = data == label_id
    bounds = []
    for axis in range(3):
        other_axes = tuple(a for a in range(3) if a != axis)
        occupied = np.flatnonzero(mask.any(axis=other_axes))
        bounds.append(slice(occupied[0], occupied[-1] + 1))
    corner = np.array([b.start for b in bounds], dtype=float) - 1.0
    return np.pad(mask[tuple(bounds)], 1), corner


def _largest_solid_piece(mask: np.ndarray, label_id: int, source: Path) -> np.ndarray:
    pieces, count = ndimage.label(mask, structure=FACE_CONNECTIVITY)
    if count > 1:
        sizes = np.bincount(pieces.ravel())
        sizes[0] = 0
        largest = int(np.argmax(sizes))
        log.warning(
            "%s label %d: kept its largest connected piece (%d voxels) and dropped %d smaller piece(s) of %d voxels",
            source, label_id, sizes[largest], count - 1, int(sizes.sum() - sizes[largest]),
        )
        mask = pieces == largest
    background, _ = ndimage.label(~mask, structure=FACE_CONNECTIVITY)
    # The padding makes the corner voxel background and connects it to all of the outside.
    return background != background[0, 0, 0]


def _isosurface(solid: np.ndarray, spacing: np.ndarray) -> pv.PolyData:
    grid = pv.ImageData(dimensions=solid.shape, spacing=spacing)
    grid.point_data["inside"] = solid.ravel(order="F").view(np.uint8)
    return grid.contour([0.5], scalars="inside", method="flying_edges", compute_scalars=False)


def _decimated(surface: pv.PolyData, target_points: int, label_id: int, source: Path) -> pv.PolyData:
    """Quadric decimation towards ``target_points``. Pushed hard on a thin or holed shape, VTK's decimators can pinch
    an edge into a non-manifold one, so every result is checked and a failure retried with a gentler target."""
    attempt = max(int(target_points), 4)
    while attempt < surface.n_points:
        candidate = surface.decimate(1.0 - attempt / surface.n_points, volume_preservation=True)
        if not _winding_problem(candidate.faces.reshape(-1, 4)[:, 1:], candidate.n_points):
            if attempt > target_points:
                log.warning(
                    "%s label %d: decimated to %d points instead of %d; fewer would break the closed surface",
                    source, label_id, candidate.n_points, target_points,
                )
            return candidate
        attempt = int(attempt * 1.5) + 1
    log.warning("%s label %d: kept all %d points; decimating breaks the surface", source, label_id, surface.n_points)
    return surface


def _closed_outward_surface(points: np.ndarray, triangles: np.ndarray) -> pv.PolyData:
    """Drop unused points and wind the triangles so that the enclosed volume is positive (normals outward).

    Every edge must be shared by exactly two consistently wound triangles; a failure there is a bug, not bad input.
    """
    used, triangles = np.unique(triangles, return_inverse=True)
    points, triangles = points[used], triangles.reshape(-1, 3)
    problem = _winding_problem(triangles, len(points))
    if problem:
        raise RuntimeError(f"label surface is not a closed, consistently wound triangle mesh: {problem}")
    a, b, c = (points[triangles[:, k]] for k in range(3))
    if np.einsum("ij,ij->", a, np.cross(b, c)) < 0:
        triangles = triangles[:, [0, 2, 1]]
    return pv.PolyData.from_regular_faces(points, triangles)


def _winding_problem(triangles: np.ndarray, point_count: int) -> str | None:
    """What keeps the triangles from being a closed, consistently wound 2-manifold; None if nothing does."""
    if len(triangles) == 0:
        return "no triangles"
    triangle_count = len(triangles)
    # Directed edge e = side * F + t runs from corner `side` to corner `side + 1` of triangle t.
    starts = np.concatenate([triangles[:, 0], triangles[:, 1], triangles[:, 2]]).astype(np.int64)
    ends = np.concatenate([triangles[:, 1], triangles[:, 2], triangles[:, 0]]).astype(np.int64)
    forward = starts * point_count + ends
    order = np.argsort(forward)
    sorted_forward = forward[order]
    if np.any(sorted_forward[1:] == sorted_forward[:-1]):
        return "an edge is used twice in the same direction (non-manifold or inconsistently wound)"
    backward = ends * point_count + starts
    slot = np.minimum(np.searchsorted(sorted_forward, backward), len(forward) - 1)
    if np.any(sorted_forward[slot] != backward):
        return "an edge belongs to only one triangle (the surface has a hole)"
    # Around a manifold vertex the triangles form one fan: joining the two corners at each end of every shared edge
    # must leave exactly one group of corners per vertex. A pinched vertex leaves two.
    partner = order[slot]
    side, triangle = np.divmod(np.arange(len(forward)), triangle_count)
    partner_side, partner_triangle = np.divmod(partner, triangle_count)
    start_corner = 3 * triangle + side
    partner_end_corner = 3 * partner_triangle + (partner_side + 1) % 3
    corner_links = sparse.coo_matrix(
        (np.ones(len(forward)), (start_corner, partner_end_corner)), shape=(3 * triangle_count,) * 2
    )
    fans = csgraph.connected_components(corner_links, directed=False)[0]
    if fans != len(np.unique(triangles)):
        return "a vertex joins surface sheets that share no edge there (non-manifold vertex)"
    return None
