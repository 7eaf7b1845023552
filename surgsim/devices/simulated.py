"""A scripted haptic arm for tests and verification scenes: plays a pose sequence and records every force sent.

Like iMSTK's programmable client: each :meth:`SimulatedHaptic.read` returns the next scripted sample (the last one
repeats once the script ends), and :meth:`write_force` keeps the force so a test can check what a real arm would
have pushed into the user's hand.
"""

from __future__ import annotations

import threading
import time
from typing import Sequence

import numpy as np

from surgsim.devices.base import DeviceReading


class SimulatedHaptic:
    """Scripted ``positions_m`` [K, 3] [m], optional ``rotations`` [K, 3, 3] and held ``buttons`` per sample."""

    def __init__(
        self,
        positions_m,
        *,
        rotations=None,
        buttons: Sequence[frozenset[str]] | None = None,
        rate_hz: float = 1000.0,
        name: str = "simulated_haptic",
    ):
        self.positions_m = np.asarray(positions_m, dtype=np.float64).reshape(-1, 3)
        if len(self.positions_m) == 0:
            raise ValueError("a simulated haptic needs at least one scripted position")
        self.rotations = None if rotations is None else np.asarray(rotations, dtype=np.float64).reshape(-1, 3, 3)
        if self.rotations is not None and len(self.rotations) != len(self.positions_m):
            raise ValueError("rotations must match positions one to one")
        self.buttons = list(buttons) if buttons is not None else None
        if self.buttons is not None and len(self.buttons) != len(self.positions_m):
            raise ValueError("buttons must match positions one to one")
        self.rate_hz = float(rate_hz)
        self.name = name
        self.is_open = False
        self.sample_index = 0
        self.forces: list[np.ndarray] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        self.is_open = True

    def close(self) -> None:
        self.is_open = False

    def read(self) -> DeviceReading:
        with self._lock:
            index = min(self.sample_index, len(self.positions_m) - 1)
            self.sample_index += 1
        return DeviceReading(
            time_s=time.perf_counter(),
            position_m=self.positions_m[index].copy(),
            rotation=None if self.rotations is None else self.rotations[index].copy(),
            buttons=frozenset() if self.buttons is None else frozenset(self.buttons[index]),
        )

    def write_force(self, force_n: np.ndarray) -> None:
        force = np.array(force_n, dtype=np.float64).reshape(3)
        with self._lock:
            self.forces.append(force)

    def forces_array(self) -> np.ndarray:
        """Every force written so far, [M, 3] [N]."""
        with self._lock:
            return np.array(self.forces, dtype=np.float64).reshape(-1, 3)
