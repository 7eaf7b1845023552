"""Opening the device a trainee asked for, or the mouse and keyboard when it cannot be opened.

A missing driver package, an unplugged arm or an SDK that raises must never end a session before it starts:
:func:`open_device` logs one line saying what went wrong and what to do, and carries on with
:class:`~surgsim.devices.mouse_keyboard.MouseKeyboard`. Only a device name that does not exist is an error
(:class:`~surgsim.errors.InputError`), because that is a typo to fix, not hardware to plug in.
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

from surgsim.devices.base import Device, DeviceUnavailable
from surgsim.devices.force_dimension import ForceDimensionDevice
from surgsim.devices.mouse_keyboard import MouseKeyboard
from surgsim.devices.spacemouse import SpaceMouseDevice
from surgsim.devices.touch import TouchDevice
from surgsim.errors import InputError

log = logging.getLogger("surgsim.devices")

DEVICE_KINDS: dict[str, Callable[[Sequence[str]], Device]] = {
    "mouse": lambda instruments: MouseKeyboard(instruments),
    "touch": lambda instruments: TouchDevice(),
    "force_dimension": lambda instruments: ForceDimensionDevice(),
    "spacemouse": lambda instruments: SpaceMouseDevice(instruments[0]),
}


def open_device(kind: str | Device, *, instruments: Sequence[str]) -> Device:
    """The opened device ``kind`` (a name from :data:`DEVICE_KINDS`, or a device object to open), or an opened
    :class:`MouseKeyboard` driving ``instruments`` when it cannot be opened."""
    if isinstance(kind, str):
        if kind not in DEVICE_KINDS:
            raise InputError("--device", f"unknown device '{kind}'; choose one of {', '.join(DEVICE_KINDS)}.")
        if not instruments:
            raise InputError("instruments", "a device needs at least one instrument to drive.")
        device = DEVICE_KINDS[kind](instruments)
    else:
        device = kind
    try:
        device.open()
        return device
    except DeviceUnavailable as error:
        reason = str(error)
    except Exception as error:  # a driver failing in any way is still "not available", never a crash
        reason = f"{type(error).__name__}: {error}"
    log.warning("device '%s' unavailable (%s); using the mouse and keyboard instead.", device.name, reason)
    fallback = MouseKeyboard(instruments)
    fallback.open()
    return fallback
