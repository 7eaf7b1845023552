"""SolverModel: the solver's numpy view of a TissueModel (built once, CPU only, shared by Taichi and reference).

It adds to the immutable :class:`~surgsim.mesh.model.TissueModel` what the solver options decide: spring stiffness
and dashpots, ambient drag per node, and the CSR adjacency through which every node *gathers* the springs it belongs
to. Gathering (instead of scattering spring forces with atomic adds) makes a step bit-reproducible on a backend.

Shapes (N nodes, S springs, E = 2 S adjacency entries):

- ``csr_offsets`` [N + 1] int32, ``csr_neighbors`` [E] int32, ``csr_springs`` [E] int32: the springs of node i are
  entries ``csr_offsets[i]:csr_offsets[i+1]``, sorted by neighbour id (a fixed summation order);
- ``stiffness`` [S] [N/m], ``dashpot`` [S] [N·s/m], ``rest_lengths`` [S] [m];
- ``masses`` [N] [kg] (the model's lumped masses after selective mass scaling, see ``SolverOptions.mass_scaling``),
  ``drag`` [N] [1/s] (ambient, mass-proportional damping rate).

``spring_active`` (a boolean mask [S]) is the runtime hook for cutting and tearing: inactive springs contribute
nothing; :meth:`spring_params` and :meth:`node_params` fold the mask in.

With ``SolverOptions.poisson = "from_material"`` the springs are rescaled and ``volume`` holds the per-tet volume term
(:mod:`surgsim.tissue.volume`) that together give each region its Young's modulus *and* Poisson's ratio
(:func:`surgsim.tissue.stiffness.poisson_calibration`); the term's share of the Jacobi diagonal is added to the Σk
column of :meth:`node_params`. With ``"off"`` (the default) ``volume`` is None and nothing changes.

With ``SolverOptions.viscoelastic = "from_material"``, ``relaxation_share`` [S] (g1) and ``relaxation_rate`` [S]
[1/s] (1/τ1) give each spring its region's Maxwell branch (see :meth:`relaxation_params`); None when off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from surgsim.mesh.model import TissueModel
from surgsim.tissue.options import SolverOptions
from surgsim.tissue.stiffness import (
    fundamental_frequency_estimate,
    network_family,
    poisson_calibration,
    rayleigh_coefficients,
    spring_stiffness,
)
from surgsim.tissue.volume import VolumeTerm


class AwakeWindow(NamedTuple):
    """The nodes, springs and tets a step advances: ``[first, end)`` index ranges of each."""

    first_node: int
    end_node: int
    first_spring: int
    end_spring: int
    first_tet: int
    end_tet: int

    def node_mask(self, node_count: int) -> np.ndarray:
        mask = np.zeros(node_count, dtype=bool)
        mask[self.first_node:self.end_node] = True
        return mask


@dataclass(frozen=True, eq=False)
class SolverModel:
    model: TissueModel
    options: SolverOptions
    csr_offsets: np.ndarray
    csr_neighbors: np.ndarray
    csr_springs: np.ndarray
    csr_rows: np.ndarray
    stiffness: np.ndarray
    dashpot: np.ndarray
    rest_lengths: np.ndarray
    masses: np.ndarray
    drag: np.ndarray
    damping_frequency_hz: float
    volume: VolumeTerm | None = None
    relaxation_share: np.ndarray | None = None
    relaxation_rate: np.ndarray | None = None

    @classmethod
    def build(cls, model: TissueModel, options: SolverOptions) -> "SolverModel":
        n = model.node_count
        s = model.springs.astype(np.int64)
        rows = np.concatenate([s[:, 0], s[:, 1]])
        cols = np.concatenate([s[:, 1], s[:, 0]])
        ids = np.concatenate([np.arange(len(s))] * 2)
        order = np.lexsort((cols, rows))
        rows, cols, ids = rows[order], cols[order], ids[order]
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=offsets[1:])

        stiffness = spring_stiffness(model, calibration=options.calibration)
        freq = options.damping_frequency_hz or fundamental_frequency_estimate(model)
        if options.damping_ratio is None:
            zeta_region = model.region_materials["damping_ratio"]
        else:
            zeta_region = np.full(model.region_count, options.damping_ratio)
        alpha_region, beta_region = rayleigh_coefficients(zeta_region, freq, options.ambient_damping_share)
        volume = None
        if options.poisson == "from_material":
            spring_scale, volume_modulus = poisson_calibration(model.region_materials["poisson_ratio"],
                                                               network_family(model))
            stiffness = stiffness * spring_scale[model.spring_region]
            volume = VolumeTerm.build(model, volume_modulus * model.region_materials["youngs_modulus_pa"],
                                      beta_region)
        dashpot = beta_region[model.spring_region] * stiffness
        drag = alpha_region[model.node_region]

        # Selective mass scaling (see SolverOptions.mass_scaling): κ_i = (Σk + Σc/h) h² / m_i at the nominal sub-step.
        h = options.dt / options.substeps
        offdiag = (np.bincount(rows, stiffness[ids], minlength=n) + np.bincount(rows, dashpot[ids], minlength=n) / h)
        if volume is not None:
            share, damped = volume.node_diagonal(np.ones(model.spring_count, dtype=bool), n)
            offdiag += share + damped / h
        offdiag *= h * h
        masses = np.array(model.masses, dtype=np.float64, copy=True)
        if options.mass_scaling > 0 and n:
            kappa = offdiag / masses
            cap = options.mass_scaling * float(np.median(kappa))
            if cap > 0:
                masses = np.maximum(masses, offdiag / cap)

        share = rate = None
        if options.viscoelastic == "from_material":
            share = model.spring_material("relaxation_share")
            time = model.spring_material("relaxation_time_s")
            if np.any((share < 0.0) | (share > 1.0)) or np.any(time <= 0.0):
                raise ValueError("relaxation_share must be within 0..1 and relaxation_time_s positive")
            rate = 1.0 / time

        def frozen(a, dtype):
            a = np.ascontiguousarray(a, dtype=dtype)
            a.flags.writeable = False
            return a

        return cls(
            model=model,
            options=options,
            csr_offsets=frozen(offsets, np.int32),
            csr_neighbors=frozen(cols, np.int32),
            csr_springs=frozen(ids, np.int32),
            csr_rows=frozen(rows, np.int32),
            stiffness=frozen(stiffness, np.float64),
            dashpot=frozen(dashpot, np.float64),
            rest_lengths=frozen(model.rest_lengths, np.float64),
            masses=frozen(masses, np.float64),
            drag=frozen(drag, np.float64),
            damping_frequency_hz=float(freq),
            volume=volume,
            relaxation_share=None if share is None else frozen(share, np.float64),
            relaxation_rate=None if rate is None else frozen(rate, np.float64),
        )

    @property
    def node_count(self) -> int:
        return len(self.masses)

    @property
    def spring_count(self) -> int:
        return len(self.stiffness)

    @property
    def added_mass(self) -> float:
        """Mass added by selective mass scaling [kg]."""
        return float(self.masses.sum() - self.model.masses.sum())

    @property
    def adjacency(self) -> np.ndarray:
        """[E, 2] int32: (neighbour, spring) of every adjacency entry."""
        return np.ascontiguousarray(np.column_stack([self.csr_neighbors, self.csr_springs]).astype(np.int32))

    def spring_params(self, spring_active: np.ndarray) -> np.ndarray:
        """[S, 3]: rest length, stiffness, dashpot of each spring (0 stiffness and dashpot when inactive)."""
        on = np.asarray(spring_active, dtype=np.float64)
        return np.ascontiguousarray(np.column_stack([self.rest_lengths, self.stiffness * on, self.dashpot * on]))

    def node_params(self, spring_active: np.ndarray) -> np.ndarray:
        """[N, 4]: mass, Σ stiffness, Σ dashpot of the node's active springs (each + the volume term's diagonal
        share), ambient drag rate."""
        params = self.spring_params(spring_active)
        n = self.node_count
        stiffness = np.bincount(self.csr_rows, params[self.csr_springs, 1], minlength=n)
        dashpots = np.bincount(self.csr_rows, params[self.csr_springs, 2], minlength=n)
        if self.volume is not None:
            share, damped = self.volume.node_diagonal(spring_active, n)
            stiffness, dashpots = stiffness + share, dashpots + damped
        return np.ascontiguousarray(np.column_stack([
            self.masses,
            stiffness,
            dashpots,
            self.drag,
        ]))

    @property
    def viscoelastic(self) -> bool:
        return self.relaxation_share is not None

    def relaxation_params(self, h: float) -> np.ndarray:
        """[S, 2]: g1 and the branch's decay factor e^{−h/τ1} over a sub-step ``h`` of each spring (viscoelastic only).

        The branch rest length L1 follows dL1/dt = (l − L1)/τ1; over a sub-step with l held at its end value this
        integrates exactly to L1 ← l + (L1 − l) e^{−h/τ1}: unconditionally stable, exact for a held length."""
        decay = np.exp(-h * self.relaxation_rate)
        return np.ascontiguousarray(np.column_stack([self.relaxation_share, decay]))

    def tet_params(self, spring_active: np.ndarray) -> np.ndarray | None:
        """[M, 3] the volume term's (λ_v / V0, V0, β λ_v / V0) per tet (see VolumeTerm.tet_params); None when off."""
        return None if self.volume is None else self.volume.tet_params(spring_active)

    @staticmethod
    def chebyshev_rho(h: float, node_params: np.ndarray, anchored: np.ndarray) -> float:
        """Gershgorin bound of the Jacobi iteration's spectral radius at sub-step ``h`` (free nodes only)."""
        p = node_params
        offdiag = p[:, 1] + p[:, 2] / h
        diag = p[:, 0] / h**2 * (1.0 + p[:, 3] * h) + offdiag
        rho = offdiag / diag
        free = ~anchored
        return float(rho[free].max()) if np.any(free) else 0.0

    def awake_window(self, first_node: int, end_node: int) -> AwakeWindow:
        """The springs and tets among nodes ``[first_node, end_node)`` as index ranges; ValueError when the window
        cuts a spring or a tet, or its springs or tets are not one run of indices (a combined model's organs are: see
        :mod:`surgsim.mesh.combine`)."""
        n = self.model.node_count
        if not 0 <= first_node <= end_node <= n:
            raise ValueError(f"awake nodes [{first_node}, {end_node}) are not within the model's {n} nodes")
        ranges = []
        for what, items in (("spring", self.model.springs), ("tet", self.model.tets)):
            inside = (items >= first_node) & (items < end_node)
            whole = inside.all(axis=1)
            if np.any(inside.any(axis=1) & ~whole):
                raise ValueError(f"awake nodes [{first_node}, {end_node}) cut a {what}: wake whole organs")
            ids = np.flatnonzero(whole)
            first, end = (int(ids[0]), int(ids[-1]) + 1) if len(ids) else (0, 0)
            if end - first != len(ids):
                raise ValueError(f"the {what}s among awake nodes [{first_node}, {end_node}) are not one run of indices")
            ranges += [first, end]
        return AwakeWindow(first_node, end_node, *ranges)
