"""Cache of imported tissue models, so that importing the same input with the same parameters again is instant.

Entries live in ``$SURGSIM_CACHE_DIR`` (default ``~/.cache/surgsim/models/``) as ``<key>.npz`` model files. The key
is the sha256 of the input's bytes, the import parameters, the model FORMAT_VERSION and the surgsim version, so a
changed input, a changed parameter or a new surgsim never returns a stale model. Each entry carries the sha256 of its
own content (:func:`content_sha256`, in its metadata as ``cache_content_sha256``); an entry whose content no longer
matches it (damaged on disk, or edited: a liver of 63,683 ml weighing 63.7 g) is never served. The cache is an
optimisation only: an unreadable or mismatching entry is deleted and rebuilt, and a cache folder that cannot be
written is skipped with a log message.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from surgsim import __version__
from surgsim.errors import InputError
from surgsim.fileio import OutputError
from surgsim.mesh.model import ARRAY_FIELDS, FORMAT_VERSION, MATERIAL_PROPERTIES, TissueModel

LOG = logging.getLogger(__name__)

CACHE_DIR_VARIABLE = "SURGSIM_CACHE_DIR"
CONTENT_DIGEST_KEY = "cache_content_sha256"
_READ_CHUNK_BYTES = 1 << 20


def cache_dir() -> Path:
    configured = os.environ.get(CACHE_DIR_VARIABLE)
    return Path(configured) if configured else Path.home() / ".cache" / "surgsim" / "models"


def input_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes; for a folder (a DICOM series), of every file in it, in sorted path order.

    A folder's digest covers each file's relative path as well, so renaming or moving slices changes it.
    """
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            digest.update(file.relative_to(path).as_posix().encode())
            digest.update(b"\0")
            _hash_file(file, digest)
    else:
        _hash_file(path, digest)
    return digest.hexdigest()


def _hash_file(path: Path, digest) -> None:
    try:
        with path.open("rb") as stream:
            while chunk := stream.read(_READ_CHUNK_BYTES):
                digest.update(chunk)
    except OSError as exc:
        raise InputError(path, f"cannot be read: {exc.strerror}.") from None


def cache_key(source_sha256: str, parameters: dict) -> str:
    """The entry name for an input digest and the import parameters (a JSON-serialisable dict)."""
    identity = {
        "source_sha256": source_sha256,
        "parameters": parameters,
        "format_version": FORMAT_VERSION,
        "surgsim_version": __version__,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def content_sha256(model: TissueModel) -> str:
    """sha256 of everything in ``model`` except the digest itself: every array's dtype, shape and bytes, the region
    names and materials, and the metadata."""
    digest = hashlib.sha256()

    def add(name: str, array: np.ndarray) -> None:
        array = np.ascontiguousarray(array)
        digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        digest.update(array.tobytes())

    for name in ARRAY_FIELDS:
        add(name, getattr(model, name))
    for prop in MATERIAL_PROPERTIES:
        add(f"region_{prop}", model.region_materials[prop])
    digest.update(json.dumps(list(model.region_names)).encode())
    metadata = {key: value for key, value in model.metadata.items() if key != CONTENT_DIGEST_KEY}
    digest.update(json.dumps(metadata, sort_keys=True).encode())
    return digest.hexdigest()


def load_cached(key: str) -> TissueModel | None:
    """The cached model for ``key``, or None when there is none, it is unreadable or its content does not match its
    digest (then it is deleted)."""
    entry = cache_dir() / f"{key}.npz"
    if not entry.is_file():
        return None
    try:
        model = TissueModel.load(entry)
    except InputError as error:
        LOG.info("ignoring a damaged cache entry %s (%s); rebuilding it.", entry, error.problem)
        entry.unlink(missing_ok=True)
        return None
    recorded = model.metadata.get(CONTENT_DIGEST_KEY)
    if recorded != content_sha256(model):
        LOG.info("ignoring the cache entry %s: its content does not match its digest; rebuilding it.", entry)
        entry.unlink(missing_ok=True)
        return None
    metadata = {name: value for name, value in model.metadata.items() if name != CONTENT_DIGEST_KEY}
    return dataclasses.replace(model, metadata=metadata)


def store_cached(key: str, model: TissueModel) -> None:
    """Keep ``model`` under ``key``; a cache folder that cannot be written only costs the speed-up."""
    entry = cache_dir() / f"{key}.npz"
    stamped = dataclasses.replace(model, metadata={**model.metadata, CONTENT_DIGEST_KEY: content_sha256(model)})
    try:
        stamped.save(entry)
    except (OSError, OutputError) as error:
        reason = error.problem if isinstance(error, OutputError) else str(error)
        LOG.info("could not write the model cache entry %s (%s); continuing without the cache.", entry, reason)


def _surface_digest(points: np.ndarray, triangles: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in (points, triangles):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}:{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def load_cached_surface(key: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached (points [m], triangles) for ``key`` (a rigid body's surface), or None when there is none or it is
    damaged (then it is deleted)."""
    entry = cache_dir() / f"{key}.surface.npz"
    if not entry.is_file():
        return None
    try:
        with np.load(entry, allow_pickle=False) as data:
            points, triangles, recorded = data["points"], data["triangles"], str(data["digest"])
    except (OSError, ValueError, KeyError) as error:
        LOG.info("ignoring a damaged cache entry %s (%s); rebuilding it.", entry, error)
        entry.unlink(missing_ok=True)
        return None
    if recorded != _surface_digest(points, triangles):
        LOG.info("ignoring the cache entry %s: its content does not match its digest; rebuilding it.", entry)
        entry.unlink(missing_ok=True)
        return None
    return points, triangles


def store_cached_surface(key: str, points: np.ndarray, triangles: np.ndarray) -> None:
    """Keep a rigid body's surface under ``key``; a cache folder that cannot be written only costs the speed-up."""
    entry = cache_dir() / f"{key}.surface.npz"
    temporary = entry.with_name(f".{entry.name}.{os.getpid()}.tmp.npz")
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        np.savez(temporary, points=points, triangles=triangles, digest=np.array(_surface_digest(points, triangles)))
        os.replace(temporary, entry)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        LOG.info("could not write the surface cache entry %s (%s); continuing without the cache.", entry, error)
