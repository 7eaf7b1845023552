"""The Viewer interface, the null viewer, and :func:`make_viewer`.

The session loop talks to every viewer the same way::

    viewer.open(scene)
    while not viewer.should_close():
        events = viewer.poll_input()      # → devices
        ...                               # physics
        viewer.draw(frame)
    viewer.close()

so a headless run (tests, CI, scoring a replay) exercises exactly the interactive loop: only the viewer differs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Protocol, runtime_checkable

from surgsim.errors import InputError
from surgsim.render.frame import FrameData, RenderScene, check_frame
from surgsim.view.input import InputEvent

VIEWER_KINDS: tuple[str, ...] = ("window", "offscreen", "null")


@runtime_checkable
class Viewer(Protocol):
    frame_count: int

    def open(self, scene: RenderScene) -> None:
        """Allocate what drawing ``scene`` needs."""

    def draw(self, frame: FrameData) -> None:
        """Show one frame."""

    def poll_input(self) -> list[InputEvent]:
        """The input events since the last call (none for viewers without a window)."""

    def should_close(self) -> bool:
        """True once the user closed the window (or a null viewer reached its frame budget)."""

    def snapshot(self, path: str | os.PathLike) -> Path | None:
        """Save the last frame as a PNG (atomically); None where there are no pixels."""

    def close(self) -> None:
        """Free everything; safe to call twice."""


class NullViewer:
    """Draws nothing and needs no display; checks every frame against the scene and counts them.

    ``input_batches`` are returned by successive :meth:`poll_input` calls (then nothing), so a headless run can be
    driven by scripted mouse and keyboard input; ``max_frames`` makes :meth:`should_close` true after that many
    frames.
    """

    def __init__(self, *, input_batches: Iterable[list[InputEvent]] = (), max_frames: int | None = None):
        self.frame_count = 0
        self.max_frames = max_frames
        self.scene: RenderScene | None = None
        self.last_frame: FrameData | None = None
        self._input = iter(list(input_batches))

    def open(self, scene: RenderScene) -> None:
        self.scene = scene

    def draw(self, frame: FrameData) -> None:
        if self.scene is None:
            raise RuntimeError("open() the viewer before drawing")
        check_frame(self.scene, frame)
        self.last_frame = frame
        self.frame_count += 1

    def poll_input(self) -> list[InputEvent]:
        return list(next(self._input, []))

    def should_close(self) -> bool:
        return self.max_frames is not None and self.frame_count >= self.max_frames

    def snapshot(self, path: str | os.PathLike) -> None:
        return None

    def close(self) -> None:
        self.scene = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def make_viewer(kind: str, *, width: int = 1280, height: int = 720, title: str = "surgsim") -> Viewer:
    """A viewer by name: ``window``, ``offscreen`` (both need a display, e.g. Xvfb) or ``null``."""
    if kind == "null":
        return NullViewer()
    if kind == "window":
        from surgsim.render.gl_viewer import WindowViewer

        return WindowViewer(width, height, title=title)
    if kind == "offscreen":
        from surgsim.render.gl_viewer import OffscreenViewer

        return OffscreenViewer(width, height, title=title)
    raise InputError("--viewer", f"unknown viewer '{kind}'; choose one of {', '.join(VIEWER_KINDS)}.")
