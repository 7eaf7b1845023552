"""A procedure turns the volume term and stress relaxation on in its `physics` block; left off, they leave its
identity (and the sessions recorded with it) as before the switches existed."""

from __future__ import annotations

from pathlib import Path

import yaml

from surgsim.procedure import load_procedure
from surgsim.procedure.identity import ProcedureIdentity
from surgsim.session import Session

EXAMPLE = Path(__file__).resolve().parents[2] / "procedures" / "examples" / "tissue_lift.yaml"


def _with_physics(tmp_path, **physics) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text())
    # The example's own switches left out: the plain procedure is the one that never names them.
    base = {key: value for key, value in data.get("physics", {}).items() if key not in ("poisson", "viscoelastic")}
    data["physics"] = {**base, **physics}
    path = tmp_path / "lift.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_switches_left_off_do_not_change_the_physics_identity(tmp_path):
    plain = load_procedure(_with_physics(tmp_path)).spec
    spelled_out = load_procedure(_with_physics(tmp_path, poisson="off", viscoelastic="off")).spec
    assert "poisson" not in plain.physics.model_dump() and "viscoelastic" not in plain.physics.model_dump()
    assert ProcedureIdentity.of(plain).physics_sha256 == ProcedureIdentity.of(spelled_out).physics_sha256
    on = load_procedure(_with_physics(tmp_path, viscoelastic="from_material")).spec
    assert ProcedureIdentity.of(on).physics_sha256 != ProcedureIdentity.of(plain).physics_sha256


def test_switches_reach_the_solver(tmp_path, taichi_cpu):
    session = Session(_with_physics(tmp_path, poisson="from_material", viscoelastic="from_material"), arch="cpu")
    try:
        assert session.solver.options.poisson == "from_material"
        assert session.solver.options.viscoelastic == "from_material"
        assert session.solver.layout.viscoelastic
    finally:
        session.finish("quit")
