"""The per-tet volume term that gives the spring network the material's Poisson's ratio (CPU, numpy only).

Why: a network of central springs on tet edges has the Poisson's ratio of its geometry (0.035 on Kuhn blocks, 0.245
on gmsh's Delaunay meshes, measured with :func:`surgsim.tissue.stiffness.measure_elasticity`), whatever the
material's; soft tissue is nearly incompressible (ν = 0.45). Adding the volume energy of Teschner et al. 2004
("A versatile and robust model for geometrically complex deformable solids", CGI 2004: their volume constraint)

    E_t = λ_v / (2 V0_t) · (V_t − V0_t)²                        (λ_v [Pa]: the added Lamé modulus)

to every tet t adds λ_v to the network's Lamé λ without touching its shear modulus, so that the springs' scale and λ_v
together give both E and ν (:func:`surgsim.tissue.stiffness.poisson_calibration`).

How it enters the solver (the same local/global Jacobi sweep as the springs): the tet's pressure p_t = λ_v (V_t −
V0_t) / V0_t is computed from the current positions (a determinant), and its force −p_t ∂V/∂x_i is written exactly
as central forces along the tet's six edges, −p_t w_ij (x_i − x_j), with w_ij = −V ∇N_i · ∇N_j the current
"cotangent" weight of edge ij (∇N the shape-function gradients in the current shape: Σ_j w_ij (x_i − x_j) = V ∇N_i
= ∂V/∂x_i, also for a squashed or inverted tet, which the force then restores). A pass over the tets writes the six
p_t w_ij; each spring gathers its tets' values through a CSR list in a fixed order (no atomics) and adds them to its
scalar; the node pass is untouched. (The weights must be the current shape's at every refresh: held through a
sub-step from its first sweep, a third cheaper, a column pulled to 60 % stretch with shear in 0.2 s blew up.) The
forces are central: momentum and angular momentum are conserved and rigid
motion produces no force. (Weights taken at rest instead, V0 F ∇N_i, are exact only to first order and push an
inverted tet the wrong way: with them, before the pressure bound below, the liver retraction blew up at 4.9 s.)

Large deformation: the energy is quadratic up to a volume change of :data:`PRESSURE_LIMIT` × V0 and linear beyond
(Huber), i.e. the pressure saturates at ±0.2 λ_v. That bounds the term's indefinite geometric stiffness (p ∂²V/∂x²),
which the constant Jacobi diagonal does not cover: unbounded, a Kuhn column pulled 60 % with shear blew up within
0.1 s. Squashed tets below :data:`DEGENERATE_VOLUME` × V0 exert no volume force (their weights grow as 1/V). The small
strains of the calibration are untouched.

Damping: the Rayleigh damping of :mod:`surgsim.tissue.stiffness` (C = α M + β K) applies to the volume stiffness as
to the springs: the pressure gets a Kelvin–Voigt part β λ_v / V0 · (V_t − V_t,n) / h (V_t,n: the volume at the start
of the sub-step), which also damps the stiff volumetric modes that a fixed iteration count resolves least.

Jacobi diagonal: the term's Hessian at rest is λ_v/V0 g gᵀ (g = ∂V/∂x); with D_i = Σ_t λ_v/V0_t |g_i| Σ_j |g_j|
added to each node's diagonal, 0 ≤ λ_v/V0 g gᵀ ≤ diag(D) (Cauchy–Schwarz), so the Gershgorin-style bound of the
Chebyshev acceleration (Σ off-diagonal / diagonal) stays a bound with D counted as off-diagonal: the solver adds D to
each node's Σk column and β D to its Σc column. A tet with any cut spring loses its volume term (a cut must separate
the body).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from surgsim.mesh.build import tet_spring_ids
from surgsim.mesh.model import TissueModel

# A tet squashed below this fraction of its rest volume exerts no volume force that sweep (its edge weights ∝ 1/V).
DEGENERATE_VOLUME = 1e-6
# The pressure saturates at this volume change (× λ_v): see "Large deformation" above.
PRESSURE_LIMIT = 0.2
# The local corner pairs of a tet's six edges, in the order of mesh.build's tet_spring_ids.
_TET_EDGES = np.array([[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]])


def rest_shape_gradients(positions: np.ndarray, tets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rest volumes V0 [M] [m³], ∇N [M, 4, 3] [1/m]): the gradients of each tet's linear shape functions."""
    p = positions[tets]
    edges = np.stack([p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]], axis=2)  # columns
    volumes = np.linalg.det(edges) / 6.0
    inverse = np.linalg.inv(edges)  # rows are ∇N_1..3
    grads = np.concatenate([-inverse.sum(axis=1, keepdims=True), inverse], axis=1)
    return volumes, grads


