"""A grasp on the shipped liver: a moderate retraction holds, letting go is smooth, pulling far beyond tears or
slips.

Scene (as tools/bench_coupling.py): ``assets/meshes/liver.npz`` (made of today's liver material) under gravity, held
along its top 4 cm, settled; the tear test measures strain from the settled shape. A grasper comes from
anterior-inferior along the line to the inferior edge, bites 8 mm past it with the jaws opening horizontally (across
the edge), closes, and lifts the edge cranially 20 mm in 1 s (minimum-jerk). Measured with the defaults: 1 node
between the jaws and 27 around it held, holding force 1.4 N (1.7 N at the peak of the motion), the force after
opening never above the holding force; nothing tears (measured each tet alone, one tore at 1.5 N next to tets the
lift folds).
With only the node between the jaws held (a hold that reached no further) the same lift is held with 0.7 N. Before the grasp held
a neighbourhood (folds counted as tears, the jaws re-enabled as soon as they opened) the same lift tore 22 springs at
0.6-0.8 N, and opening the jaws gave a 10 N spike: the jaw capsules, re-enabled with tissue between them, threw it out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from coupling_scenes import Tissue

from surgsim.mesh.build import build_tissue_model
from surgsim.mesh.materials import material
from surgsim.mesh.model import TissueModel
from surgsim.trace import InstrumentCommand

LIVER = Path(__file__).resolve().parents[2] / "assets" / "meshes" / "liver.npz"
APPROACH = np.array([0.0, -1.0, 0.6]) / np.linalg.norm([0.0, -1.0, 0.6])  # shaft direction, toward the tissue
UP = np.array([0.0, 0.0, 1.0])
BITE_M = 0.008


def with_current_material(model: TissueModel, name: str) -> TissueModel:
    """The model made of today's material table entry (a saved model keeps the values it was built with), as a
    procedure's scene does (``scene_builder._with_scale_and_material``)."""
    return build_tissue_model(model.positions, model.tets, np.zeros(model.tet_count, dtype=np.int64), [name],
                              [material(name)], metadata=model.metadata)


def settle(model: TissueModel):
    """The model, its hold (top 4 cm), its settled positions, and the inferior edge node."""
    from surgsim.tissue import TissueSolver

    p = model.positions
    top = np.flatnonzero(p[:, 2] > p[:, 2].max() - 0.04)
    solver = TissueSolver(model)
    control = solver.control(damping_ratio=2.0)
    control.anchor(top)
    a, b = solver.state(), solver.state()
    for _ in range(800):
        solver.step(a, b, control)
        a, b = b, a
    surface = model.surface_nodes
    edge = surface[np.argmin(p[surface, 2] - 0.5 * p[surface, 1] + 0.2 * np.abs(p[surface, 0] - p[:, 0].mean()))]
    return model, top, a.positions_numpy(), int(edge)


@pytest.fixture(scope="module")
def settled_liver(taichi_cpu):
    return settle(with_current_material(TissueModel.load(LIVER), "liver"))


class Retraction:
    """The liver scene with a grasper aimed at the edge; ``go(point, jaw, ticks)`` drives the jaws' tip."""

    def __init__(self, make_scene, settled_liver, **options):
        from surgsim.script import aim, opening_roll

        model, top, settled, edge = settled_liver
        tissue = Tissue.of(model)
        tissue.control.anchor(top)
        self.edge = settled[edge]
        port = model.positions[edge] - 0.12 * APPROACH
        self.scene = make_scene(tissue, {"grasper": ("grasper", port, model.positions[edge])}, **options)
        self.coupler = self.scene.coupler
        self.coupler.start_settled(settled)
        self._trocar = self.scene.world.instruments["grasper"].trocar
        self._aim = aim
        yaw, pitch, _ = aim(self._trocar, self.edge)
        self.roll = opening_roll(self._trocar, yaw, pitch, np.cross(APPROACH, UP))
        self.point = self.edge - 0.03 * APPROACH
        self.forces: list[float] = []

    def go(self, target, jaw: float, ticks: int, *, smooth: bool = True) -> None:
        start = self.point.copy()
        for k in range(ticks):
            s = min(1.0, (k + 1) / ticks)
            s = s * s * s * (10.0 + s * (-15.0 + 6.0 * s)) if smooth else s
            self.point = start + s * (np.asarray(target) - start)
            yaw, pitch, insertion = self._aim(self._trocar, self.point)
            self.coupler.step({"grasper": InstrumentCommand(pivot_yaw_rad=yaw, pivot_pitch_rad=pitch,
                                                            insertion_m=insertion, roll_rad=self.roll,
                                                            jaw=jaw(k) if callable(jaw) else jaw, energy=False)})
            self.forces.append(float(np.linalg.norm(self.coupler.reaction_force("grasper"))))
        self.scene.events += self.coupler.drain_events()

    def bite(self) -> np.ndarray:
        """Approach, bite past the edge, close: returns the bite point."""
        bite = self.edge + BITE_M * APPROACH
        self.go(self.edge - 0.03 * APPROACH, 0.0, 100)
        self.go(bite, 0.0, 300)
        self.go(bite, lambda k: min(1.0, (k + 1) / 120), 150, smooth=False)
        assert self.scene.kinds().count("grasp") == 1
        return bite


