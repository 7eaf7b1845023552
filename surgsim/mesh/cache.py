"""Cache of imported tissue models, so that importing the same input with the same parameters again is instant.

Entries live in ``$SURGSIM_CACHE_DIR`` (default ``~/.cache/surgsim/models/``) as ``<key>.npz`` model files. The key
is the sha256 of the input's bytes, the import parameters, the model FORMAT_VERSION and the surgsim version, so a
changed input, a changed parameter or a new surgsim never returns a stale model. The cache is an optimisation only:
an unreadable entry is deleted and rebuilt, and a cache folder that cannot be written is skipped with a log message.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from surgsim import __version__
from surgsim.errors import InputError
from surgsim.mesh.model import FORMAT_VERSION, TissueModel

LOG = logging.getLogger(__name__)

CACHE_DIR_VARIABLE = "SURGSIM_CACHE_DIR"
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


def load_cached(key: str) -> TissueModel | None:
    """The cached model for ``key``, or None when there is none or it is unreadable (then it is deleted)."""
    entry = cache_dir() / f"{key}.npz"
    if not entry.is_file():
        return None
    try:
        return TissueModel.load(entry)
    except InputError as error:
        LOG.info("ignoring a damaged cache entry %s (%s); rebuilding it.", entry, error.problem)
        entry.unlink(missing_ok=True)
        return None


def store_cached(key: str, model: TissueModel) -> None:
    """Keep ``model`` under ``key``; a cache folder that cannot be written only costs the speed-up."""
    entry = cache_dir() / f"{key}.npz"
    try:
        model.save(entry)
    except OSError as exc:
        LOG.info("could not write the model cache entry %s (%s); continuing without the cache.", entry, exc)
