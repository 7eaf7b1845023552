"""A rigid body's surface is extracted once and then read from the model cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from surgsim.mesh import cache
from surgsim.procedure import scene_builder
from surgsim.procedure.schema import LabelMapSource

LABEL_MAP = Path(__file__).resolve().parents[2] / "assets" / "meshes" / "abdomen_ct_seg.nii.gz"
PORTAL_VEIN = LabelMapSource(kind="label_map", path="abdomen_ct_seg.nii.gz", label=64)


def test_second_extraction_reads_the_cache_and_a_damaged_entry_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_DIR_VARIABLE, str(tmp_path))
    points, triangles = scene_builder._rigid_surface(LABEL_MAP, PORTAL_VEIN)
    entries = list(tmp_path.glob("*.surface.npz"))
    assert len(entries) == 1 and len(triangles) > 100

    extracted = []
    monkeypatch.setattr("surgsim.mesh.volume.load_label_volume", lambda *a, **k: extracted.append(a))  # the extraction must not run again
    again = scene_builder._rigid_surface(LABEL_MAP, PORTAL_VEIN)
    assert not extracted
    assert np.array_equal(again[0], points) and np.array_equal(again[1], triangles)

    entries[0].write_bytes(b"not a numpy archive")
    monkeypatch.undo()
    monkeypatch.setenv(cache.CACHE_DIR_VARIABLE, str(tmp_path))
    rebuilt = scene_builder._rigid_surface(LABEL_MAP, PORTAL_VEIN)
    assert np.array_equal(rebuilt[0], points) and np.array_equal(rebuilt[1], triangles)


def test_other_label_other_entry(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_DIR_VARIABLE, str(tmp_path))
    scene_builder._rigid_surface(LABEL_MAP, PORTAL_VEIN)
    scene_builder._rigid_surface(LABEL_MAP, LabelMapSource(kind="label_map", path="abdomen_ct_seg.nii.gz", label=4))
    assert len(list(tmp_path.glob("*.surface.npz"))) == 2
