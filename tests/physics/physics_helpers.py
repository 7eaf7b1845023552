"""Helpers for the analytic physics tests of the tissue solver (imported by name: tests are not a package)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from surgsim.mesh.materials import Material
from surgsim.mesh.primitives import tet_block

# A stiffer-than-liver test tissue: strains stay around 1 %, where the linear analytic formulas hold.
TEST_TISSUE = Material("test", density_kg_m3=1000.0, youngs_modulus_pa=60.0e3, poisson_ratio=0.45,
                       damping_ratio=0.3, tear_strain=0.5)


def hanging_column(divisions=(2, 2, 10), size=(0.02, 0.02, 0.1), tissue=TEST_TISSUE):
    """A column along z whose top face (z = size_z) is to be anchored."""
    model = tet_block(size, divisions, tissue=tissue)
    top = np.flatnonzero(np.isclose(model.positions[:, 2], size[2]))
    bottom = np.flatnonzero(np.isclose(model.positions[:, 2], 0.0))
    return model, top, bottom


def run(solver, control, steps, state=None, callback=None, events=None):
    """Step ``solver`` under ``control`` ``steps`` times from ``state`` (default: rest); returns the final state.
    The steps' blow-up events are appended to ``events`` when given."""
    a = state if state is not None else solver.state()
    b = solver.state()
    for i in range(steps):
        if callback is not None:
            callback(i, a)
        event = solver.step(a, b, control)
        if event is not None and events is not None:
            events.append(event)
        a, b = b, a
    return a


def positions(state) -> np.ndarray:
    return state.positions_numpy() if hasattr(state, "positions_numpy") else state.positions


def static_equilibrium(layout, anchored: np.ndarray, gravity, forces=None, x0=None, iterations=40) -> np.ndarray:
    """Newton solve of the spring network's static equilibrium (independent of the dynamic solver)."""
    model = layout.model
    x = np.array(model.positions if x0 is None else x0, dtype=np.float64, copy=True)
    n = model.node_count
    s = model.springs
    k = layout.stiffness
    rest = layout.rest_lengths
    fext = layout.masses[:, None] * np.asarray(gravity, dtype=np.float64)[None, :]
    if forces is not None:
        fext = fext + forces
    free = np.flatnonzero(~anchored)
    dofs = np.sort(np.concatenate([3 * free, 3 * free + 1, 3 * free + 2]))
    for _ in range(iterations):
        xij = x[s[:, 1]] - x[s[:, 0]]
        length = np.linalg.norm(xij, axis=1)
        d = xij / length[:, None]
        fs = (k * (length - rest))[:, None] * d
        force = fext.copy()
        np.add.at(force, s[:, 0], fs)
        np.add.at(force, s[:, 1], -fs)
        residual = force.reshape(-1)[dofs]
        if np.abs(residual).max() < 1e-13:
            break
        rows, cols, vals = [], [], []
        for a in range(3):
            for b in range(3):
                kab = k * (d[:, a] * d[:, b] + (1.0 - rest / length) * ((a == b) - d[:, a] * d[:, b]))
                for p, q, sign in ((0, 0, 1.0), (1, 1, 1.0), (0, 1, -1.0), (1, 0, -1.0)):
                    rows.append(3 * s[:, p] + a)
                    cols.append(3 * s[:, q] + b)
                    vals.append(sign * kab)
        stiff = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                              shape=(3 * n, 3 * n))
        step = spla.spsolve(stiff[dofs][:, dofs].tocsc(), residual)
        x.reshape(-1)[dofs] += step
    return x
