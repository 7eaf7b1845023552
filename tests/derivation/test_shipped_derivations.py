"""Shipped procedures keep their derivation in the repository (procedures/derivations/<name>.yaml, written by
`surgsim rubric derive` from the shipped expert and novice traces): it must still be what derive makes of them."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from surgsim.cli import main
from surgsim.history.record import trace_sha256
from surgsim.procedure.loader import file_sha256

ROOT = Path(__file__).resolve().parents[2]
PROCEDURES = sorted(p.stem for p in (ROOT / "procedures").glob("*.yaml"))
REDERIVE = ("surgsim rubric derive {name} --experts procedures/traces/{name}.expert.jsonl "
            "--novices procedures/traces/{name}.novice.jsonl -o procedures/derivations/{name}.yaml")


def _committed(name: str) -> dict:
    return yaml.safe_load((ROOT / "procedures" / "derivations" / f"{name}.yaml").read_text())


@pytest.mark.parametrize("name", PROCEDURES)
def test_each_shipped_procedure_has_a_derivation_of_its_current_file_and_traces(name):
    provenance = _committed(name)["provenance"]
    again = f"stale: the procedure or its traces changed since; run `{REDERIVE.format(name=name)}`"
    assert provenance["procedure"] == {"name": name, "path": f"procedures/{name}.yaml",
                                       "sha256": file_sha256(ROOT / "procedures" / f"{name}.yaml")}, again
    for group in ("experts", "novices"):
        [trace] = provenance[group]["traces"]
        kind = group[:-1]
        assert trace["path"] == f"procedures/traces/{name}.{kind}.jsonl"
        assert trace["sha256"] == trace_sha256(ROOT / trace["path"]), again


def _close(ours, theirs, where: str = "") -> None:
    """Equal data, numbers within float formatting (1e-9 relative)."""
    if isinstance(ours, dict):
        assert isinstance(theirs, dict) and set(ours) == set(theirs), where
        for key in ours:
            _close(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(ours, list):
        assert isinstance(theirs, list) and len(ours) == len(theirs), where
        for index, (a, b) in enumerate(zip(ours, theirs)):
            _close(a, b, f"{where}[{index}]")
    elif isinstance(ours, float) or isinstance(theirs, float):
        assert math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-12), f"{where}: {ours} != {theirs}"
    else:
        assert ours == theirs, where


def test_rederiving_liver_retraction_gives_the_committed_derivation(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # the derivation names files relative to the working folder
    name = "liver_retraction"
    out = tmp_path / f"{name}.yaml"
    assert main(["rubric", "derive", name, "--experts", f"procedures/traces/{name}.expert.jsonl",
                 "--novices", f"procedures/traces/{name}.novice.jsonl", "-o", str(out)]) == 0
    ours, committed = yaml.safe_load(out.read_text()), _committed(name)
    _close(ours["rubric"], committed["rubric"], "rubric")
    _close(ours["derivation"], committed["derivation"], "derivation")
    for part in ("procedure", "surgsim_version"):
        assert ours["provenance"][part] == committed["provenance"][part]
    for group in ("experts", "novices"):
        assert ([t["sha256"] for t in ours["provenance"][group]["traces"]]
                == [t["sha256"] for t in committed["provenance"][group]["traces"]])
