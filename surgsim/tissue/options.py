"""Solver options: a small strict pydantic model (unknown keys are refused, values are checked)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from surgsim.errors import InputError
from surgsim.tissue.stiffness import CALIBRATION_FACTOR


class SolverOptions(BaseModel):
    """How the tissue is integrated. SI units; every field has a default that runs a liver at 1 kHz.

    - ``dt``: default step [s] (``step`` may pass another); 1 ms is the haptic servo period.
    - ``substeps``: implicit-Euler sub-steps per step (more = stiffer materials resolved, proportionally slower).
    - ``iterations``: Jacobi iterations per sub-step (fixed count: the cost of a step never varies).
    - ``chebyshev``: Chebyshev semi-iterative acceleration of the Jacobi iterations (Wang 2015); the spectral radius
      is the Gershgorin bound of the iteration, computed from the model (``chebyshev_rho`` overrides it).
    - ``chebyshev_cap``: cap that bound where the fixed-degree Chebyshev polynomial undershoots by at most 1/4 (see
      ``tissue.base.CHEBYSHEV_MAX_UNDERSHOOT``): above it the stiffest modes are unstable in time and, held by the
      damping, buzz in a period-two limit cycle (the CT organs at rest: 8-100 mm/s at 250 Hz uncapped, none capped).
      False keeps the uncapped bound of the sessions recorded before the cap (the volume term is always capped).
    - ``relaxation``: under-relaxation γ of each Jacobi update (Wang 2015 uses 0.9 with Chebyshev; 1 = none).
    - ``gravity``: [m/s²], patient RAS frame (+z superior): the default pulls toward the feet of a standing patient;
      pass the direction your scene needs.
    - ``damping_ratio``: ζ for every region; None = each region's material ``damping_ratio``.
    - ``damping_frequency_hz``: frequency at which ζ holds; None = estimated fundamental frequency of the model.
    - ``ambient_damping_share``: part of ζ at that frequency given by ambient drag (mass-proportional, on motion
      relative to the body's rigid motion: it never slows a free piece); the rest is Kelvin–Voigt internal viscosity
      (stiffness-proportional). 0 = internal only. The
      default 0.9 keeps the viscous part small: a dashpot c adds c/h to the stiffness the iterations must resolve,
      and at h = 1 ms a Kelvin–Voigt time of a few ms would dominate it (liver: τ = β ≈ 3 ms at 0.9).
    - ``mass_scaling``: selective mass scaling of badly shaped elements. A node's stiffness-to-mass ratio
      κ = (Σk + Σc/h)·h²/m decides how fast the iterations converge there; tetgen slivers produce nodes with almost
      no mass and κ ~10⁴ (the shipped liver: 16,700 against a median of 3.8). Nodes above ``mass_scaling`` × the
      median κ get the extra mass that brings them down to it (0.07 % of the liver's mass, on 13 % of its nodes);
      0 disables it.
    - ``calibration``: factor c of the E → k mapping (see :mod:`surgsim.tissue.stiffness`).
    - ``poisson``: "from_material" adds the per-tet volume term (:mod:`surgsim.tissue.volume`) and rescales the springs
      so that each region has its material's Young's modulus *and* Poisson's ratio (soft tissue: ν = 0.45, nearly
      incompressible); "off" leaves the bare spring network, whose ν is that of the mesh geometry (0.035 on Kuhn
      blocks, 0.245 on gmsh meshes). Costs one pass over the tets and a gather per spring in every sweep.
    - ``viscoelastic``: "from_material" gives every spring one Maxwell branch (a standard linear solid) from its
      region's ``relaxation_share`` g1 and ``relaxation_time_s`` τ1 (:mod:`surgsim.mesh.materials`): held at a fixed
      length, a spring's force decays from k (l − L0) to (1 − g1) k (l − L0) with time constant τ1, so a held
      retraction relaxes. The branch's rest length is state (``TissueState.branch_lengths``). The volume term
      (``poisson``) does not relax (tissue's bulk response is elastic). "off" compiles and runs without it.
    - ``max_speed``: blow-up guard threshold [m/s]; any node faster, or any non-finite value, rejects the step.
    - ``retry_factor`` / ``max_retries``: a rejected step is redone from its input with ``retry_factor``× more
      sub-steps, up to ``max_retries`` times; if all fail the input state is kept with velocities zeroed.
    - ``execution``: "parallel" top-level loops, or one "serial" thread (cheaper for small meshes on a CPU, where
      each parallel loop costs ~10 µs of synchronisation); "auto" picks serial on the CPU below
      ``serial_below_nodes``. Each mode is bit-reproducible run to run (no atomics, fixed summation order); the two
      modes are compiled differently and agree to rounding only, so a replay must use the mode of the recording.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dt: float = Field(1e-3, gt=0.0, le=0.1)
    substeps: int = Field(1, ge=1, le=64)
    iterations: int = Field(8, ge=1, le=64)
    chebyshev: bool = True
    chebyshev_rho: float | None = Field(None, ge=0.0, lt=1.0)
    chebyshev_cap: bool = True
    relaxation: float = Field(1.0, gt=0.0, le=1.0)
    gravity: tuple[float, float, float] = (0.0, 0.0, -9.81)
    damping_ratio: float | None = Field(None, ge=0.0, le=10.0)
    damping_frequency_hz: float | None = Field(None, gt=0.0)
    ambient_damping_share: float = Field(0.9, ge=0.0, le=1.0)
    mass_scaling: float = Field(10.0, ge=0.0)
    calibration: float = Field(CALIBRATION_FACTOR, gt=0.0)
    poisson: Literal["off", "from_material"] = "off"
    viscoelastic: Literal["off", "from_material"] = "off"
    max_speed: float = Field(50.0, gt=0.0)
    retry_factor: int = Field(4, ge=2, le=16)
    max_retries: int = Field(2, ge=0, le=4)
    execution: Literal["auto", "parallel", "serial"] = "auto"
    serial_below_nodes: int = Field(20000, ge=0)

    @classmethod
    def parse(cls, options: "SolverOptions | dict | None" = None, **overrides) -> "SolverOptions":
        """Options from an instance, a dict and/or keywords; bad keys or values raise :class:`InputError`."""
        if isinstance(options, SolverOptions):
            data = options.model_dump()
        else:
            data = dict(options or {})
        data.update(overrides)
        try:
            return cls(**data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors())
            raise InputError("solver options", problems) from None
