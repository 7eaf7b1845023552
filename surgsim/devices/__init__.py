"""Input devices: one :class:`Device` protocol for the mouse and keyboard, trace replay, a scripted haptic arm and
hardware (3D Systems Touch, Force Dimension, 3Dconnexion SpaceMouse; optional drivers, ``surgsim[haptics]``), and
force rendering through a :class:`VirtualCoupling` run by a 1 kHz :class:`HapticThread`.

:func:`open_device` opens what was asked for, falling back to :class:`MouseKeyboard` with a one-line message when
it cannot. Hardware driver packages are imported only when their device is opened.

Every source of :mod:`~surgsim.instrument_command` commands lives here, programs included: scripted demonstrations
are driven by :mod:`surgsim.devices.scripted` (import it as :mod:`surgsim.script`). Devices take the camera's
geometry and the window's input events from :mod:`surgsim.view`, never from rendering.
"""

from surgsim.devices.base import (
    CameraMotion,
    Device,
    DeviceReading,
    DeviceUnavailable,
    InstrumentLimits,
    UiAction,
)
from surgsim.devices.factory import DEVICE_KINDS, open_device
from surgsim.devices.force_dimension import ForceDimensionDevice
from surgsim.devices.haptic_thread import HapticThread
from surgsim.devices.mouse_keyboard import MAPPING, MouseKeyboard, MouseKeyboardGains
from surgsim.devices.replay import ReplayDevice
from surgsim.devices.simulated import SimulatedHaptic
from surgsim.devices.spacemouse import SpaceMouseDevice
from surgsim.devices.touch import TouchDevice
from surgsim.devices.virtual_coupling import ProxyState, VirtualCoupling, saturate

__all__ = [
    "CameraMotion", "Device", "DeviceReading", "DeviceUnavailable", "InstrumentLimits", "UiAction", "DEVICE_KINDS",
    "open_device", "ForceDimensionDevice", "HapticThread", "MAPPING", "MouseKeyboard", "MouseKeyboardGains",
    "ReplayDevice", "SimulatedHaptic", "SpaceMouseDevice", "TouchDevice", "ProxyState", "VirtualCoupling",
    "saturate",
]
