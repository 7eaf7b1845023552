"""Input events a viewer reports (:meth:`Viewer.poll_input`), independent of the windowing library.

Positions and motions are in window pixels (x right, y down). Buttons are ``"left"``, ``"right"``, ``"middle"``;
modifiers ``"shift"``, ``"ctrl"``, ``"alt"``, ``"super"``. Keys are named in lower case: letters ``"a"``..``"z"``,
digits ``"0"``..``"9"``, and ``"space"``, ``"escape"``, ``"enter"``, ``"tab"``, ``"backspace"``, ``"up"``, ``"down"``,
``"left"``, ``"right"``, ``"f1"``..``"f12"``. The mouse/keyboard device (:mod:`surgsim.devices.mouse_keyboard`) turns
these into instrument commands; tests create them directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

NO_MODIFIERS: frozenset[str] = frozenset()


@dataclass(frozen=True)
class MouseMove:
    """The pointer moved by (``dx_px``, ``dy_px``) to (``x_px``, ``y_px``) with ``buttons`` held (a drag when any)."""

    x_px: float
    y_px: float
    dx_px: float
    dy_px: float
    buttons: frozenset[str] = frozenset()
    modifiers: frozenset[str] = NO_MODIFIERS


@dataclass(frozen=True)
class MouseButton:
    button: str
    pressed: bool
    modifiers: frozenset[str] = NO_MODIFIERS


@dataclass(frozen=True)
class Wheel:
    """The wheel turned by ``notches`` (positive away from the user / up; fractional on touchpads)."""

    notches: float
    modifiers: frozenset[str] = NO_MODIFIERS


@dataclass(frozen=True)
class Key:
    """A key went down (``pressed``), auto-repeated (``repeat``) or up."""

    key: str
    pressed: bool
    repeat: bool = False
    modifiers: frozenset[str] = NO_MODIFIERS


@dataclass(frozen=True)
class FocusChange:
    """The window gained or lost the keyboard focus; on a loss, held keys and buttons are released unseen."""

    focused: bool


InputEvent = Union[MouseMove, MouseButton, Wheel, Key, FocusChange]
