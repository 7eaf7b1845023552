"""3D Systems Touch (formerly Phantom Omni) through OpenHaptics, with the ``pyopenhaptics`` package (module
``pyOpenHaptics``; ``pip install 'surgsim[haptics]'``). It also needs the OpenHaptics SDK (``libHD``) and the Touch
device driver from 3D Systems.

OpenHaptics runs its own 1 kHz servo callback; here it copies the stylus pose and buttons into a snapshot that
:meth:`TouchDevice.read` returns, and applies the force last given to :meth:`TouchDevice.write_force`. Pose in the
device frame (OpenHaptics: y up, z toward the user), converted from millimetres to metres; force in newtons.
Buttons: the dark grey button is ``"primary"``, the light grey one ``"secondary"``.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from surgsim.devices.base import DeviceReading, DeviceUnavailable

INSTALL_HINT = "pip install 'surgsim[haptics]' (the pyopenhaptics package)"
_BUTTON_BITS = ((1, "primary"), (2, "secondary"))
HD_INVALID_HANDLE = 0xFFFFFFFF  # OpenHaptics' "no device" handle


class TouchDevice:
    name = "touch"
    rate_hz = 1000.0

    def __init__(self, device_name: str = "Default Device"):
        self.device_name = device_name
        self._device = None
        self._callback = None  # the C callback must stay referenced while OpenHaptics may call it
        self._lock = threading.Lock()
        self._force = np.zeros(3)
        self._reading = DeviceReading()

    def open(self) -> None:
        try:
            import pyOpenHaptics.hd as hd
            from pyOpenHaptics.hd_callback import hd_callback
            from pyOpenHaptics.hd_device import HapticDevice
        except ImportError:
            raise DeviceUnavailable(f"the Touch driver is not installed: {INSTALL_HINT}.") from None
        except OSError as error:
            raise DeviceUnavailable(
                f"the OpenHaptics library could not be loaded ({error}); install the OpenHaptics SDK and the Touch "
                "device driver from 3D Systems."
            ) from None

        @hd_callback
        def servo():
            transform = hd.get_transform()
            matrix = np.array([[transform[i][j] for j in range(4)] for i in range(4)], dtype=np.float64)
            bits = hd.get_buttons()
            with self._lock:
                force = self._force.tolist()
                # OpenHaptics matrices are column-major: row 3 holds the translation [mm].
                self._reading = DeviceReading(
                    time_s=time.perf_counter(), position_m=matrix[3, :3] / 1000.0, rotation=matrix[:3, :3].T.copy(),
                    buttons=frozenset(name for bit, name in _BUTTON_BITS if bits & bit),
                )
            hd.set_force(force)

        self._callback = servo
        try:
            device = HapticDevice(callback=servo, device_name=self.device_name, scheduler_type="async")
        except Exception as error:
            raise DeviceUnavailable(f"no Touch could be opened as '{self.device_name}': {error}.") from None
        if getattr(device, "id", None) in (None, HD_INVALID_HANDLE, -1):  # pyOpenHaptics may not raise on failure
            raise DeviceUnavailable(
                f"no Touch answered as '{self.device_name}': check that it is plugged in and configured "
                "(Touch Setup)."
            )
        self._device = device

    def read(self) -> DeviceReading:
        with self._lock:
            return self._reading

    def write_force(self, force_n: np.ndarray) -> None:
        with self._lock:
            self._force = np.array(force_n, dtype=np.float64).reshape(3)

    def close(self) -> None:
        if self._device is None:
            return
        self.write_force(np.zeros(3))
        time.sleep(0.005)  # let the servo callback send the zero force before the scheduler stops
        self._device.close()
        self._device = None
