"""A probe pushed 1 cm into the shipped liver: the force grows with depth and is the force the material implies.

Reference: the spring network's own statics. At each depth, once the tissue has settled, the nodes the probe holds
are fixed where they are and the static equilibrium of the material's spring network (E → k as in the solver, whose
calibration puts the network's Young's modulus within 5 % of the material's) is solved by Newton's method
(tests/coupling/static_reference.py), independently of the simulator, its contact pass, damping and mass scaling. The
simulated reaction on the probe must match the force the holders need within 20 %.

Why not a continuum formula: a flat punch of radius a pressed d into a half-space needs F = 2 a E d / (1 − ν²)
(Sneddon 1965), but on this liver (surface edges ~1 cm) a 5 mm probe engages a patch set by the mesh, not by its
radius: 3-5 nodes carry the load, and the force is that of a punch of radius ≈ 4.6 mm, half a surface edge (about
1.9× the 0.32 N that a = 2.5 mm, E = 6 kPa, ν = 0.24 give at 1 cm). The formula is a scale, not a reference.

Set-up: the probe is aimed along the outward normal at a surface node of the anterior surface; the liver is held
along its posterior part (y < 60 mm, as if lying on the posterior wall; held by a thinner slab it sways laterally for
seconds) and gravity is off, so the force is the indentation's alone. The contact sticks (μ = 1): this test measures
stiffness, and on a 1 cm mesh a single node under a rounded tip slides off it once its tangential load exceeds μ times
the normal one. Each 2 mm step is pushed in 0.2 s and settled 0.6 s (quasi-static: the force then changes by < 1 %
over 0.1 s).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from coupling_scenes import Tissue, command, ramp, surface_point_and_normal
from static_reference import static_equilibrium

from surgsim.mesh.model import TissueModel

LIVER = Path(__file__).resolve().parents[2] / "assets" / "meshes" / "liver.npz"
PORT_DISTANCE_M = 0.12


def anterior_node(model: TissueModel) -> int:
    """The surface node farthest anterior, preferring the middle of the organ."""
    p = model.positions
    surface = model.surface_nodes
    centre = p.mean(axis=0)
    score = p[surface, 1] - 0.3 * np.abs(p[surface, 0] - centre[0]) - 0.3 * np.abs(p[surface, 2] - centre[2])
    return int(surface[np.argmax(score)])


def test_probe_force_grows_with_depth_and_matches_the_material(make_scene):
    model = TissueModel.load(LIVER)
    tissue = Tissue.of(model, gravity=(0.0, 0.0, 0.0))
    tissue.control.anchor(np.flatnonzero(model.positions[:, 1] < 0.06))
    point, normal = surface_point_and_normal(model, anterior_node(model))
    scene = make_scene(tissue, {"probe": ("probe", point + PORT_DISTANCE_M * normal, point)}, friction=1.0)
    probe = scene.world.instruments["probe"]
    touch = PORT_DISTANCE_M - probe.spec.shaft_radius_m - scene.coupler.options.skin_m
    scene.run(400, probe=lambda k: command(touch))  # approach until the probe just touches
    simulated, reference = [], []
    for depth in (0.002, 0.004, 0.006, 0.008, 0.010):
        history = []
        for k in range(800):
            scene.coupler.step({"probe": command(ramp(touch + depth - 0.002, touch + depth, k, 200))})
            history.append(scene.coupler.reaction_force("probe") @ normal)
        assert abs(history[-1] - history[-100]) < 0.01 * abs(history[-1])  # settled
        simulated.append(history[-1])
        held_by_probe = np.flatnonzero(scene.coupler.contact.contact_records()[0] >= 0)
        held = np.union1d(held_by_probe, tissue.control.anchored_nodes)
        _, elastic = static_equilibrium(model, scene.coupler.positions(), held)
        reference.append(elastic[held_by_probe].sum(axis=0) @ normal)

    assert np.all(np.diff(simulated) > 0), simulated
    np.testing.assert_allclose(simulated, reference, rtol=0.2)
