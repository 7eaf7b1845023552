"""The contact force cap: a tool pressed fast and deep into thin, light tissue does not fling it.

A clip applier's open jaws are pushed 3 mm into a 4 mm thick duct of gallbladder tissue (2 mm elements) in one
command step, closed, opened and withdrawn. Without the cap (see ``surgsim.tissue.tool_contact``, "Cap") the jaws
cleared the tissue in one tick with millimetre corrections on light nodes, the warm start carried those forces into
the next solve, and the solver rejected every step from then on (582 unrecovered blow-ups, a node 590 m away).
"""

from __future__ import annotations

import numpy as np
from coupling_scenes import Tissue, command

from surgsim.mesh.primitives import tet_block


def test_jaws_pressed_fast_and_deep_into_a_thin_duct_do_not_blow_it_up(make_scene):
    model = tet_block((0.03, 0.012, 0.004), (15, 6, 2), origin_m=(-0.015, -0.006, -0.002), tissue="gallbladder")
    tissue = Tissue.of(model)
    tissue.control.anchor(np.flatnonzero(np.abs(model.positions[:, 0]) > 0.0145))
    scene = make_scene(tissue, {"clips": ("clip_applier", (0.0, 0.0, 0.15), (0.0, 0.0, 0.0))})
    touch = 0.15 - model.positions[:, 2].max()
    scene.run(600, clips=lambda k: command(0.1 + (touch - 0.1) * min(1.0, (k + 1) / 400)))
    scene.run(300, clips=lambda k: command(touch + 0.003))  # 3 mm deeper at once
    scene.run(200, clips=lambda k: command(touch + 0.003, jaw=min(1.0, (k + 1) / 50)))
    scene.run(200, clips=lambda k: command(touch + 0.003, jaw=max(0.0, 1.0 - (k + 1) / 50)))
    scene.run(300, clips=lambda k: command(touch + 0.003 - 0.02 * min(1.0, (k + 1) / 200)))
    assert "clip" in scene.kinds()
    assert "blowup" not in scene.kinds()
    x = scene.coupler.positions()
    assert np.all(np.isfinite(x)) and np.abs(x).max() < 0.05