def lift(make_scene, settled_liver, **options) -> tuple[Retraction, np.ndarray]:
    """Bite the liver edge and lift it 20 mm in 1 s, then hold 0.2 s; returns the scene and the bite point."""
    r = Retraction(make_scene, settled_liver, **options)
    bite = r.bite()
    grasp = r.coupler.grasping.grasps["grasper"]
    start = r.coupler.positions()[grasp.nodes].mean(axis=0)
    r.go(bite + 0.02 * UP, 1.0, 1000)
    r.go(bite + 0.02 * UP, 1.0, 200)
    r.lifted = r.coupler.positions()[grasp.nodes].mean(axis=0) - start
    return r, bite


def test_a_moderate_retraction_tears_nothing(make_scene, settled_liver):
    """Lifting the edge 20 mm takes a routine grip force (under 3 N; issue 12: liver grip forces 1.75 N mean, 3.38 N
    max) and tears nothing, although single tets at the edge of the held patch are stretched beyond the liver's
    failure stretch: a mesh-scale concentration next to a kinematic hold, which the tissue over the tear length
    (``tear_length_m``, half the jaws' length) does not share. Measured each alone, a tet here tore at 1.5 N, and in
the liver retraction procedure four tets 13-20 mm from the grasper's tip tore at 1.85-2.2 N."""
    r, _ = lift(make_scene, settled_liver)
    assert max(r.forces) < 3.0
    assert "tear" not in r.scene.kinds()
    model, _, settled, _ = settled_liver
    d0 = np.stack([settled[model.tets[:, k]] - settled[model.tets[:, 0]] for k in (1, 2, 3)], axis=2)
    x = r.coupler.positions()
    d = np.stack([x[model.tets[:, k]] - x[model.tets[:, 0]] for k in (1, 2, 3)], axis=2)
    limit = r.coupler.contact.failure_stretch
    measured = np.isfinite(limit)
    alone = np.linalg.svd(d[measured] @ np.linalg.inv(d0[measured]), compute_uv=False)[:, 0]
    assert (alone > limit[measured]).any()  # the concentration is there; it is not a tear


def test_a_moderate_retraction_holds_the_liver_edge(make_scene, settled_liver):
    r, bite = lift(make_scene, settled_liver)
    grasp = r.coupler.grasping.grasps["grasper"]
    assert len(grasp.attached) > 3 * len(grasp.nodes)  # the tissue around the bite is held too
    assert r.lifted[2] == pytest.approx(0.02, abs=2e-3)
    kinds = set(r.scene.kinds())
    assert not kinds & {"slip", "blowup"}, kinds
    holding = r.forces[-1]
    assert 1.0 < holding < 4.0  # N: measured 2.1 N (2.4 N at the peak of the motion)
    assert max(r.forces) < 2.0 * holding

    # Letting go: the jaws open in 0.1 s; the force fades out instead of spiking, and nothing blows up.
    before = len(r.forces)
    r.go(bite + 0.02 * UP, lambda k: max(0.0, 1.0 - (k + 1) / 100), 300, smooth=False)
    released = [e for e in r.scene.events if e.kind == "release"]
    assert len(released) == 1
    k_release = before + int(round((released[0].time_s - r.coupler.time_s) / r.coupler.dt)) + 300 - 1
    after = r.forces[k_release:k_release + 100]
    assert max(after) <= 1.5 * holding
    assert not np.any(r.coupler.grasping.holding_force("grasper"))  # let go (what is left is contact)
    assert "blowup" not in r.scene.kinds()
    assert not r.coupler.grasping.holding and not r.coupler.control.attached.any()


def test_pulling_far_beyond_tears_or_slips(make_scene, settled_liver):
    """60 mm straight back out along the shaft tears the tissue or slips out of the jaws, and only beyond a routine
    grip force (the 3 N a moderate retraction stays under; measured: the first tear at 8.5 N)."""
    r = Retraction(make_scene, settled_liver)
    bite = r.bite()
    r.go(bite - 0.06 * APPROACH, 1.0, 1000)
    failures = [e for e in r.scene.events if e.kind in ("tear", "slip")]
    assert failures
    assert failures[0].force_n > 3.0


@pytest.mark.slow
def test_the_holding_force_depends_neither_on_grasp_parameters_nor_on_the_mesh(make_scene, settled_liver):
    """The force that holds the 20 mm lift, with hold stiffnesses 0.3, 1 and 3 and on a finer mesh of the same liver
    (liver.stl meshed to ~6000 nodes instead of ~3000): within 20 % of each other (measured: 1.51, 1.36, 1.41 N and
    1.38 N), and none of them tears."""
    from surgsim.mesh.pipeline import import_model

    forces = {}
    for stiffness in (0.3, 1.0, 3.0):
        r, _ = lift(make_scene, settled_liver, grasp_hold_stiffness=stiffness)
        forces[f"hold stiffness {stiffness}"] = r.forces[-1]
        assert r.lifted[2] == pytest.approx(0.02, abs=2e-3)
        assert "tear" not in r.scene.kinds()
    fine = import_model(LIVER.with_suffix(".stl"), target_nodes=6000, material="liver")
    assert fine.node_count > 1.5 * settled_liver[0].node_count
    r, _ = lift(make_scene, settle(fine))
    forces["fine mesh"] = r.forces[-1]
    assert r.lifted[2] == pytest.approx(0.02, abs=2e-3)
    assert "tear" not in r.scene.kinds()
    values = np.array(list(forces.values()))
    assert values.max() < 1.2 * values.min(), forces
