"""`surgsim mesh import` and `surgsim mesh info`: happy paths, and every bad input ends in one message and exit 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nibabel
import numpy as np
import pytest
import pyvista as pv

from surgsim.cli import main
from surgsim.mesh.model import TissueModel

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "meshes"
LIVER_STL = ASSETS / "liver.stl"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SURGSIM_CACHE_DIR", str(tmp_path / "cache"))


def unwrapped(text: str) -> str:
    """The CLI wraps its error paragraph on a terminal (at spaces); undo any wrapping to search it."""
    return re.sub(r"\n\s+", "", text)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_import_then_info(tmp_path, capsys):
    out = tmp_path / "liver.npz"
    code, stdout, stderr = run_cli(capsys, "mesh", "import", LIVER_STL, "--target-nodes", "800", "-o", out)
    assert code == 0, stderr
    model = TissueModel.load(out)
    assert 560 <= model.node_count <= 1040
    assert f"{model.node_count:,} nodes" in stdout and "liver" in stdout

    code, stdout, stderr = run_cli(capsys, "mesh", "info", out)
    assert code == 0, stderr
    for expected in ("nodes", f"{model.node_count:,}", "tetrahedra", "springs", "surface triangles", "bounding box",
                     "volume", "ml", "mass", "min dihedral angle", "shortest spring", "liver"):
        assert expected in stdout, expected


def test_rerun_comes_from_the_cache(tmp_path, capsys):
    out = tmp_path / "ball.npz"
    source = tmp_path / "ball.stl"
    pv.Sphere(radius=0.03).save(source)
    assert run_cli(capsys, "mesh", "import", source, "--target-nodes", "300", "-o", out)[0] == 0
    first = TissueModel.load(out)
    code, stdout, _ = run_cli(capsys, "mesh", "import", source, "--target-nodes", "300", "-o", out, "--force")
    assert code == 0 and "(cached)" in stdout
    assert np.array_equal(TissueModel.load(out).positions, first.positions)
    code, stdout, _ = run_cli(capsys, "mesh", "import", source, "--target-nodes", "300", "--no-cache", "-o", out,
                              "--force")
    assert code == 0 and "(cached)" not in stdout


def test_label_map_import_with_named_labels(tmp_path, capsys):
    out = tmp_path / "organs.npz"
    code, stdout, stderr = run_cli(
        capsys, "mesh", "import", ASSETS / "abdomen_ct_seg.nii.gz", "--label", "liver=5,gallbladder=4",
        "--target-nodes", "1500", "-o", out,
    )
    assert code == 0, stderr
    model = TissueModel.load(out)
    assert model.region_names == ("liver", "gallbladder")
    code, stdout, _ = run_cli(capsys, "mesh", "info", out)
    assert "gallbladder" in stdout and "liver" in stdout


def write_label_map(path: Path, labels: np.ndarray) -> Path:
    nibabel.save(nibabel.Nifti1Image(labels.astype(np.uint8), np.diag([2.0, 2.0, 2.0, 1.0])), path)
    return path


def newer_format_model(path: Path) -> Path:
    model = TissueModel.load(ASSETS / "gallbladder.npz")
    model.save(path)
    with np.load(path) as data:
        contents = dict(data)
    contents["format_version"] = np.array(99, dtype=np.int32)
    np.savez(path, **contents)
    return path


def bad_imports(tmp_path: Path):
    """(arguments after 'mesh import', text the message must name) for each bad input."""
    unknown = tmp_path / "organ.xyz"
    unknown.write_text("1 2 3\n")
    damaged = tmp_path / "damaged.stl"
    damaged.write_bytes(b"solid x\x00\x01\x02 not a mesh")
    sheet = tmp_path / "open_sheet.stl"
    pv.Plane(i_size=0.1, j_size=0.1).triangulate().save(sheet)
    labels = np.zeros((12, 12, 12), dtype=np.uint8)
    labels[3:8, 3:8, 3:8] = 2
    label_map = write_label_map(tmp_path / "one_label.nii.gz", labels)
    empty = write_label_map(tmp_path / "all_background.nii.gz", np.zeros((8, 8, 8)))
    return {
        "unknown extension": ([unknown], "organ.xyz"),
        "missing file": ([tmp_path / "missing.stl"], "missing.stl"),
        "damaged file": ([damaged], "damaged.stl"),
        "unrepairable surface": ([sheet], "open_sheet.stl"),
        "absent label": ([label_map, "--label", "liver=5"], "--label"),
        "empty volume": ([empty], "all_background.nii.gz"),
        "target too large": ([LIVER_STL, "--target-nodes", "3000000"], "--target-nodes"),
        "target too small": ([LIVER_STL, "--target-nodes", "5"], "--target-nodes"),
        "unknown material": ([LIVER_STL, "--material", "granite"], "--material"),
        "bad scale": ([LIVER_STL, "--scale", "-2"], "--scale"),
    }


BAD_IMPORT_CASES = [
    "unknown extension", "missing file", "damaged file", "unrepairable surface", "absent label", "empty volume",
    "target too large", "target too small", "unknown material", "bad scale",
]


@pytest.mark.parametrize("case", BAD_IMPORT_CASES)
def test_bad_import_exits_2_with_one_message_and_no_output(tmp_path, capsys, case):
    arguments, named = bad_imports(tmp_path)[case]
    out_folder = tmp_path / "out"
    out_folder.mkdir()
    code, stdout, stderr = run_cli(capsys, "mesh", "import", *arguments, "-o", out_folder / "model.npz")
    assert code == 2
    assert named in unwrapped(stderr)
    assert stderr.count("surgsim: error:") == 1  # notes on what was tried may come before the one error paragraph
    assert "Traceback" not in stderr + stdout
    assert files_in(out_folder) == [], "no output and no temporary file may be left"


def test_output_must_be_an_npz_file(tmp_path, capsys):
    code, _, stderr = run_cli(capsys, "mesh", "import", LIVER_STL, "-o", tmp_path / "liver.vtk")
    assert code == 2 and "liver.vtk" in unwrapped(stderr) and ".npz" in stderr
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("case", ["missing", "corrupt", "newer format", "not a model"])
def test_bad_model_file_for_info_exits_2_naming_it(tmp_path, capsys, case):
    path = tmp_path / f"{case.replace(' ', '_')}.npz"
    if case == "corrupt":
        path.write_bytes(b"PK\x03\x04 truncated")
    elif case == "newer format":
        newer_format_model(path)
    elif case == "not a model":
        np.savez(path, numbers=np.arange(3))
    code, stdout, stderr = run_cli(capsys, "mesh", "info", path)
    assert code == 2
    assert path.name in unwrapped(stderr)
    assert "Traceback" not in stderr + stdout
    if case == "newer format":
        assert "newer" in stderr


def test_help_of_each_subcommand_shows_an_example(capsys):
    for subcommand in ("import", "info"):
        with pytest.raises(SystemExit) as exited:
            main(["mesh", subcommand, "--help"])
        assert exited.value.code == 0
        assert f"surgsim mesh {subcommand} " in capsys.readouterr().out


def test_mesh_without_subcommand_prints_help_and_exits_2(capsys):
    assert main(["mesh"]) == 2
    assert "import" in capsys.readouterr().out


def run_module(*argv, cwd: Path, env_cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, SURGSIM_CACHE_DIR=str(env_cache))
    return subprocess.run(
        [sys.executable, "-m", "surgsim", *map(str, argv)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def test_real_subprocess_import_info_and_a_bad_input(tmp_path):
    out = tmp_path / "gallbladder.npz"
    done = run_module("mesh", "import", ASSETS / "gallbladder.stl", "--target-nodes", "400", "-o", out,
                      cwd=tmp_path, env_cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    assert "gallbladder" in done.stdout and out.is_file()

    done = run_module("mesh", "info", out, cwd=tmp_path, env_cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    assert "min dihedral angle" in done.stdout

    broken = tmp_path / "broken.ply"
    broken.write_bytes(b"ply\nformat nonsense\n")
    done = run_module("mesh", "import", broken, "-o", tmp_path / "never.npz", cwd=tmp_path, env_cache=tmp_path / "c")
    assert done.returncode == 2
    assert "broken.ply" in unwrapped(done.stderr)
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "never.npz").exists()
    assert sorted(p.name for p in tmp_path.glob("_skipped*")) == []
