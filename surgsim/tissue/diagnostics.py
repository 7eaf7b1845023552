"""Energy bookkeeping (numpy) for tests and tuning."""

from __future__ import annotations

import numpy as np

from surgsim.tissue.layout import SolverModel


def energy(layout: SolverModel, positions: np.ndarray, velocities: np.ndarray, gravity=None,
           spring_active: np.ndarray | None = None) -> dict[str, float]:
    """Kinetic, elastic and gravitational energy [J] (gravity potential relative to the origin)."""
    g = np.asarray(layout.options.gravity if gravity is None else gravity, dtype=np.float64)
    s = layout.model.springs
    length = np.linalg.norm(positions[s[:, 1]] - positions[s[:, 0]], axis=1)
    k = layout.stiffness if spring_active is None else layout.stiffness * spring_active
    kinetic = 0.5 * float(np.sum(layout.masses * np.einsum("ij,ij->i", velocities, velocities)))
    elastic = 0.5 * float(np.sum(k * (length - layout.rest_lengths) ** 2))
    potential = -float(np.sum(layout.masses * (positions @ g)))
    return {"kinetic": kinetic, "elastic": elastic, "gravity": potential, "total": kinetic + elastic + potential}
