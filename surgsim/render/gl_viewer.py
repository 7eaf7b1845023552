"""The OpenGL viewers: :class:`WindowViewer` (a visible window, vsync) and :class:`OffscreenViewer` (a hidden window
used only for its context; under Xvfb + Mesa llvmpipe on a machine without a GPU).

Both draw every frame the same way, into an offscreen framebuffer: the 3D view (:class:`SceneRenderer`), then the
HUD (:class:`HudPainter` layers composited by :class:`HudOverlay`). The window viewer then copies that image to the
screen; ``snapshot()``/``read_pixels()`` read it back in both, so a screenshot is exactly what the trainee saw.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from surgsim.fileio import atomic_output
from surgsim.render.frame import FrameData, RenderScene, check_frame
from surgsim.render.gl_resources import Framebuffer
from surgsim.render.hud import HudPainter
from surgsim.render.overlay import HudOverlay
from surgsim.render.scene_renderer import SceneRenderer
from surgsim.render.window import GlfwWindow
from surgsim.view.input import InputEvent


class _GLViewer:
    """The shared OpenGL viewer; subclasses choose the window and whether frames are shown."""

    _visible = False

    def __init__(self, width: int, height: int, *, title: str = "surgsim", vsync: bool = False):
        self.width, self.height = int(width), int(height)
        self.title = title
        self.vsync = vsync
        self.frame_count = 0
        self._window: GlfwWindow | None = None
        self._scene: RenderScene | None = None
        self._renderer: SceneRenderer | None = None
        self._overlay: HudOverlay | None = None
        self._target: Framebuffer | None = None
        self._hud = HudPainter(self.width, self.height)

    def open(self, scene: RenderScene) -> None:
        """Create the window, the GL context and the scene's buffers (DisplayUnavailable without a display)."""
        if self._window is not None:
            raise RuntimeError("the viewer is already open")
        self._window = GlfwWindow(self.width, self.height, self.title, visible=self._visible, vsync=self.vsync)
        try:
            self._scene = scene
            self._target = Framebuffer(*self._image_size())
            self._renderer = SceneRenderer(scene)
            self._overlay = HudOverlay()
        except BaseException:
            self.close()
            raise

    def _image_size(self) -> tuple[int, int]:
        return self.width, self.height

    def draw(self, frame: FrameData) -> None:
        """Render ``frame`` (checked against the scene first: a ValueError names what does not fit)."""
        if self._window is None:
            raise RuntimeError("open() the viewer before drawing")
        check_frame(self._scene, frame)
        self._window.make_current()
        size = self._image_size()
        self._target.resize(*size)
        self._hud.resize(*size)
        self._target.bind()
        self._renderer.draw(frame, *size)
        self._overlay.draw(self._hud.layers(frame.hud, frame.instruments), *size)
        self._present()
        self.frame_count += 1

    def _present(self) -> None:
        """Show the finished frame (nothing to do offscreen)."""

    def poll_input(self) -> list[InputEvent]:
        return self._window.poll() if self._window is not None else []

    def should_close(self) -> bool:
        return self._window is not None and self._window.should_close()

    def read_pixels(self) -> np.ndarray:
        """The last drawn frame, [H, W, 3] uint8 RGB, first row at the top."""
        if self._window is None:
            raise RuntimeError("open() the viewer and draw a frame before reading pixels")
        self._window.make_current()
        return self._target.read_rgb()

    def snapshot(self, path: str | os.PathLike) -> Path:
        """Write the last drawn frame as a PNG; the file appears complete or not at all."""
        pixels = self.read_pixels()
        with atomic_output(path, suffix=".png") as tmp:
            Image.fromarray(pixels, "RGB").save(tmp, format="PNG")
        return Path(path)

    def close(self) -> None:
        """Free every GL object, then the window; safe to call twice."""
        if self._window is None:
            return
        self._window.make_current()
        for resource in (self._renderer, self._overlay, self._target):
            if resource is not None:
                resource.delete()
        self._renderer = self._overlay = self._target = None
        self._window.destroy()
        self._window = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class OffscreenViewer(_GLViewer):
    """Renders ``width`` × ``height`` pixels without showing anything; read them with :meth:`read_pixels`."""


class WindowViewer(_GLViewer):
    """A visible, resizable window with vsync; the image follows the window's framebuffer size."""

    _visible = True

    def __init__(self, width: int = 1280, height: int = 720, *, title: str = "surgsim", vsync: bool = True):
        super().__init__(width, height, title=title, vsync=vsync)

    def _image_size(self) -> tuple[int, int]:
        width, height = self._window.framebuffer_size()
        return max(1, width), max(1, height)

    def _present(self) -> None:
        self._target.blit_to_window(*self._image_size())
        self._window.swap_buffers()
