"""Instrument–tissue contact, and the per-step tissue measurements that grasping, cutting, tearing and cautery read.

Runs once per tick on the solver's output state, after ``TissueSolver.step`` (one Taichi kernel,
:mod:`surgsim.tissue.kernels_tool_contact`; the numpy twin used by the tests is ``tests/coupling/tool_contact_twin``).

Contact method
--------------
Tools are capsules (a segment p0–p1 [m] and a radius [m]: shafts, jaws, blades, hook), moving rigidly between ticks.
The tissue's current surface triangles are kept out of every capsule (plus a skin of ``skin_m``): for each
triangle the closest points of the triangle and the capsule axis are found (face, edge or vertex of the triangle), and
where they are closer than the radius the triangle is pushed out along the line joining them, its three nodes moving
in proportion to ``w_k / m_k`` (barycentric weight over mass: the smallest mass-weighted move that clears that
point). Testing triangles rather than nodes matters: on an organ mesh with 1 cm edges a 5 mm probe fits between the
nodes. Then every node (interior ones too: a tool can get under a surface that folded over an interior node, which a
spring network does not prevent) found inside a capsule is pushed out to its surface. Triangles and nodes are
processed one after the other in a fixed order (Gauss-Seidel), so overlapping pushes do not add up and the result is
reproducible.

Contact force. A correction Δx applied to the end-of-step position of a node of mass m is, for the implicit-Euler
step of length h that produced it (x' = x + h v', v' = v + h F/m), the effect of an extra force f with
h²f/m = Δx: **f = m Δx / h²**, acting for the whole step. Applied after the solve, such a projection alone misreads
the force: the solver let the node drift out of the tool during the step and its neighbours followed, so the
correction measures only the part of the load that the node's own inertia carried (on the shipped liver about 20 %
too little at rest, and a rest state that is not the tissue's equilibrium). The pass therefore **warm-starts**: the
total force F_i found at a node this tick is written to the state's external forces (``TissueState.forces``, the
instruments' channel) and acts inside the next solve, where the implicit solver balances it exactly; the projection
then corrects only the change. At rest the correction vanishes and F_i is the elastic reaction of the tissue (a static
equilibrium of the spring network is a fixed point of the solver). Where last tick's force pushed a node away from the
tool, the node is pulled back toward it by at most m·Δ/h² worth of that force (a contact force can push, never
pull), which is also how contact ends. The force on node i during the step is then
F_i = f_applied,i + m_i Δx_i / h², the tissue receives exactly that, and the tool receives **−Σ F_i**, summed in a
fixed order (no float atomics): Newton's third law holds to rounding.

Friction is Coulomb's law on the total force: the node's tangential slip relative to the tool point it touches is
removed (sticking) unless that needs a tangential force above μ times the normal force, in which case the tangential
force is μ F_n along it (sliding). The normal is the direction of the node's normal pushes this tick and of its
carried normal force. Velocities and accelerations are corrected consistently (Δv = Δx/h, Δa = Δx/h²).

Cap. A tool that appears deep in the tissue (jaws pressed fast into a thin duct, or re-enabled with tissue between
them) would be cleared in one tick by a correction of millimetres, i.e. a force m Δx/h² that the warm start then
carries into the next solve, where a light node flung by it can take the step past the blow-up guard (a clip
applier pressed 3 mm into the gallbladder neck threw a node 0.5 m). Two caps, with ℓ_i the mean rest length of the
node's springs: a tick's change of force moves the node at most ℓ_i, **|F_i − F_applied,i| ≤ m_i ℓ_i / h²**, and the
force carried into the next solve pushes it at most ℓ_i against its inertia and springs,
**|F_i| ≤ (m_i/h² + Σk_i) ℓ_i** (on the liver about 4 N and 10 N a node, against the ~0.5 N a node carries under a
probe pressed 1 cm in): a deeper penetration is cleared over a few ticks instead of one, a static one is held.

Measurements in the same kernel
-------------------------------
- tets strained beyond their region's failure strain for ``tear_checks`` tests in a row (tearing; one over-strained
  tick is a numerical transient, such as a node a tool lets go of) are flagged (``tet_flags``) and counted, and
  springs crossing a *cutter* triangle (the area a scissors blade swept) are flagged and counted. The strain of a tet
  is its **maximum principal stretch** λ₁ − 1: with F = D D₀⁻¹ the deformation gradient (D the edge matrix
  [b − a, c − a, d − a] now, D₀ at rest), λ₁² is the largest eigenvalue of C = FᵀF (closed form for a symmetric 3×3,
  Smith 1961, Commun ACM 4:168). It is the strain of the tissue, whatever the mesh's edge directions: a spring test
  reads only the strain along six edges, which on a coarse mesh next to a held boundary overstates it (a fold
  stretches edges that are not pulled). The kernel reads back nothing per tet: the host reads ``tet_flags`` only in a
  pass whose tear counter is not zero. Exempt: tets with a node that a tool presses on or grips (a grasp's nodes),
  or joined by a spring to one: their strain is the tool's indentation or the grip model's own (a grasp carries its
  nodes rigidly in the jaws' frame), which a linear tissue model overstates next to a point load (a 2 mm duct pushed
  by a clip applier with 0.015 N reads 55 % there); the tissue beyond them is tested. Also exempt: tets whose
  failure stretch is +inf
  (:meth:`ToolContact.exempt_from_tearing`: tissue crushed inside a clip and around it). A tet is over only when
  λ₁ of C averaged over its *tear neighbourhood* is over too (the live tets of its body whose rest centroids lie
  within ``tear_length_m`` of its own, weighted by rest volume; :func:`tear_neighbourhoods`): tissue fails over a
  length of its own, not over one element (a non-local strain, Pijaudier-Cabot & Bažant 1987, J Eng Mech
  113:1512), and next to a held patch a linear mesh puts the whole step in displacement into the one ring of tets at
  its edge, the finer the mesh the thinner the ring. C is averaged, not F: C does not see rotation. With
  ``tear_length_m`` 0 the neighbourhood is the tet alone;
- nodes touched by an *energized* capsule accumulate burn (0..1, full after ``burn_dwell_s`` of contact); nodes
  reaching 1 are counted as charred;
- for each group of grasped nodes, the force the grasp exerts on the tissue: at anchored nodes
  Σ [m (x' − x − h v)/h² − m g + α m (x' − x)/h − F_springs(x') − F_dashpots], the residual of the solver's
  equation at the prescribed positions (internal springs of the group cancel in the sum); at attached nodes (tied to
  their targets by springs of stiffness k, see ``TissueSolver.attach``) the pull of those springs, Σ k (target − x').

Data layout
-----------
Per tick the host hands the kernel one float64 array, ``io``, with the scalars, the capsules, the cutter
triangles and room for the outputs; the pass's own arrays (contact records, burn, spring data, adjacency, surface)
live in one float64 and one int32 device buffer cut into named sections: a launch costs microseconds per argument on
a CPU, and arrays of any size compile once per process. :mod:`surgsim.tissue.contact_layout` declares both layouts,
once, for the host, the kernel and the twin. Which nodes are anchored or attached the kernel reads from the device
anchor table of the control being stepped (``TissueSolver.anchor_table(control)``: flag +1 anchored, −k attached),
never from a copy. Limits: at most :data:`MAX_CAPSULES` capsules (a bit mask per triangle); the narrow phase is a
serial loop, cheap on a CPU but a single thread on a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from surgsim.mesh.build import tet_spring_ids
from surgsim.mesh.model import TissueModel
from surgsim.tissue.contact_layout import (
    C_FLAGS, C_FRICTION, C_P0, C_P0_BEFORE, C_P1, C_P1_BEFORE, C_RADIUS, CAPSULE_ENABLED, CAPSULE_ENERGIZED,
    CAPSULE_SENSE, COUNT_CHARRED, COUNT_CUT, COUNT_FORCE, COUNT_TORN, FLAG_TORN, FLOAT_SECTIONS, GRASP_FORCE,
    H_BURN_RATE, H_CAPSULES, H_CUTTERS, H_DT, H_GRASPED, H_GRASPS, H_GRAVITY, H_NODE_HI, H_NODE_LO, H_OUTPUT_ROW,
    H_SKIN, H_SPRING_COUNT, H_SPRING_HI, H_SPRING_LO, H_SPRINGS, H_TEAR_CHECKS, H_TET_COUNT, H_TRIANGLES,
    INT_SECTIONS, IO_WIDTH, MAX_CAPSULES, OUT_COUNT, OUT_ENERGIZED, OUT_FORCE, OUT_POINT,
    OUT_SENSED, OUT_STRONGEST, OUT_WEIGHT, ROW_CAPSULES, ROW_FLOAT_SECTIONS, ROW_HEADER, ROW_INT_SECTIONS,
    SETTLED_FOLD,
)
from surgsim.tissue.launch import BoundLaunch
from surgsim.tissue.host_view import HostView

# The pass is compiled without Taichi's own optimisations over its control-flow graph (store forwarding, dead stores;
# LLVM runs its own afterwards): on this long kernel they took ~8 s of a first run's compilation (1.8 s without), and
# the pass runs as fast without them. (The solver's step keeps them: ~3 % faster with them.)
CONTACT_COMPILE_OPTIONS = {"cfg_optimization": False}


def contact_caps(layout, spring_active: np.ndarray) -> np.ndarray:
    """[N, 2] per node: Σk of its live springs [N/m] and their mean rest length ℓ [m] (the contact force cap is
    (m/h² + Σk) ℓ; a node without live springs gets ℓ = the mean rest length of all its springs)."""
    n = layout.node_count
    on = np.asarray(spring_active, dtype=np.float64)[layout.csr_springs]
    rest = layout.rest_lengths[layout.csr_springs]
    stiffness = np.bincount(layout.csr_rows, layout.stiffness[layout.csr_springs] * on, minlength=n)
    count = np.bincount(layout.csr_rows, on, minlength=n)
    every = np.bincount(layout.csr_rows, minlength=n)
    live_mean = np.bincount(layout.csr_rows, rest * on, minlength=n) / np.maximum(count, 1.0)
    any_mean = np.bincount(layout.csr_rows, rest, minlength=n) / np.maximum(every, 1)
    return np.column_stack([stiffness, np.where(count > 0, live_mean, any_mean)])


def _edge_matrices(positions: np.ndarray, tets: np.ndarray) -> np.ndarray:
    """[M, 3, 3] each tet's edge matrix [b − a, c − a, d − a] (edges as columns) at ``positions``."""
    return np.stack([positions[tets[:, k]] - positions[tets[:, 0]] for k in (1, 2, 3)], axis=2)


