"""The haptic servo loop: read the device and send it the coupling force, 1000 times a second, in its own thread.

Force feedback feels like a hard surface only above ~500 Hz, far above the render rate, so it cannot wait for
frames. The loop is paced with ``time.perf_counter`` (sleeping until each period's deadline; after a stall such as a
garbage collection it resumes instead of bursting to catch up). Each tick:

1. ``reading = device.read()``; published as :attr:`HapticThread.latest_reading` for the simulation;
2. the device velocity is estimated from successive positions (low-pass filtered: raw differences at 1 kHz are
   noise);
3. ``proxy()`` gives the simulated tool's state (None while there is no tool to couple to);
4. ``device.write_force(coupling.device_force(...))``.

An exception in the loop stops it after sending zero force; it is kept in :attr:`HapticThread.error`. Stopping also
sends zero force, so the arm never keeps pushing after the simulation ends.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np

from surgsim.devices.base import Device, DeviceReading
from surgsim.devices.virtual_coupling import ProxyState, VirtualCoupling

VELOCITY_FILTER = 0.2  # weight of the newest finite difference (first-order low-pass, ~35 Hz at 1 kHz)
MAX_LAG_PERIODS = 10


class HapticThread:
    """Runs the servo loop for ``device`` at ``rate_hz`` [Hz]; a daemon thread, started by :meth:`start`."""

    def __init__(
        self,
        device: Device,
        coupling: VirtualCoupling,
        proxy: Callable[[], ProxyState | None],
        *,
        rate_hz: float = 1000.0,
    ):
        if rate_hz <= 0:
            raise ValueError("rate_hz must be positive")
        self.device = device
        self.coupling = coupling
        self.proxy = proxy
        self.rate_hz = float(rate_hz)
        self.ticks = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._latest: DeviceReading | None = None
        self._thread: threading.Thread | None = None
        self._started_at = 0.0
        self._stopped_at: float | None = None

    @property
    def latest_reading(self) -> DeviceReading | None:
        with self._lock:
            return self._latest

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def measured_rate_hz(self) -> float:
        """Ticks per second of wall time since :meth:`start` (until :meth:`stop`)."""
        end = self._stopped_at if self._stopped_at is not None else time.perf_counter()
        elapsed = end - self._started_at
        return self.ticks / elapsed if elapsed > 0 else 0.0

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the haptic thread was already started")
        self._started_at = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name=f"haptics-{self.device.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 1.0) -> None:
        """Stop the loop and wait for it (at most ``timeout_s`` [s])."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._stopped_at is None:
            self._stopped_at = time.perf_counter()

    def __enter__(self) -> "HapticThread":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _run(self) -> None:
        period = 1.0 / self.rate_hz
        deadline = time.perf_counter()
        previous_position: np.ndarray | None = None
        velocity = np.zeros(3)
        try:
            while not self._stop.is_set():
                reading = self.device.read()
                with self._lock:
                    self._latest = reading
                force = np.zeros(3)
                if reading.position_m is not None:
                    position = np.asarray(reading.position_m, dtype=np.float64)
                    if previous_position is not None:
                        velocity += VELOCITY_FILTER * ((position - previous_position) * self.rate_hz - velocity)
                    previous_position = position
                    tool = self.proxy()
                    if tool is not None:
                        force = self.coupling.device_force(position, tool.position_m, velocity, tool.velocity_m_s)
                self.device.write_force(force)
                self.ticks += 1
                deadline += period
                delay = deadline - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                elif delay < -MAX_LAG_PERIODS * period:
                    deadline = time.perf_counter()
        except Exception as error:  # kept for the owner to inspect; the arm must be released either way
            self.error = error
        finally:
            self._release()

    def _release(self) -> None:
        try:
            self.device.write_force(np.zeros(3))
        except Exception as error:
            self.error = self.error or error