@dataclass(frozen=True, eq=False)
class VolumeTerm:
    """The volume term's arrays for one model (M tets, S springs, E = 6 M spring-tet entries).

    - ``tets`` [M, 4] int32 (the model's, positively oriented, in the term's own order), ``rest_volumes`` [M] [m³];
    - ``modulus`` [M] [Pa]: λ_v of each tet's region (0 where the term is off);
    - ``retardation`` [M] [s]: the Rayleigh β of each tet's region (the volume term's Kelvin–Voigt dashpot);
    - ``spring_offsets`` [S + 1] int32, ``spring_slots`` [E] int32: the tets of spring s are entries
      ``spring_offsets[s]:spring_offsets[s+1]`` (sorted by tet: a fixed summation order), each the slot 6 t + k of
      the spring as edge k of tet t in the per-tet edge coefficients;
    - ``tet_springs`` [M, 6] int32: each tet's springs (a tet with a cut spring loses its term);
    - ``diagonal_factor`` [M, 4] [m³]: |g_i| Σ_j |g_j| / V0 at rest, so that D_i = Σ_t λ_v,t · factor[t, corner].
    """

    tets: np.ndarray
    rest_volumes: np.ndarray
    modulus: np.ndarray
    retardation: np.ndarray
    spring_offsets: np.ndarray
    spring_slots: np.ndarray
    tet_springs: np.ndarray
    diagonal_factor: np.ndarray

    @classmethod
    def build(cls, model: TissueModel, region_modulus: np.ndarray, region_retardation: np.ndarray) -> "VolumeTerm":
        # The term's own tet order: by smallest node id, then the others (as the springs are ordered), so that the
        # pass over the tets and the springs' gathers of pressures read memory nearly in sequence (liver: the term
        # costs 15 % less than in the mesh's order).
        corners = np.sort(model.tets, axis=1)
        order = np.lexsort(corners.T[::-1])
        model_tets = model.tets[order]
        tet_region = model.tet_region[order]
        volumes, grads = rest_shape_gradients(model.positions, model_tets)
        springs = tet_spring_ids(model).astype(np.int64)[order]
        tet_ids = np.repeat(np.arange(model.tet_count), 6)
        flat_springs = springs.reshape(-1)
        order = np.lexsort((tet_ids, flat_springs))
        offsets = np.zeros(model.spring_count + 1, dtype=np.int64)
        np.cumsum(np.bincount(flat_springs, minlength=model.spring_count), out=offsets[1:])
        g = volumes[:, None, None] * grads  # ∂V/∂x_i at rest [m²]
        norms = np.linalg.norm(g, axis=2)
        factor = norms * norms.sum(axis=1, keepdims=True) / volumes[:, None]

        def frozen(a, dtype):
            a = np.ascontiguousarray(a, dtype=dtype)
            a.flags.writeable = False
            return a

        return cls(
            tets=frozen(model_tets, np.int32),
            rest_volumes=frozen(volumes, np.float64),
            modulus=frozen(np.asarray(region_modulus, dtype=np.float64)[tet_region], np.float64),
            retardation=frozen(np.asarray(region_retardation, dtype=np.float64)[tet_region], np.float64),
            spring_offsets=frozen(offsets, np.int32),
            spring_slots=frozen(order, np.int32),
            tet_springs=frozen(springs, np.int32),
            diagonal_factor=frozen(factor, np.float64),
        )

    def tet_params(self, spring_active: np.ndarray) -> np.ndarray:
        """[M, 3]: (λ_v / V0 [Pa/m³], V0 [m³], β λ_v / V0 [Pa·s/m³]) of each tet; 0, V0, 0 for a tet with a cut
        spring."""
        kappa = self.modulus * self._intact(spring_active) / self.rest_volumes
        return np.ascontiguousarray(np.column_stack([kappa, self.rest_volumes, self.retardation * kappa]))

    def node_diagonal(self, spring_active: np.ndarray, node_count: int) -> tuple[np.ndarray, np.ndarray]:
        """([N] the term's share D_i of each node's Jacobi diagonal [N/m], [N] its dashpot's share β D_i [N·s/m])."""
        per_corner = (self.modulus * self._intact(spring_active))[:, None] * self.diagonal_factor
        share = np.bincount(self.tets.reshape(-1), per_corner.reshape(-1), minlength=node_count)
        damped = np.bincount(self.tets.reshape(-1), (self.retardation[:, None] * per_corner).reshape(-1),
                             minlength=node_count)
        return share, damped

    def _intact(self, spring_active: np.ndarray) -> np.ndarray:
        return np.all(np.asarray(spring_active, dtype=bool)[self.tet_springs], axis=1)

    def volumes(self, positions: np.ndarray) -> np.ndarray:
        p = positions[self.tets]
        return np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0]) / 6.0

    def edge_coefficients(self, positions: np.ndarray, tet_params: np.ndarray, start_volumes: np.ndarray | None = None,
                          h: float = 1.0) -> np.ndarray:
        """[S] Σ_t p_t w_e,t(x) of every spring at ``positions`` (the numpy twin of the kernels' two passes); with
        ``start_volumes`` (the tets' volumes at the start of a sub-step of ``h`` [s]) p_t includes the dashpot."""
        p = positions[self.tets]
        e1, e2, e3 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]
        a1, a2, a3 = np.cross(e2, e3), np.cross(e3, e1), np.cross(e1, e2)
        a = np.stack([-(a1 + a2 + a3), a1, a2, a3], axis=1)
        det = np.einsum("ij,ij->i", e1, a1)
        volume = det / 6.0
        if start_volumes is None:
            pressure = tet_params[:, 0] * (volume - tet_params[:, 1])
        else:  # as the kernels compute it: affine in V within the sub-step
            damping = tet_params[:, 2] / h
            pressure = (tet_params[:, 0] + damping) * volume - (tet_params[:, 0] * tet_params[:, 1]
                                                                 + damping * start_volumes)
        bound = PRESSURE_LIMIT * tet_params[:, 0] * tet_params[:, 1]
        pressure = np.clip(pressure, -bound, bound)
        usable = np.abs(det) > DEGENERATE_VOLUME * 6.0 * tet_params[:, 1]
        scale = np.where(usable, -pressure / np.where(usable, 6.0 * det, 1.0), 0.0)
        products = np.einsum("mkj,mkj->mk", a[:, _TET_EDGES[:, 0]], a[:, _TET_EDGES[:, 1]])
        contributions = (scale[:, None] * products).reshape(-1)[self.spring_slots]
        counts = np.diff(self.spring_offsets)
        return np.bincount(np.repeat(np.arange(len(counts)), counts), contributions, minlength=len(counts))