def rest_edge_inverses(model: TissueModel, positions: np.ndarray | None = None) -> np.ndarray:
    """[M, 9] the inverse of each tet's edge matrix D₀ = [b − a, c − a, d − a] (columns) at ``positions`` (default:
    the model's rest positions), row-major: the deformation gradient is F = D D₀⁻¹. A degenerate tet (no volume)
    gets zeros (it never reads as strained)."""
    edges = _edge_matrices(model.positions if positions is None else np.asarray(positions, dtype=np.float64),
                           model.tets)
    inverse = np.zeros_like(edges)
    solid = np.abs(np.linalg.det(edges)) > 1e-30
    inverse[solid] = np.linalg.inv(edges[solid])
    return inverse.reshape(-1, 9)


def tear_neighbourhoods(model: TissueModel, length_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each tet's tear neighbourhood, CSR: (offsets [M+1], tet ids [K], their rest volumes [K] [m³]): the tets of
    the same body (connected through the mesh) whose rest centroids lie within ``length_m`` of its own, itself
    included (``length_m`` 0: itself alone)."""
    from scipy.sparse import coo_matrix, csr_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    p, tets = model.positions, model.tets
    m = len(tets)
    volume = np.abs(np.linalg.det(_edge_matrices(p, tets))) / 6.0 if m else np.zeros(0)
    if length_m <= 0.0 or m == 0:
        return np.arange(m + 1, dtype=np.int64), np.arange(m, dtype=np.int64), volume
    n = model.node_count
    springs = model.springs
    graph = coo_matrix((np.ones(len(springs)), (springs[:, 0], springs[:, 1])), shape=(n, n))
    body = connected_components(graph, directed=False)[1][tets[:, 0]]
    centroids = p[tets].mean(axis=1)
    pairs = cKDTree(centroids).query_pairs(length_m, output_type="ndarray")
    pairs = pairs[body[pairs[:, 0]] == body[pairs[:, 1]]]
    own = np.arange(m, dtype=np.int64)
    rows = np.concatenate([pairs[:, 0], pairs[:, 1], own])
    cols = np.concatenate([pairs[:, 1], pairs[:, 0], own])
    # A CSR built from the (tet, neighbour) pairs, each once, with each row's ids sorted: the lists in a fixed order
    # without a Python loop over the tets (1.3 million entries in the gallbladder scene).
    table = csr_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(m, m))
    table.sort_indices()
    offsets, ids = table.indptr.astype(np.int64), table.indices.astype(np.int64)
    return offsets, ids, volume[ids]


def capsule_row(p0, p1, radius: float, *, before=None, friction: float = 0.0, enabled: bool = True,
                energized: bool = False) -> np.ndarray:
    """One packed capsule: segment ``p0``–``p1`` [m], ``radius`` [m], where it was a tick ago (``before`` =
    (p0, p1); default: the same), Coulomb ``friction`` μ with tissue, and its flags (not ``enabled``: it only
    senses)."""
    row = np.zeros(IO_WIDTH)
    row[C_P0:C_P0 + 3], row[C_P1:C_P1 + 3], row[C_RADIUS] = p0, p1, radius
    b0, b1 = before if before is not None else (p0, p1)
    row[C_P0_BEFORE:C_P0_BEFORE + 3], row[C_P1_BEFORE:C_P1_BEFORE + 3] = b0, b1
    row[C_FRICTION] = friction
    row[C_FLAGS] = (CAPSULE_ENABLED if enabled else CAPSULE_SENSE) | (CAPSULE_ENERGIZED if energized else 0)
    return row


@dataclass(frozen=True, eq=False)
class ContactReport:
    """What one pass found; views into the kernel's output (valid until the next pass).

    Per capsule: ``reaction`` [C, 3] the tissue's force on it [N]; ``contact_point`` [C, 3] the force-weighted mean
    of the touching nodes [m] (NaN where none); ``node_count`` [C]; ``strongest_node`` [C] (-1 where none);
    ``energized_nodes`` [C] nodes an energized capsule touches; ``sensed`` [C] triangles within reach of a capsule
    that only senses. Per grasp group: ``grasp_force`` [G, 3] the force its
    anchors exert on the tissue [N]. Counters: ``torn`` tets and ``cut`` springs flagged, ``charred`` nodes that reached
    full burn this tick, ``tissue_force`` [3] the sum of the contact forces on the tissue [N]. ``springs_checked``:
    whether this pass tested the springs (see ``ToolContact.check_springs_every``).
    """

    outputs: np.ndarray
    capsule_count: int
    grasp_count: int
    springs_checked: bool

    @property
    def reaction(self) -> np.ndarray:
        return self.outputs[: self.capsule_count, OUT_FORCE:OUT_FORCE + 3]

    @property
    def node_count(self) -> np.ndarray:
        return self.outputs[: self.capsule_count, OUT_COUNT].astype(np.int64)

    @property
    def contact_point(self) -> np.ndarray:
        rows = self.outputs[: self.capsule_count]
        weight = rows[:, OUT_WEIGHT:OUT_WEIGHT + 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(weight > 0, rows[:, OUT_POINT:OUT_POINT + 3] / weight, np.nan)

    @property
    def strongest_node(self) -> np.ndarray:
        rows = self.outputs[: self.capsule_count]
        return np.where(rows[:, OUT_COUNT] > 0, rows[:, OUT_STRONGEST], -1).astype(np.int64)

    @property
    def energized_nodes(self) -> np.ndarray:
        return self.outputs[: self.capsule_count, OUT_ENERGIZED].astype(np.int64)

    @property
    def sensed(self) -> np.ndarray:
        return self.outputs[: self.capsule_count, OUT_SENSED].astype(np.int64)

    @property
    def grasp_force(self) -> np.ndarray:
        return self.outputs[self.capsule_count:self.capsule_count + self.grasp_count, GRASP_FORCE:GRASP_FORCE + 3]

    @property
    def _counters(self) -> np.ndarray:
        return self.outputs[self.capsule_count + self.grasp_count]

    @property
    def torn(self) -> int:
        return int(self._counters[COUNT_TORN])

    @property
    def cut(self) -> int:
        return int(self._counters[COUNT_CUT])

    @property
    def charred(self) -> int:
        return int(self._counters[COUNT_CHARRED])

    @property
    def tissue_force(self) -> np.ndarray:
        return self._counters[COUNT_FORCE:COUNT_FORCE + 3]


class SectionBuffer:
    """A flat device array cut into named sections; the host reads and writes it whole (only on rare changes)."""

    def __init__(self, ti, dtype, names: tuple[str, ...], sizes: dict[str, int]):
        self.names = names
        self.offsets = np.concatenate([[0], np.cumsum([sizes[name] for name in names])]).astype(np.int64)
        self.array = ti.ndarray(dtype, shape=int(max(1, self.offsets[-1])))
        self._dtype = np.float64 if dtype == ti.f64 else np.int32
        self._view = HostView(self.array)

    def read(self) -> np.ndarray:
        return self._view.copy()

    def section(self, host: np.ndarray, name: str) -> np.ndarray:
        """The view of section ``name`` in a host copy."""
        k = self.names.index(name)
        return host[self.offsets[k]:self.offsets[k + 1]]

    def read_section(self, name: str) -> np.ndarray:
        """A copy of section ``name``: where the buffer lies in host memory (the CPU backend) only that section is
        copied (the tear neighbourhoods make the buffers megabytes; a cut or a burn reads one small section)."""
        if self._view.array is None:
            return self.section(self.read(), name).copy()
        return self.section(self._view.array, name).copy()

    def write(self, **sections) -> None:
        """Replace the given sections (flattened) on the device, keeping every other value (in host memory in
        place; elsewhere the whole buffer goes back and forth)."""
        host = self.read() if self._view.array is None else self._view.array
        for name, values in sections.items():
            view = self.section(host, name)
            flat = np.asarray(values, dtype=self._dtype).reshape(-1)
            view[:] = 0
            view[: len(flat)] = flat
        if self._view.array is None:
            self.array.from_numpy(host)


class ToolContact:
    """The post-step pass for one :class:`~surgsim.tissue.solver.TissueSolver` and a fixed number of capsules.

    ``skin_m`` [m] keeps tissue that far outside every capsule (below a render's notice, and it keeps rendered
    triangles from cutting into the tool); ``burn_dwell_s`` [s] is the contact time under energy after which a node is
    fully charred; ``check_springs_every`` [ticks] how often tets are tested for tearing and springs for cutting (every
    pass with cutters tests them anyway), ``tear_checks`` how many tests in a row a tet must fail to tear.

    ``control`` is the :class:`~surgsim.tissue.control.TissueControl` the solver steps with: the pass reads which
    nodes are held from its device anchor table and which springs live from its spring mask (by its version).

    Per tick: ``report = contact.run(state_in, state_out, capsules, dt, cutters=...)`` right after
    ``solver.step(state_in, state_out, control, dt)``. The pass owns ``state_out.forces`` on the nodes it touches.
    """

    def __init__(self, solver, control, capsule_count: int, *, skin_m: float = 2.5e-4, burn_dwell_s: float = 0.7,
                 check_springs_every: int = 1, tear_checks: int = 10, tear_length_m: float = 0.0, max_cutters: int = 4,
                 max_grasps: int = 4):
        if not 0 <= capsule_count <= MAX_CAPSULES:
            raise ValueError(f"at most {MAX_CAPSULES} capsules, got {capsule_count}")
        if skin_m < 0 or burn_dwell_s <= 0 or check_springs_every < 1 or tear_checks < 1 or tear_length_m < 0:
            raise ValueError("skin_m and tear_length_m must be >= 0, burn_dwell_s > 0, check_springs_every and "
                             "tear_checks >= 1")
        import taichi as ti

        from surgsim.tissue import kernels_tool_contact

        self._kernel = BoundLaunch(kernels_tool_contact.post_step_kernel(bool(solver.serial)),
                                   compile_options=CONTACT_COMPILE_OPTIONS)
        self.solver = solver
        self.control = control
        model: TissueModel = solver.model
        self.model = model
        self.capsule_count = int(capsule_count)
        self.max_cutters = int(max_cutters)
        self.max_grasps = int(max_grasps)
        self.check_springs_every = int(check_springs_every)
        self._passes = 0
        layout = solver.layout
        n, s, e, m = model.node_count, model.spring_count, len(layout.csr_neighbors), model.tet_count
        t = 4 * m
        near_offsets, near, near_weight = tear_neighbourhoods(model, tear_length_m)
        self._floats = SectionBuffer(ti, ti.f64, FLOAT_SECTIONS, {
            "mass": n, "drag": n, "param": n, "burn": n, "normal": 3 * n, "push": 3 * n, "x_step": 3 * n,
            "rest": s, "failure_stretch": m, "entries": 3 * e, "rest_inverse": 9 * m, "cap": 2 * n,
            "near_weight": len(near)})
        self._ints = SectionBuffer(ti, ti.i32, INT_SECTIONS, {
            "capsule": n, "springs": 2 * s, "active": s, "flags": s, "overstrained": m,
            "offsets": n + 1, "neighbors": e, "triangles": 3 * t, "tri_mask": t, "grasp_nodes": n, "grasp_group": n,
            "tets": 4 * m, "tet_live": m, "tet_flags": m, "gripped": n, "near_offsets": m + 1, "near": len(near)})
        self._failure_stretch = 1.0 + np.asarray(model.region_materials["tear_strain"],
                                                 dtype=np.float64)[model.tet_region]
        self._floats.write(mass=layout.masses, drag=layout.drag, rest=model.rest_lengths,
                           failure_stretch=self._failure_stretch, rest_inverse=rest_edge_inverses(model),
                           near_weight=near_weight)
        self._ints.write(capsule=np.full(n, -1), springs=model.springs, offsets=layout.csr_offsets,
                         neighbors=layout.csr_neighbors, tets=model.tets, near_offsets=near_offsets, near=near)
        self._triangle_capacity = t
        self._tet_springs = tet_spring_ids(model)
        self._springs_version = None
        self._output_row = ROW_CAPSULES + self.capsule_count + self.max_cutters
        self._io = np.zeros((self._output_row + self.capsule_count + self.max_grasps + 1, IO_WIDTH))
        header = self._io[ROW_HEADER]
        header[H_SKIN] = skin_m
        header[H_BURN_RATE] = 1.0 / burn_dwell_s
        header[H_CAPSULES] = self.capsule_count
        header[H_GRAVITY:H_GRAVITY + 3] = solver.options.gravity
        header[H_SPRING_COUNT] = s
        header[H_TEAR_CHECKS] = tear_checks
        header[H_TET_COUNT] = m
        header[H_OUTPUT_ROW] = self._output_row
        self._io[ROW_FLOAT_SECTIONS, : len(FLOAT_SECTIONS)] = self._floats.offsets[:-1]
        self._io[ROW_INT_SECTIONS, : len(INT_SECTIONS)] = self._ints.offsets[:-1]
        self._grasp_groups = 0
        self._burn: np.ndarray | None = None
        self._burn_changed = True
        self.set_surface(model.surface_triangles)

    # -- what changes rarely -------------------------------------------------------------------------------------
    def set_surface(self, triangles: np.ndarray) -> None:
        """The current surface triangles [F, 3] (node ids, outward winding), after a cut or tear."""
        tris = np.asarray(triangles, dtype=np.int32).reshape(-1, 3)
        if len(tris) > self._triangle_capacity:
            raise ValueError(f"at most {self._triangle_capacity} surface triangles")
        self._ints.write(triangles=tris)
        self._io[ROW_HEADER, H_TRIANGLES] = len(tris)

    def set_grasps(self, groups: list[np.ndarray]) -> None:
        """The anchored and attached node ids of each grasp (row g of the report's ``grasp_force``); [] when none."""
        if len(groups) > self.max_grasps:
            raise ValueError(f"at most {self.max_grasps} grasps")
        nodes = [np.asarray(g, dtype=np.int32).reshape(-1) for g in groups]
        ids = np.concatenate(nodes) if nodes else np.zeros(0, dtype=np.int32)
        group = np.concatenate([np.full(len(g), k) for k, g in enumerate(nodes)]) if nodes else ids
        gripped = np.zeros(self.model.node_count, dtype=np.int32)
        gripped[ids] = 1
        self._ints.write(grasp_nodes=ids, grasp_group=group, gripped=gripped)
        self._io[ROW_HEADER, H_GRASPED] = len(ids)
        self._grasp_groups = len(nodes)

    def exempt_from_tearing(self, springs) -> None:
        """The tets that hold any of ``springs`` (ids) never tear from now on (their failure stretch becomes +inf):
        tissue a clip crushes."""
        ids = np.asarray(springs, dtype=np.int64).reshape(-1)
        if len(ids):
            self._failure_stretch[np.isin(self._tet_springs, ids).any(axis=1)] = np.inf
            self._floats.write(failure_stretch=self._failure_stretch)

    def set_strain_reference(self, positions: np.ndarray) -> None:
        """Measure the tear test's strain from ``positions`` [N, 3] [m] instead of the model's rest shape: the organs
        as they lie in the body once settled on their anchors and beds. An organ imaged by CT is already in that
        state; the model takes the image's shape as stress-free and sags from it under gravity (a liver hanging from
        its ligaments by up to 30 % at 6 kPa), and that sag is not strain a retraction added. A tet that the
        settling squeezed below ``SETTLED_FOLD`` of its rest volume (or inverted) has no shape to measure from (its
        edge matrix is nearly singular, and a micrometre reads as a hundredfold stretch): it never tears."""
        model = self.model
        positions = np.asarray(positions, dtype=np.float64)
        self._floats.write(rest_inverse=rest_edge_inverses(model, positions))
        rest = rest_edge_inverses(model).reshape(-1, 3, 3)
        settled = _edge_matrices(positions, model.tets)
        folded = np.linalg.det(settled @ rest) < SETTLED_FOLD
        if folded.any():
            self._failure_stretch[folded] = np.inf
            self._floats.write(failure_stretch=self._failure_stretch)

    @property
    def failure_stretch(self) -> np.ndarray:
        """The maximum principal stretch above which each tet tears [M] (+inf: never); a copy."""
        return self._failure_stretch.copy()

    def reset(self, state) -> None:
        """Forget every contact and zero ``state``'s external forces: after the solver rejected a step and kept its
        input, the forces carried into it did not act, and must not be carried on."""
        self._ints.write(capsule=np.full(self.model.node_count, -1))
        state.set_forces(np.zeros((self.model.node_count, 3)))

    def burn_levels(self) -> np.ndarray:
        """Burn per node, 0 (none) to 1 (charred) [N] (a copy)."""
        # Burn changes only in passes where an energized capsule touched tissue: reading the whole float buffer back
        # from the device for every drawn frame would cost more than drawing it.
        if self._burn is None or self._burn_changed:
            self._burn = self._floats.read_section("burn")
            self._burn_changed = False
        return self._burn.copy()

    def spring_flags(self) -> np.ndarray:
        """The last spring test's flag per spring [S]: 0, or :data:`FLAG_CUT0` + cutter index."""
        return self._ints.read_section("flags")

    def torn_tets(self) -> np.ndarray:
        """Ids of the tets the last test flagged :data:`FLAG_TORN` (read from the device: call it only when the
        report's ``torn`` is not zero)."""
        return np.flatnonzero(self._ints.read_section("tet_flags") == FLAG_TORN)

    def contact_records(self) -> tuple[np.ndarray, np.ndarray]:
        """(capsule touching each node or -1 [N], that contact's normal [N, 3]) after the last pass."""
        return self._ints.read_section("capsule"), self._floats.read_section("normal").reshape(-1, 3)

    # -- every tick ------------------------------------------------------------------------------------------------
    def run(self, state_in, state_out, capsules: np.ndarray, dt: float, *,
            cutters: np.ndarray | None = None) -> ContactReport:
        """Resolve contact on ``state_out`` (the step's output; ``state_in`` its input) and measure it.

        ``capsules`` [C, IO_WIDTH] (see :func:`capsule_row`), ``cutters`` [K, 9] triangles [m].
        """
        io = self._io
        io[ROW_CAPSULES:ROW_CAPSULES + self.capsule_count] = capsules
        cutter_count = 0 if cutters is None else len(cutters)
        if cutter_count > self.max_cutters:
            raise ValueError(f"at most {self.max_cutters} cutter triangles per pass")
        if cutter_count:
            first = ROW_CAPSULES + self.capsule_count
            io[first:first + cutter_count, :9] = cutters
        header = io[ROW_HEADER]
        header[H_DT] = dt
        header[H_CUTTERS] = cutter_count
        header[H_GRASPS] = self._grasp_groups
        header[H_SPRINGS] = cutter_count > 0 or self._passes % self.check_springs_every == 0
        window = self.control.awake_window
        header[H_NODE_LO], header[H_NODE_HI] = window.first_node, window.end_node
        header[H_SPRING_LO], header[H_SPRING_HI] = window.first_spring, window.end_spring
        self._passes += 1
        io[self._output_row:] = 0.0
        self._sync_springs()
        self._kernel(state_in.positions, state_in.velocities, state_out.positions, state_out.velocities,
                     state_out.accelerations, state_out.forces, self.solver.anchor_table(self.control),
                     self._floats.array,
                     self._ints.array, io)
        report = ContactReport(io[self._output_row:], self.capsule_count, self._grasp_groups, bool(header[H_SPRINGS]))
        if report.energized_nodes.any():
            self._burn_changed = True
        return report

    def warm_up(self, state_in, state_out) -> None:
        """Compile the pass (Taichi builds and JIT-compiles it on its first launch: ~0.6 s on a CT scene) by
        launching it on zeroed copies of its buffers, which give it nothing to do; this pass's own buffers, counters
        and the states are left as they were. ``state_out`` is written with nothing (a scratch state is fine)."""
        import taichi as ti

        scratch_floats = ti.ndarray(ti.f64, shape=self._floats.array.shape)
        scratch_ints = ti.ndarray(ti.i32, shape=self._ints.array.shape)
        anchors = self.solver.anchor_table(self.control)
        self._kernel.unbound(state_in.positions, state_in.velocities, state_out.positions, state_out.velocities,
                             state_out.accelerations, state_out.forces, anchors, scratch_floats, scratch_ints,
                             np.zeros_like(self._io))

    def _sync_springs(self) -> None:
        """Upload the control's live springs when they changed since the last pass (cuts, tears)."""
        control = self.control
        if control.versions.springs != self._springs_version:
            self._springs_version = control.versions.springs
            layout = self.solver.layout
            active = control.spring_active
            on = active[layout.csr_springs].astype(np.float64)
            self._ints.write(active=active, tet_live=np.all(active[self._tet_springs], axis=1))
            rest = layout.rest_lengths[layout.csr_springs]
            self._floats.write(entries=np.column_stack([rest, layout.stiffness[layout.csr_springs] * on,
                                                        layout.dashpot[layout.csr_springs] * on]),
                               cap=contact_caps(layout, active))
