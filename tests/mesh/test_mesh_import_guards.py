"""`surgsim mesh import` guards: implausible sizes, existing outputs, tampered cache entries, repeated notes."""

from __future__ import annotations

import logging
import os

import nibabel
import numpy as np
import pytest
import pyvista as pv

from surgsim.cli import main
from surgsim.mesh import cache
from surgsim.mesh.model import TissueModel
from surgsim.mesh.pipeline import MAX_MODEL_VOLUME_M3, MIN_REGION_VOLUME_M3


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("SURGSIM_CACHE_DIR", str(folder))
    return folder


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def cube(path, side: float):
    pv.Cube(x_length=side, y_length=side, z_length=side).triangulate().save(path)
    return path


# -- plausible sizes ---------------------------------------------------------------------------------------------------
def test_a_cube_far_too_small_is_refused_with_the_likely_unit(tmp_path, capsys):
    source, out = cube(tmp_path / "cube.stl", 0.04), tmp_path / "cube.npz"
    code, _, err = run_cli(capsys, "mesh", "import", source, "--units", "mm", "--target-nodes", "200", "-o", out)
    assert code == 2 and not out.exists()
    assert err.startswith(f"surgsim: error: {source}: the model is only 6.4e-05 mm³")
    assert "too small to simulate" in err and "If the file's coordinates are in metres, import it with --units m." in err
    assert "Traceback" not in err


def test_a_cube_far_too_large_is_imported_with_a_warning_naming_the_unit(tmp_path, capsys):
    source, out = cube(tmp_path / "cube.stl", 40.0), tmp_path / "cube.npz"
    code, stdout, err = run_cli(capsys, "mesh", "import", source, "--units", "m", "--target-nodes", "200", "-o", out)
    assert code == 0 and out.exists()
    assert TissueModel.load(out).volume() == pytest.approx(64_000.0)
    (warning,) = [line for line in err.splitlines() if line.startswith("warning:")]
    assert "64,000,000,000 ml" in warning and "more than a whole body" in warning
    assert "If the file's coordinates are in millimetres, import it with --units mm." in warning


def test_a_sensible_size_gets_no_warning(tmp_path, capsys):
    source, out = cube(tmp_path / "cube.stl", 40.0), tmp_path / "cube.npz"
    code, _, err = run_cli(capsys, "mesh", "import", source, "--units", "mm", "--target-nodes", "200", "-o", out)
    assert code == 0 and "warning" not in err
    volume = TissueModel.load(out).volume()
    assert MIN_REGION_VOLUME_M3 < volume < MAX_MODEL_VOLUME_M3


def test_a_one_voxel_label_is_refused_naming_the_label(tmp_path, capsys):
    labels = np.zeros((24, 24, 24), dtype=np.uint8)
    labels[4:16, 4:16, 4:16] = 5
    labels[20, 20, 20] = 9  # a stray voxel
    source, out = tmp_path / "seg.nii.gz", tmp_path / "seg.npz"
    nibabel.save(nibabel.Nifti1Image(labels, np.diag([2.0, 2.0, 2.0, 1.0])), source)
    code, _, err = run_cli(capsys, "mesh", "import", source, "--target-nodes", "300", "-o", out)
    assert code == 2 and not out.exists()
    assert f"{source}: label 9 (label_9) is only" in err and "Leave it out with --label" in err


# -- outputs -----------------------------------------------------------------------------------------------------------
def test_an_existing_model_is_kept_unless_force(tmp_path, capsys):
    source, out = cube(tmp_path / "cube.stl", 40.0), tmp_path / "cube.npz"
    out.write_bytes(b"someone's model")
    code, _, err = run_cli(capsys, "mesh", "import", source, "--units", "mm", "--target-nodes", "200", "-o", out)
    assert code == 2 and f"{out}: exists already; pass --force to replace it" in err
    assert out.read_bytes() == b"someone's model"
    code, _, _ = run_cli(capsys, "mesh", "import", source, "--units", "mm", "--target-nodes", "200", "-o", out,
                         "--force")
    assert code == 0 and TissueModel.load(out).node_count > 0


def test_an_output_inside_a_file_names_the_file(tmp_path, capsys):
    source, blocker = cube(tmp_path / "cube.stl", 40.0), tmp_path / "file.npz"
    blocker.write_bytes(b"kept")
    code, _, err = run_cli(capsys, "mesh", "import", source, "-o", blocker / "x.npz")
    assert code == 2
    assert err == f"surgsim: error: {blocker / 'x.npz'}: cannot be written: {blocker} is a file, not a folder.\n"
    assert blocker.read_bytes() == b"kept"


