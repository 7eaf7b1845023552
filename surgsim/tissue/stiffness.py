"""Young's modulus → spring stiffness, and the damping coefficients (CPU, numpy only).

Stiffness (van Gelder 1998, "Approximate simulation of elastic membranes by triangulated spring meshes", extended to
tetrahedra): every spring (tet edge) e of rest length L_e gets

    k_e = c · E_e · Σ_{t ∋ e} V_t / L_e²            [N/m]

where the sum runs over the tets sharing the edge, V_t is the rest volume of tet t and E_e the Young's modulus of the
spring's region. ``c`` = :data:`CALIBRATION_FACTOR` was determined with :func:`measure_youngs_modulus` (a linear static
uniaxial test: one end face held along the axis, the other displaced, lateral faces free, E_eff = reaction stress /
strain):

======================================  ================  =====================
mesh (c = 1)                            E_eff / E         Poisson ratio of net
======================================  ================  =====================
Kuhn 6-tet blocks (``tet_block``), any  1.0345            0.035
resolution or aspect, any of x, y, z
tetgen (Delaunay) boxes, 1.1k–8.7k      0.938 – 1.008     0.24
nodes, radius-edge 1.2–2.0
======================================  ================  =====================

``c = 1.014`` centres both mesh families: E_eff / E = 1.049 on Kuhn blocks and 0.951–1.022 on tetgen meshes, i.e.
within ±5 % of the requested modulus (the tests demand 10 %). On today's gmsh meshes (boxes of 950–5700 nodes) the
same c gives 0.97–1.03 and ν = 0.245.

Limits: a network of central springs has a Poisson ratio fixed by its geometry (≈ 0.035 for the Kuhn lattice, ≈ 0.245
for Delaunay meshes); it cannot represent ν → 0.5 alone. With ``SolverOptions.poisson = "from_material"`` a per-tet
volume term (:mod:`surgsim.tissue.volume`) adds the missing bulk stiffness and the springs are rescaled, both from
:func:`poisson_calibration`, so that E and ν come out together; otherwise the material's ``poisson_ratio`` is
recorded but not used. Shear stiffness follows from the springs. The mapping is linear-elastic (small strain); at
strains beyond ~10 % a spring network stiffens slightly as edges rotate toward the load.

Damping is Rayleigh damping C = α M + β K, both parts physically interpretable:

- β [s] is a Kelvin–Voigt retardation time (the tissue's internal viscosity η = β E): every spring carries a dashpot
  c_e = β k_e acting on the rate of change of its length, so rigid motion is never damped;
- α [1/s] is ambient drag from the surrounding fluid and tissue, acting on each node's velocity relative to the
  rigid motion of its body (the piece its live springs hold together): a body held by anchors or attachments has
  none, so there it is drag on absolute velocity; a free piece (cut off, or never anchored) keeps its momentum and
  spin and falls as a body falls, while its own vibration is damped (the solver fits the rigid motion each step,
  ``kernels_step._rigid_drift``). Drag on absolute velocity held a free piece back: a piece cut off a gauze of
  the gallbladder material (α = 37/s) fell at no more than g/α = 0.27 m/s.

From a damping ratio ζ (the region material's ``damping_ratio`` unless the solver options override it) at a reference
frequency ω = 2π f (by default :func:`fundamental_frequency_estimate`), the two parts share ζ at ω:
α = 2 ζ s ω and β = 2 ζ (1 − s) / ω, with s the ambient share (``SolverOptions.ambient_damping_share``). Then the mode
at ω has exactly ζ, slower modes are damped mostly by α and faster ones mostly by β (ζ(ω') = α/2ω' + βω'/2).
"""

from __future__ import annotations

import math

import numpy as np

from surgsim.mesh.build import tet_spring_ids
from surgsim.mesh.model import TissueModel

CALIBRATION_FACTOR = 1.014

# The calibrated spring network's own (E_eff / E, Poisson's ratio) per mesh family, from :func:`measure_elasticity`
# (uniaxial along x, y and z): Kuhn blocks (tet_block) 1.049 and 0.035 at any resolution; gmsh boxes of 950-5700
# nodes 0.97-1.03 (mean 0.99) and 0.234-0.248 (mean 0.245). The third number is how much stiffer the network with the
# volume term comes out than the isotropic sum of :func:`poisson_calibration` predicts (1 on Kuhn blocks, where the
# sum is exact; on gmsh meshes at ν = 0.45: boxes of 1k-6k nodes 1.03-1.095, cylinders of 0.8k and 2.8k nodes
# 0.995-1.0), by which both parts are divided.
NETWORK_ELASTICITY = {"kuhn": (1.049, 0.035, 1.0), "delaunay": (0.99, 0.245, 1.03)}


