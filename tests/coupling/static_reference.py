"""Static equilibrium of a tissue model's spring network, solved independently of the simulator (test helper).

Newton's method (conjugate-gradient inner solves) on the elastic energy Σ ½ k (|x_i − x_j| − L)² with some nodes
held: the Hessian blocks are k [(1 − L/l) I + (L/l) d dᵀ], with (1 − L/l) clamped at 0 so that compressed springs keep the matrix positive
definite (a damped Newton step; the equilibrium found is the same). Stiffness from the material through
:func:`surgsim.tissue.stiffness.spring_stiffness`, as in the solver.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from surgsim.mesh.model import TissueModel
from surgsim.tissue.stiffness import spring_stiffness


def spring_forces(model: TissueModel, x: np.ndarray, stiffness: np.ndarray) -> np.ndarray:
    """Net elastic force on every node [N, 3] [N] at positions ``x``."""
    s = model.springs
    xij = x[s[:, 1]] - x[s[:, 0]]
    length = np.linalg.norm(xij, axis=1)
    pull = (stiffness * (length - model.rest_lengths) / length)[:, None] * xij
    forces = np.zeros_like(x)
    np.add.at(forces, s[:, 0], pull)
    np.add.at(forces, s[:, 1], -pull)
    return forces


def static_equilibrium(model: TissueModel, x_start: np.ndarray, held: np.ndarray, *, tolerance_n: float = 1e-9,
                       max_iterations: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """(positions [N, 3], elastic forces [N, 3]) at equilibrium with the ``held`` nodes fixed where ``x_start`` has
    them; the force the holders exert on held node i is ``-forces[i]``."""
    k = spring_stiffness(model)
    s = model.springs
    n = model.node_count
    x = np.array(x_start, dtype=np.float64, copy=True)
    free = np.setdiff1d(np.arange(n), held)
    dofs = (3 * free[:, None] + np.arange(3)).ravel()
    for _ in range(max_iterations):
        forces = spring_forces(model, x, k)
        residual = forces[free].ravel()
        if np.abs(residual).max() < tolerance_n:
            break
        xij = x[s[:, 1]] - x[s[:, 0]]
        length = np.linalg.norm(xij, axis=1)
        d = xij / length[:, None]
        ratio = model.rest_lengths / length
        blocks = k[:, None, None] * (np.maximum(1.0 - ratio, 0.0)[:, None, None] * np.eye(3)
                                     + ratio[:, None, None] * d[:, :, None] * d[:, None, :])
        rows, cols, values = [], [], []
        for a, b, sign in ((0, 0, 1.0), (1, 1, 1.0), (0, 1, -1.0), (1, 0, -1.0)):
            for u in range(3):
                for v in range(3):
                    rows.append(3 * s[:, a] + u)
                    cols.append(3 * s[:, b] + v)
                    values.append(sign * blocks[:, u, v])
        stiffness_matrix = sp.csr_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
                                         shape=(3 * n, 3 * n))
        reduced = stiffness_matrix[dofs][:, dofs]
        jacobi = spla.LinearOperator(reduced.shape, matvec=lambda r, d=1.0 / reduced.diagonal(): d * r)
        step, _ = spla.cg(reduced, residual, rtol=1e-10, atol=0.0, maxiter=20 * len(dofs), M=jacobi)
        x[free] += step.reshape(-1, 3)
    return x, spring_forces(model, x, k)
