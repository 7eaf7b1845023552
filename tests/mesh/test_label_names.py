"""Label maps by organ name (TotalSegmentator's numbering or a names file), node counts per label, and the warning
for an organ cut off by the scan's edge."""

from __future__ import annotations

from pathlib import Path

import nibabel
import numpy as np
import pytest

from surgsim.cli import main
from surgsim.errors import InputError
from surgsim.mesh.label_names import read_label_names, resolve_label_names
from surgsim.mesh.model import TissueModel

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "meshes"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SURGSIM_CACHE_DIR", str(tmp_path / "cache"))


def test_names_resolve_in_totalsegmentators_numbering_and_ids_stay():
    assert resolve_label_names("liver,gallbladder") == "liver=5,gallbladder=4"
    assert resolve_label_names("Spleen, 63,portal=64") == "Spleen=1,63,portal=64"
    assert resolve_label_names(None) is None
    with pytest.raises(InputError, match="'livr' is not a label name in TotalSegmentator's numbering") as error:
        resolve_label_names("livr")
    assert error.value.source == "--label" and "liver" in error.value.problem


def test_names_files_in_slicer_and_itk_snap_form(tmp_path):
    slicer = tmp_path / "slicer.txt"
    slicer.write_text("# 3D Slicer colour table\n0 background 0 0 0 0\n7 liver 221 130 101 255\n9 gallbladder 1 2 3 255\n")
    itk = tmp_path / "itk.txt"
    itk.write_text('    0     0    0    0        0  0  0    "Clear Label"\n'
                   '    7   221  130  101        1  1  1    "Liver"\n')
    assert read_label_names(slicer) == {"background": 0, "liver": 7, "gallbladder": 9}
    assert read_label_names(itk) == {"clear_label": 0, "liver": 7}
    assert resolve_label_names("liver,gallbladder", slicer) == "liver=7,gallbladder=9"
    broken = tmp_path / "broken.txt"
    broken.write_text("7 liver\nliver 7\n")
    with pytest.raises(InputError, match="line 2: expected a label id and its name"):
        read_label_names(broken)
    with pytest.raises(InputError, match="'spleen' is not a label name in the names file"):
        resolve_label_names("spleen", slicer)


def _two_organs(path: Path) -> Path:
    """A 2 mm label map: label 5 a slab through the whole scan along k (cut off at both ends), label 4 a box
    inside."""
    labels = np.zeros((30, 30, 20), dtype=np.uint8)
    labels[3:15, 3:27, :] = 5
    labels[19:27, 8:20, 5:14] = 4
    nibabel.save(nibabel.Nifti1Image(labels, np.diag([2.0, 2.0, 2.0, 1.0])), path)
    return path


def test_import_by_name_with_a_node_count_per_label_warns_of_the_cut_off_organ(tmp_path, capsys):
    source = _two_organs(tmp_path / "seg.nii.gz")
    out = tmp_path / "organs.npz"
    argv = ["mesh", "import", str(source), "--label", "liver,gallbladder", "--target-nodes",
            "liver=900,gallbladder=150", "-o", str(out)]
    assert main(argv) == 0
    err = " ".join(capsys.readouterr().err.split())
    model = TissueModel.load(out)
    assert model.region_names == ("liver", "gallbladder") and list(model.region_labels) == [5, 4]
    nodes = np.bincount(model.node_region)
    assert nodes[0] > 3 * nodes[1]  # 900 vs 150 asked, though the liver slab is only 2.3× the box's volume
    assert "label 5 (liver) touches the edge of the scan (first k slice, last k slice)" in err
    assert "gallbladder" not in err
    # From the cache the model comes without meshing, and the warning still comes.
    assert main([*argv, "--force"]) == 0
    assert "warning: liver touches the edge of the scan (first k slice, last k slice)" in " ".join(
        capsys.readouterr().err.split())


@pytest.mark.parametrize(("nodes", "message"), [
    ("liver=900", "gives no count for gallbladder"),
    ("liver=900,gallbladder=150,spleen=300", "names spleen, which --label does not choose"),
    ("liver=many", "cannot read 'liver=many'"),
])
def test_node_counts_per_label_must_match_the_labels(tmp_path, capsys, nodes, message):
    source = _two_organs(tmp_path / "seg.nii.gz")
    code = main(["mesh", "import", str(source), "--label", "liver,gallbladder", "--target-nodes", nodes,
                 "-o", str(tmp_path / "o.npz")])
    assert code == 2 and message in " ".join(capsys.readouterr().err.split())


def test_the_shipped_ct_follows_totalsegmentators_numbering(tmp_path, capsys):
    """The shipped label map is TotalSegmentator's (task 'total'): its liver and gallbladder by name are its labels 5
    and 4, the liver cut off by the scan's top and bottom."""
    out = tmp_path / "organs.npz"
    assert main(["mesh", "import", str(ASSETS / "abdomen_ct_seg.nii.gz"), "--label", "liver,gallbladder",
                 "--target-nodes", "1500", "-o", str(out)]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert list(TissueModel.load(out).region_labels) == [5, 4]
    assert "label 5 (liver) touches the edge of the scan" in err and "label 4" not in err