def network_family(model: TissueModel) -> str:
    """"kuhn" for the structured blocks of :func:`surgsim.mesh.primitives.tet_block`, "delaunay" for meshed shapes."""
    return "kuhn" if model.metadata.get("source") == "tet_block" else "delaunay"


def poisson_calibration(poisson_ratio, family: str) -> tuple[np.ndarray, np.ndarray]:
    """(spring scale, λ_v / E) per value of ``poisson_ratio``: the factor on the calibrated springs and the volume
    term's Lamé modulus (in units of E) that give a network of ``family`` both E and ν.

    The network alone behaves (along the axes of a Kuhn block, or on average on a Delaunay mesh) like a linear
    material of E_s = e E, ν_s, i.e. Lamé μ_s = E_s / 2(1 + ν_s), λ_s = E_s ν_s / (1 + ν_s)(1 − 2ν_s); the volume term
    adds λ_v to λ and nothing to μ. Matching μ fixes the spring scale a = μ / μ_s, then λ_v = λ − a λ_s. A ν below
    the network's own cannot be reached by adding volume stiffness: there the springs are kept (a = 1, λ_v = 0).
    """
    e, nu_s, coupled = NETWORK_ELASTICITY[family]
    nu = np.asarray(poisson_ratio, dtype=np.float64)
    mu, lam = 1.0 / (2.0 * (1.0 + nu)), nu / ((1.0 + nu) * (1.0 - 2.0 * nu))
    mu_s, lam_s = e / (2.0 * (1.0 + nu_s)), e * nu_s / ((1.0 + nu_s) * (1.0 - 2.0 * nu_s))
    scale = mu / mu_s
    modulus = lam - scale * lam_s
    reachable = modulus > 0.0
    return np.where(reachable, scale / coupled, 1.0), np.where(reachable, modulus / coupled, 0.0)

def spring_volumes(model: TissueModel) -> np.ndarray:
    """Σ V_t over the tets sharing each spring [m³], shape [S]."""
    index = tet_spring_ids(model).reshape(-1)
    volumes = np.zeros(model.spring_count)
    np.add.at(volumes, index, np.repeat(model.tet_volumes(), 6))
    return volumes


def spring_stiffness(model: TissueModel, *, calibration: float = CALIBRATION_FACTOR,
                     youngs_modulus_pa: float | None = None) -> np.ndarray:
    """Stiffness of every spring [N/m], shape [S] (see the module docstring for the mapping)."""
    e = model.spring_material("youngs_modulus_pa") if youngs_modulus_pa is None else float(youngs_modulus_pa)
    return calibration * e * spring_volumes(model) / model.rest_lengths**2


def fundamental_frequency_estimate(model: TissueModel) -> float:
    """A cheap estimate of the lowest elastic natural frequency [Hz]: the quarter-wave axial mode c / (4 L).

    L is the largest extent of the model's bounding box and c = sqrt(E/ρ) the mass-weighted mean wave speed. It is a
    scale for the damping, not a modal analysis (the true value depends on how the organ is held).
    """
    extent = float(np.max(model.positions.max(axis=0) - model.positions.min(axis=0)))
    speed = np.sqrt(model.node_material("youngs_modulus_pa") / model.node_material("density_kg_m3"))
    c = float(np.average(speed, weights=model.masses))
    return c / (4.0 * max(extent, 1e-9))


def rayleigh_coefficients(damping_ratio: np.ndarray | float, frequency_hz: float,
                          ambient_share: float) -> tuple[np.ndarray, np.ndarray]:
    """(α [1/s], β [s]) giving ``damping_ratio`` at ``frequency_hz``, ``ambient_share`` of it from α."""
    omega = 2.0 * math.pi * frequency_hz
    zeta = np.asarray(damping_ratio, dtype=np.float64)
    return 2.0 * zeta * ambient_share * omega, 2.0 * zeta * (1.0 - ambient_share) / omega


def linear_stiffness_matrix(model: TissueModel, stiffness: np.ndarray, volume=None):
    """The [3N, 3N] sparse stiffness matrix at rest of the springs and, when given, the volume term
    (a :class:`~surgsim.tissue.volume.VolumeTerm`: λ_v / V0 g gᵀ per tet, g = ∂V/∂x)."""
    import scipy.sparse as sp

    x = model.positions
    n = model.node_count
    s = model.springs
    d = x[s[:, 1]] - x[s[:, 0]]
    d /= np.linalg.norm(d, axis=1)[:, None]
    rows, cols, vals = [], [], []
    for a in range(3):
        for b in range(3):
            kab = stiffness * d[:, a] * d[:, b]
            for p, q, sign in ((0, 0, 1.0), (1, 1, 1.0), (0, 1, -1.0), (1, 0, -1.0)):
                rows.append(3 * s[:, p] + a)
                cols.append(3 * s[:, q] + b)
                vals.append(sign * kab)
    if volume is not None:
        g = volume_gradients(model.positions, volume.tets).reshape(-1, 12)
        kappa = volume.modulus / volume.rest_volumes
        dofs = (3 * volume.tets[:, :, None] + np.arange(3)).reshape(-1, 12)
        rows.append(np.repeat(dofs, 12, axis=1).reshape(-1))
        cols.append(np.tile(dofs, (1, 12)).reshape(-1))
        vals.append((kappa[:, None, None] * g[:, :, None] * g[:, None, :]).reshape(-1))
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(3 * n, 3 * n))


