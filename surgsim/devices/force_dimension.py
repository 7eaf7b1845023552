"""Force Dimension arms (omega, delta, sigma, Novint Falcon) through the Force Dimension SDK, with the
``forcedimension-core`` package (module ``forcedimension_core``; ``pip install 'surgsim[haptics]'``). The SDK's
shared library (``libdhd``) and the device's USB permissions (udev rule) come from Force Dimension.

The SDK is called directly from :meth:`ForceDimensionDevice.read` and :meth:`write_force`, i.e. from the 1 kHz
:class:`~surgsim.devices.haptic_thread.HapticThread`. Positions are in metres in the device frame; buttons 0 and 1
are ``"primary"`` and ``"secondary"``.
"""

from __future__ import annotations

import time

import numpy as np

from surgsim.devices.base import DeviceReading, DeviceUnavailable

INSTALL_HINT = "pip install 'surgsim[haptics]' (the forcedimension-core package)"
_BUTTONS = ((0, "primary"), (1, "secondary"))


class ForceDimensionDevice:
    name = "force_dimension"
    rate_hz = 1000.0

    def __init__(self):
        self._dhd = None
        self._id = -1

    def open(self) -> None:
        try:
            from forcedimension_core import dhd
        except ImportError:
            raise DeviceUnavailable(f"the Force Dimension driver is not installed: {INSTALL_HINT}.") from None
        except OSError as error:
            raise DeviceUnavailable(
                f"the Force Dimension SDK library could not be loaded ({error}); install the SDK from Force "
                "Dimension."
            ) from None
        device_id = dhd.open()
        if device_id < 0:
            raise DeviceUnavailable(f"no Force Dimension device found ({dhd.errorGetLastStr()}); check the USB "
                                    "cable and the udev rule.")
        self._dhd, self._id = dhd, device_id

    def _check(self, status: int, operation: str) -> None:
        if status < 0:
            raise RuntimeError(f"Force Dimension {operation} failed: {self._dhd.errorGetLastStr()}")

    def read(self) -> DeviceReading:
        dhd = self._dhd
        position = [0.0, 0.0, 0.0]
        self._check(dhd.getPosition(out=position, ID=self._id), "getPosition")
        rotation = None
        if hasattr(dhd, "getOrientationFrame"):  # arms without a wrist have no orientation
            frame = [[0.0] * 3 for _ in range(3)]
            if dhd.getOrientationFrame(out=frame, ID=self._id) >= 0:
                rotation = np.array(frame, dtype=np.float64)
        buttons = frozenset(name for index, name in _BUTTONS if dhd.getButton(index=index, ID=self._id) == 1)
        return DeviceReading(time_s=time.perf_counter(), position_m=np.array(position), rotation=rotation,
                             buttons=buttons)

    def write_force(self, force_n: np.ndarray) -> None:
        force = [float(f) for f in np.asarray(force_n, dtype=np.float64).reshape(3)]
        self._check(self._dhd.setForce(force, ID=self._id), "setForce")

    def close(self) -> None:
        if self._dhd is None:
            return
        self._dhd.setForce([0.0, 0.0, 0.0], ID=self._id)
        self._dhd.close(self._id)
        self._dhd, self._id = None, -1
