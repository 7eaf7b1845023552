"""What the Taichi solver and its numpy reference share: options, layout, controls, the Chebyshev bound."""

from __future__ import annotations

import math

from surgsim.mesh.model import TissueModel
from surgsim.tissue.control import TissueControl
from surgsim.tissue.layout import SolverModel
from surgsim.tissue.options import SolverOptions


def chebyshev_omegas(rho: float, iterations: int, enabled: bool) -> list[float]:
    """ω_k of the Chebyshev semi-iterative method (Wang 2015, eq. 11); all 1 when disabled."""
    omegas = []
    omega = 1.0
    for k in range(iterations):
        if not enabled or k == 0:
            omega = 1.0
        elif k == 1:
            omega = 2.0 / (2.0 - rho * rho)
        else:
            omega = 4.0 / (4.0 - rho * rho * omega)
        omegas.append(omega)
    return omegas


# The most the Chebyshev polynomial of the fixed iteration count may undershoot: each step leaves the error
# P(λ)·(initial guess − implicit solution) in the mode of Jacobi eigenvalue λ, and for a stiff mode (k h²/m ≫ 1) the
# step then maps (x, h v) by [[c, c], [c − 1, c]] with c ≈ P(λ): stable for c > −1/3, unstable below. Chebyshev on
# [−ρ, ρ] undershoots by up to 1/T_K(1/ρ), so ρ is capped where that is this value (8 iterations: ρ ≤ 0.968).
# Measured: a Kuhn column with the volume term (Gershgorin ρ 0.991) blows up within 150 steps uncapped, and is
# stable at ρ ≤ 0.98.
CHEBYSHEV_MAX_UNDERSHOOT = 0.25


def chebyshev_rho_cap(iterations: int) -> float:
    """The largest ρ whose Chebyshev polynomial of degree ``iterations`` undershoots by at most
    :data:`CHEBYSHEV_MAX_UNDERSHOOT`: T_K(1/ρ) = 1 / undershoot."""
    return 1.0 / math.cosh(math.acosh(1.0 / CHEBYSHEV_MAX_UNDERSHOOT) / max(1, iterations))


class SolverBase:
    """What :class:`~surgsim.tissue.solver.TissueSolver` and the reference solver share: the model, the options, the
    layout, the controls they make and the Chebyshev bound of a control."""

    def __init__(self, model: TissueModel, options: SolverOptions | dict | None = None, **overrides):
        self.model = model
        self.options = SolverOptions.parse(options, **overrides)
        self.layout = SolverModel.build(model, self.options)
        self._layouts: dict[float, SolverModel] = {}
        self._rho_cache: dict[tuple, float] = {}

    def control(self, *, damping_ratio: float | None = None) -> TissueControl:
        """A new control for this solver: nothing held, no obstacles, every spring active. ``damping_ratio`` (ζ for
        every region, as ``SolverOptions.damping_ratio``) overrides the options' damping in the steps that use this
        control (settling a scene with heavy damping on the session's solver)."""
        if damping_ratio is None:
            return TissueControl(self.layout)
        key = float(damping_ratio)
        if key not in self._layouts:
            self._layouts[key] = SolverModel.build(self.model, SolverOptions.parse(self.options, damping_ratio=key))
        return TissueControl(self._layouts[key])

    def _check(self, control: TissueControl) -> None:
        if control.model is not self.model or control.layout.options.dt != self.options.dt:
            raise ValueError("this control was made for another solver (use solver.control())")

    # -- shared numerics -------------------------------------------------------------------------------------------
    def rho(self, control: TissueControl, h: float) -> float:
        """The Chebyshev bound at sub-step ``h`` for ``control`` (its springs and anchored nodes), cached by their
        versions."""
        if self.options.chebyshev_rho is not None:
            return float(self.options.chebyshev_rho)
        versions = control.versions
        key = (control.serial, versions.springs, versions.membership, float(h))
        rho = self._rho_cache.get(key)
        if rho is None:
            if len(self._rho_cache) > 64:
                self._rho_cache.clear()
            # Stiff springs on light nodes (and the volume term) raise ρ toward 1, where the uncapped acceleration
            # is unstable in time (see CHEBYSHEV_MAX_UNDERSHOOT): the ambient damping then holds the stiffest modes
            # in a limit cycle of period two sub-steps instead of letting them blow up (the shipped CT organs,
            # Gershgorin ρ ≈ 0.99, buzzed at 250 Hz with nodes at 8-100 mm/s while at rest).
            rho = control.layout.chebyshev_rho(h, control.node_params, control.anchored)
            if self.options.chebyshev_cap or control.layout.volume is not None:
                rho = min(rho, chebyshev_rho_cap(self.options.iterations))
            self._rho_cache[key] = rho
        return rho
