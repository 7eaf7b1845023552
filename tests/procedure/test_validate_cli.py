"""`surgsim validate` and `surgsim schema` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from surgsim.cli import main

PROCEDURES = Path(__file__).resolve().parents[2] / "procedures"


def test_valid_files_exit_0(capsys):
    files = [str(path) for path in sorted(PROCEDURES.glob("*.yaml"))]
    assert main(["validate", *files]) == 0
    assert capsys.readouterr().out.count(": ok") == len(files)


def test_errors_in_several_files_are_all_listed_with_exit_2(write_procedure, capsys):
    good = write_procedure(name="good.yaml")
    typo = write_procedure([("      material: skin", "      matrial: skin")], name="typo.yaml")
    broken = write_procedure(text="steps: [\n", name="broken.yaml")
    assert main(["validate", str(good), str(typo), str(broken), "missing.yaml"]) == 2
    captured = capsys.readouterr()
    assert f"{good}: ok" in captured.out
    err = captured.err.splitlines()
    assert f"{typo}:10:7: unknown key 'matrial' in scene.organs[0]. Did you mean 'material'?" in err
    assert any(line.startswith(f"{broken}:2:1: not valid YAML") for line in err)
    assert "missing.yaml: no such file." in err
    assert err[-1] == "4 problems found."  # the typo is also a missing key


def test_schema_prints_json_schema(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"].endswith("2020-12/schema") and schema["title"] == "surgsim procedure"
    assert "rubric" in schema["properties"]


def test_real_process(write_procedure):
    typo = write_procedure([("time_limit_s: 60", "time_limit_min: 1")])
    result = subprocess.run([sys.executable, "-m", "surgsim", "validate", str(typo)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert f"{typo}:4:1: unknown key 'time_limit_min' at the top level. Did you mean 'time_limit_s'?" in result.stderr