def volume_gradients(positions: np.ndarray, tets: np.ndarray) -> np.ndarray:
    """[M, 4, 3] ∂V_t/∂x_i of every tet at ``positions`` [m²]."""
    p = positions[tets]
    g = np.empty(p.shape)
    for i, (a, b, c) in enumerate(((1, 3, 2), (0, 2, 3), (0, 3, 1), (0, 1, 2))):
        g[:, i] = np.cross(p[:, b] - p[:, a], p[:, c] - p[:, a]) / 6.0
    return g


def prescribed_displacements(k, fixed: dict[int, float]) -> np.ndarray:
    """Linear statics of stiffness matrix ``k`` [3N × 3N] with the degrees of freedom in ``fixed`` held at their
    values [m] and no other load: the displacement of every degree of freedom."""
    import scipy.sparse.linalg as spla

    fixed_dofs = np.array(sorted(fixed))
    fixed_vals = np.array([fixed[i] for i in fixed_dofs])
    free = np.setdiff1d(np.arange(k.shape[0]), fixed_dofs)
    u = np.zeros(k.shape[0])
    u[fixed_dofs] = fixed_vals
    u[free] = spla.spsolve(k[free][:, free].tocsc(), -k[free][:, fixed_dofs] @ fixed_vals)
    return u


def measure_youngs_modulus(model: TissueModel, stiffness: np.ndarray, *, axis: int = 0,
                           strain: float = 1e-3) -> tuple[float, float]:
    """Apparent (Young's modulus [Pa], Poisson ratio) of a spring network in a linear static uniaxial test
    (:func:`measure_elasticity` without a volume term)."""
    youngs, poisson, _ = measure_elasticity(model, stiffness, axis=axis, strain=strain)
    return youngs, poisson


def measure_elasticity(model: TissueModel, stiffness: np.ndarray, volume=None, *, axis: int = 0,
                       strain: float = 1e-3, face_tolerance: float = 1e-6) -> tuple[float, float, float]:
    """Apparent (Young's modulus [Pa], Poisson's ratio from lateral contraction, Poisson's ratio from the volume
    change) of a spring network (plus a volume term) in a linear static uniaxial test.

    The nodes within ``face_tolerance`` [m] of the minimum and maximum of ``axis`` are held at 0 and ``strain`` ×
    length along the axis and free across it (three extra scalar constraints remove the rigid motions); E = reaction
    force / cross-section / strain, the cross-section being volume / length (a box, a cylinder: any prism along
    ``axis``). ν from lateral contraction is the slope of the lateral displacements against the lateral coordinates;
    ν from the volume change solves ΔV / V = ε (1 − 2ν). Used to calibrate :data:`CALIBRATION_FACTOR` and
    :data:`NETWORK_ELASTICITY`.
    """
    x = model.positions
    n = model.node_count
    k = linear_stiffness_matrix(model, stiffness, volume)
    lo, hi = x[:, axis].min(), x[:, axis].max()
    length = hi - lo
    o1, o2 = [a for a in range(3) if a != axis]
    left = np.flatnonzero(x[:, axis] <= lo + face_tolerance)
    right = np.flatnonzero(x[:, axis] >= hi - face_tolerance)
    fixed = {3 * i + axis: 0.0 for i in left}
    fixed.update({3 * i + axis: strain * length for i in right})
    corner = left[np.lexsort((x[left, o2], x[left, o1]))][0]
    fixed[3 * corner + o1] = 0.0
    fixed[3 * corner + o2] = 0.0
    fixed[3 * left[np.argmax(x[left, o1] - 1e-3 * x[left, o2])] + o2] = 0.0
    u = prescribed_displacements(k, fixed)
    force = (k @ u)[3 * right + axis].sum()
    youngs = force / (model.volume() / length) / strain
    lateral = [-np.polyfit(x[:, o], u[3 * np.arange(n) + o], 1)[0] / strain for o in (o1, o2)]
    volume_change = float(np.einsum("mij,mij->", volume_gradients(x, model.tets), u.reshape(-1, 3)[model.tets]))
    poisson_volume = 0.5 * (1.0 - volume_change / (model.volume() * strain))
    return float(youngs), float(np.mean(lateral)), float(poisson_volume)
