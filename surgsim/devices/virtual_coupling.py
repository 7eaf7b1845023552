"""Virtual coupling: a spring-damper joining the haptic device to the simulated tool (the *proxy*).

The device never moves the tool directly: the spring pulls the proxy toward the device, the tissue pushes back on
the proxy, and the user feels the spring stretched between them. This keeps force feedback stable whatever the
tissue's stiffness (Colgate et al. 1995; iMSTK's controllers do the same).

Signs: :meth:`VirtualCoupling.tool_force` is the spring force on the proxy,
``k (x_device − x_proxy) + c (v_device − v_proxy)``; in contact at rest it equals the force the tool pushes into the
tissue. :meth:`VirtualCoupling.device_force` is its reaction on the user's hand, the opposite, limited to
``max_force_n`` (motors have a ceiling; more would only saturate or trip them). Non-finite input gives zero force: a
NaN must never reach a motor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from surgsim.errors import InputError


@dataclass(frozen=True)
class ProxyState:
    """Where the simulated tool is: ``position_m`` [3] [m] and ``velocity_m_s`` [3] [m/s], in the device's frame."""

    position_m: np.ndarray
    velocity_m_s: np.ndarray = field(default_factory=lambda: np.zeros(3))


@dataclass(frozen=True)
class VirtualCoupling:
    """Stiffness [N/m], damping [N·s/m] and the largest force sent to the device [N].

    The defaults suit a 3D Systems Touch (peak 3.3 N, about 1 N continuous); a Force Dimension omega takes ~12 N.
    """

    stiffness_n_per_m: float = 300.0
    damping_n_s_per_m: float = 1.0
    max_force_n: float = 3.0

    def __post_init__(self):
        for name in ("stiffness_n_per_m", "damping_n_s_per_m", "max_force_n"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0 or (value == 0 and name != "damping_n_s_per_m"):
                raise InputError("virtual coupling", f"{name} must be a positive number, got {value}.")

    def tool_force(self, device_position_m, proxy_position_m, device_velocity_m_s=(0.0, 0.0, 0.0),
                   proxy_velocity_m_s=(0.0, 0.0, 0.0)) -> np.ndarray:
        """The spring-damper force on the proxy [N], [3], not limited."""
        stretch = np.subtract(device_position_m, proxy_position_m, dtype=np.float64)
        rate = np.subtract(device_velocity_m_s, proxy_velocity_m_s, dtype=np.float64)
        force = self.stiffness_n_per_m * stretch + self.damping_n_s_per_m * rate
        return force if np.all(np.isfinite(force)) else np.zeros(3)

    def device_force(self, device_position_m, proxy_position_m, device_velocity_m_s=(0.0, 0.0, 0.0),
                     proxy_velocity_m_s=(0.0, 0.0, 0.0)) -> np.ndarray:
        """The force to display on the device [N], [3]: minus :meth:`tool_force`, scaled down to ``max_force_n``."""
        force = -self.tool_force(device_position_m, proxy_position_m, device_velocity_m_s, proxy_velocity_m_s)
        return saturate(force, self.max_force_n)

    def proxy_held_by(self, device_position_m, pushing_force_n) -> np.ndarray:
        """Where the proxy rests [m] when the tissue holds it while the tool pushes ``pushing_force_n`` [N] into it:
        the spring is stretched by force / stiffness behind the device. (Tests and scripted scenes use it.)"""
        return np.asarray(device_position_m, dtype=np.float64) - np.asarray(pushing_force_n) / self.stiffness_n_per_m


def saturate(force_n: np.ndarray, max_force_n: float) -> np.ndarray:
    """``force_n`` scaled down, direction kept, so that its magnitude is at most ``max_force_n``."""
    magnitude = float(np.linalg.norm(force_n))
    if not np.isfinite(magnitude):
        return np.zeros(3)
    if magnitude > max_force_n:
        return force_n * (max_force_n / magnitude)
    return force_n
