"""What the Taichi solver and its numpy reference share: options, layout, controls, the Chebyshev bound."""

from __future__ import annotations

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
            rho = self._rho_cache[key] = control.layout.chebyshev_rho(h, control.node_params, control.anchored)
        return rho
