"""A glfw window with an OpenGL 3.3 core context, and its input as :mod:`surgsim.view.input` events.

glfw is initialised when the first window opens and terminated when the last one closes, so that several viewers
(or tests) can come and go in one process. Without a display, opening raises :class:`DisplayUnavailable` with what
glfw said and what to do.
"""

from __future__ import annotations

import os

import glfw

from surgsim.view.input import FocusChange, InputEvent, Key, MouseButton, MouseMove, Wheel


class DisplayUnavailable(RuntimeError):
    """No window can be opened here (no display server, no OpenGL 3.3)."""


_KEY_NAMES: dict[int, str] = {
    **{getattr(glfw, f"KEY_{c}"): c.lower() for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
    **{getattr(glfw, f"KEY_{d}"): str(d) for d in range(10)},
    **{getattr(glfw, f"KEY_KP_{d}"): str(d) for d in range(10)},
    **{getattr(glfw, f"KEY_F{n}"): f"f{n}" for n in range(1, 13)},
    glfw.KEY_SPACE: "space", glfw.KEY_ESCAPE: "escape", glfw.KEY_ENTER: "enter", glfw.KEY_KP_ENTER: "enter",
    glfw.KEY_TAB: "tab", glfw.KEY_BACKSPACE: "backspace", glfw.KEY_UP: "up", glfw.KEY_DOWN: "down",
    glfw.KEY_LEFT: "left", glfw.KEY_RIGHT: "right",
}
_BUTTON_NAMES = {glfw.MOUSE_BUTTON_LEFT: "left", glfw.MOUSE_BUTTON_RIGHT: "right", glfw.MOUSE_BUTTON_MIDDLE: "middle"}
_MODIFIER_BITS = ((glfw.MOD_SHIFT, "shift"), (glfw.MOD_CONTROL, "ctrl"), (glfw.MOD_ALT, "alt"),
                  (glfw.MOD_SUPER, "super"))
_MODIFIER_KEYS = (((glfw.KEY_LEFT_SHIFT, glfw.KEY_RIGHT_SHIFT), "shift"),
                  ((glfw.KEY_LEFT_CONTROL, glfw.KEY_RIGHT_CONTROL), "ctrl"),
                  ((glfw.KEY_LEFT_ALT, glfw.KEY_RIGHT_ALT), "alt"),
                  ((glfw.KEY_LEFT_SUPER, glfw.KEY_RIGHT_SUPER), "super"))

_open_windows = 0
_last_error: list[str] = []


def _remember_error(code: int, description) -> None:
    text = description.decode(errors="replace") if isinstance(description, bytes) else str(description)
    _last_error[:] = [f"{text} (glfw error 0x{code:x})"]


def _acquire_glfw() -> None:
    global _open_windows
    if _open_windows == 0:
        glfw.set_error_callback(_remember_error)
        if not _call_glfw(glfw.init):
            raise DisplayUnavailable(
                f"cannot start glfw: {_last_error[0] if _last_error else 'unknown reason'}. "
                f"DISPLAY={os.environ.get('DISPLAY', '(unset)')}; on a machine without a screen run under "
                "'xvfb-run -a' or use the null viewer."
            )
    _open_windows += 1


def _release_glfw() -> None:
    global _open_windows
    _open_windows -= 1
    if _open_windows == 0:
        glfw.terminate()


def _call_glfw(function, *args):
    """``function(*args)``, or None when it fails, with the reason kept for the error message (pyGLFW raises
    instead of returning a failure when the application set ``glfw.ERROR_REPORTING = "raise"``)."""
    try:
        return function(*args)
    except glfw.GLFWError as error:
        _last_error[:] = [str(error)]
        return None


def _modifiers(bits: int) -> frozenset[str]:
    return frozenset(name for bit, name in _MODIFIER_BITS if bits & bit)


class GlfwWindow:
    """A window (shown or hidden) whose OpenGL context is current after construction."""

    def __init__(self, width: int, height: int, title: str, *, visible: bool, vsync: bool):
        _acquire_glfw()
        try:
            glfw.default_window_hints()
            glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
            glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
            glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
            glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, glfw.TRUE)  # macOS gives a core context only so
            glfw.window_hint(glfw.VISIBLE, glfw.TRUE if visible else glfw.FALSE)
            self.handle = _call_glfw(glfw.create_window, width, height, title, None, None)
            if not self.handle:
                raise DisplayUnavailable(
                    f"cannot open an OpenGL 3.3 window: {_last_error[0] if _last_error else 'unknown reason'}."
                )
        except BaseException:
            _release_glfw()
            raise
        glfw.make_context_current(self.handle)
        glfw.swap_interval(1 if vsync else 0)
        self._events: list[InputEvent] = []
        self._buttons: set[str] = set()
        self._cursor: tuple[float, float] | None = None
        glfw.set_cursor_pos_callback(self.handle, self._on_cursor)
        glfw.set_mouse_button_callback(self.handle, self._on_button)
        glfw.set_scroll_callback(self.handle, self._on_scroll)
        glfw.set_key_callback(self.handle, self._on_key)
        glfw.set_window_focus_callback(self.handle, self._on_focus)

    # -- glfw callbacks (run inside poll_events) ----------------------------------------------------------------------
    def _held_modifiers(self) -> frozenset[str]:
        return frozenset(name for keys, name in _MODIFIER_KEYS
                         if any(glfw.get_key(self.handle, key) == glfw.PRESS for key in keys))

    def _on_cursor(self, _window, x: float, y: float) -> None:
        last = self._cursor or (x, y)
        self._cursor = (x, y)
        self._events.append(MouseMove(x, y, x - last[0], y - last[1], frozenset(self._buttons),
                                      self._held_modifiers()))

    def _on_button(self, _window, button: int, action: int, mods: int) -> None:
        name = _BUTTON_NAMES.get(button)
        if name is None:
            return
        if action == glfw.PRESS:
            self._buttons.add(name)
        else:
            self._buttons.discard(name)
        self._events.append(MouseButton(name, action == glfw.PRESS, _modifiers(mods)))

    def _on_scroll(self, _window, _x_offset: float, y_offset: float) -> None:
        self._events.append(Wheel(y_offset, self._held_modifiers()))

    def _on_key(self, _window, key: int, _scancode: int, action: int, mods: int) -> None:
        name = _KEY_NAMES.get(key)
        if name is not None:
            self._events.append(Key(name, action != glfw.RELEASE, action == glfw.REPEAT, _modifiers(mods)))

    def _on_focus(self, _window, focused: int) -> None:
        if not focused:
            self._buttons.clear()
        self._events.append(FocusChange(bool(focused)))

    # -- public ------------------------------------------------------------------------------------------------------
    def poll(self) -> list[InputEvent]:
        """Process the window system's queue; the input events since the last call."""
        glfw.poll_events()
        events, self._events = self._events, []
        return events

    def should_close(self) -> bool:
        return bool(glfw.window_should_close(self.handle))

    def framebuffer_size(self) -> tuple[int, int]:
        return glfw.get_framebuffer_size(self.handle)

    def make_current(self) -> None:
        glfw.make_context_current(self.handle)

    def swap_buffers(self) -> None:
        glfw.swap_buffers(self.handle)

    def destroy(self) -> None:
        if self.handle:
            glfw.destroy_window(self.handle)
            self.handle = None
            _release_glfw()