# -- the cache ---------------------------------------------------------------------------------------------------------
def test_a_tampered_cache_entry_is_rebuilt_not_served(tmp_path, private_cache, capsys):
    source = cube(tmp_path / "cube.stl", 40.0)
    argv = ["mesh", "import", source, "--units", "mm", "--target-nodes", "200", "-o"]
    assert run_cli(capsys, *argv, tmp_path / "first.npz")[0] == 0
    first = TissueModel.load(tmp_path / "first.npz")
    (entry,) = private_cache.glob("*.npz")
    stored = TissueModel.load(entry)
    assert stored.metadata[cache.CONTENT_DIGEST_KEY] == cache.content_sha256(stored)

    with np.load(entry) as data:  # well-formed, consistent, and wrong: a thousandth of the mass
        arrays = {key: data[key] for key in data.files}
    arrays["masses"] = arrays["masses"] / 1000
    np.savez_compressed(entry, **arrays)
    assert TissueModel.load(entry).consistency_problem() is None

    code, stdout, err = run_cli(capsys, *argv, tmp_path / "second.npz")
    assert code == 0 and "(cached)" not in stdout
    assert "does not match its digest" in err
    second = TissueModel.load(tmp_path / "second.npz")
    assert np.array_equal(second.masses, first.masses)
    assert cache.CONTENT_DIGEST_KEY not in second.metadata  # the digest belongs to the cache entry only
    rebuilt = TissueModel.load(entry)
    assert rebuilt.metadata[cache.CONTENT_DIGEST_KEY] == cache.content_sha256(rebuilt)
    code, stdout, _ = run_cli(capsys, *argv, tmp_path / "third.npz")
    assert code == 0 and "(cached)" in stdout


def test_an_entry_without_a_digest_is_not_served(tmp_path, private_cache):
    from surgsim.mesh.pipeline import import_model

    source = cube(tmp_path / "cube.stl", 40.0)
    import_model(source, units="mm", target_nodes=200)
    (entry,) = private_cache.glob("*.npz")
    model = TissueModel.load(entry)
    metadata = {k: v for k, v in model.metadata.items() if k != cache.CONTENT_DIGEST_KEY}
    TissueModel(**{**model.__dict__, "metadata": metadata}).save(entry)
    stages = []
    import_model(source, units="mm", target_nodes=200, progress=stages.append)
    assert "cached" not in stages


# -- notes -------------------------------------------------------------------------------------------------------------
def test_each_kind_of_repair_note_is_shown_once_per_input(capsys):
    from surgsim.commands.mesh import _log_notes_to
    from rich.console import Console

    log = logging.getLogger("surgsim.mesh.surface")
    with _log_notes_to(Console(stderr=True)):
        for before, after in ((1.2e-4, 1.1e-4), (1.3e-4, 1.0e-4), (1.4e-4, 1.1e-4), (1.5e-4, 1.2e-4)):
            log.info("%s: repair changed the enclosed volume from %.4g to %.4g m³.", "liver.stl", before, after)
        log.info("%s: repair changed the enclosed volume from %.4g to %.4g m³.", "spleen.stl", 1e-4, 2e-4)
        log.warning("%s: the model is large.", "liver.stl")
    err = capsys.readouterr().err
    assert err.count("liver.stl: repair changed") == 1 and err.count("spleen.stl: repair changed") == 1
    assert err.count("warning: liver.stl: the model is large.") == 1


def test_a_self_intersecting_surface_reports_its_repair_once(tmp_path, capsys):
    source = tmp_path / "two_balls.stl"
    (pv.Sphere(radius=30, theta_resolution=30, phi_resolution=30)
     + pv.Sphere(radius=20, center=(25, 0, 0), theta_resolution=30, phi_resolution=30)).save(source)
    code, _, err = run_cli(capsys, "mesh", "import", source, "--units", "mm", "--target-nodes", "500",
                           "-o", tmp_path / "two.npz")
    assert code == 0, err
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert notes, "the surface needed repair, which is worth a note"
    assert len(notes) == len(set(line.split(" (")[0].split(" from ")[0] for line in notes))


# -- former crashes -------------------------------------------------------------------------------------------------------
# Surfaces that pass reading, cleaning and repair, and then crash tetgen (found by tests/test_property_inputs.py): the
# seed OBJ with one vertex line repeated (heap corruption, abort) and the seed VTP with a garbled coordinate
# (segmentation fault).
TETGEN_CRASHES = ["tetgen_heap_corruption.obj", "tetgen_segfault.vtp"]


@pytest.mark.parametrize("name", TETGEN_CRASHES)
def test_a_surface_that_crashes_tetgen_is_refused_not_aborted(name, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    source = Path(__file__).parent / "data" / name
    result = subprocess.run(
        [sys.executable, "-m", "surgsim", "mesh", "import", str(source), "--target-nodes", "20", "--no-cache",
         "-o", str(tmp_path / "out.npz")],
        capture_output=True, text=True, timeout=120, env={**os.environ, "SURGSIM_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert result.returncode in (0, 2), result.stderr[-500:]


@pytest.mark.parametrize(
    ("header", "problem"),
    [(b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\n", "not a PLY file"),  # no end_header
     (b"ply\nformat ascii 1.0\nelement face 1\x0bproperty list uchar int vertex_indices\nend_header\n",
      "line 3 holds a control character"),
     (b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nelement face 1\nproperty uchar n\nend_header\n",
      "the face element has no list of vertex indices")],
    ids=["no end_header (meshio loops for ever)", "control character (VTK aborts)", "face without indices"],
)
def test_a_damaged_ply_header_is_refused_before_a_reader_sees_it(header, problem, tmp_path, capsys):
    source = tmp_path / "organ.ply"
    source.write_bytes(header + b"0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
    code, _, err = run_cli(capsys, "mesh", "import", source, "--units", "mm", "-o", tmp_path / "organ.npz")
    assert code == 2 and problem in err and str(source) in err
