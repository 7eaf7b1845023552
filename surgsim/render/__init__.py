"""Rendering: the Viewer interface (window, offscreen, null), the render contract, the HUD, video.

Public API:

- data (:mod:`surgsim.render.frame`): :class:`RenderScene` (:class:`TissueMesh`, :class:`RigidMesh`,
  :class:`InstrumentSpec`) once, then a :class:`FrameData` (:class:`TissueFrame`, :class:`InstrumentFrame` of
  :class:`Capsule`, :class:`CameraPose`, :class:`HudState`, :class:`EndReport`) per frame
- viewers (:mod:`surgsim.render.viewer`): :class:`Viewer`, :class:`NullViewer`, :func:`make_viewer`;
  :class:`WindowViewer` and :class:`OffscreenViewer` (OpenGL, imported on first use)
- :class:`HudPainter`, :class:`VideoWriter`, :class:`VirtualDisplay` (Xvfb)

The camera's pose and maths and the input events are one floor down, in :mod:`surgsim.view`, which devices use too.

Importing this package needs no display and no OpenGL: the GL modules load only when a GL viewer is created.
"""

from surgsim.render.frame import (
    Capsule,
    CameraPose,
    EndReport,
    FrameData,
    HudState,
    InstrumentFrame,
    InstrumentSpec,
    RenderScene,
    RigidMesh,
    TissueFrame,
    TissueMesh,
    check_frame,
)
from surgsim.render.hud import HudPainter
from surgsim.render.video import VideoWriter
from surgsim.render.viewer import VIEWER_KINDS, NullViewer, Viewer, make_viewer
from surgsim.render.virtual_display import VirtualDisplay

_GL_VIEWERS = ("WindowViewer", "OffscreenViewer")


def __getattr__(name):
    if name in _GL_VIEWERS:
        from surgsim.render import gl_viewer

        return getattr(gl_viewer, name)
    if name == "DisplayUnavailable":
        from surgsim.render.window import DisplayUnavailable

        return DisplayUnavailable
    raise AttributeError(name)


__all__ = [
    "Capsule", "CameraPose", "EndReport", "FrameData", "HudState", "InstrumentFrame", "InstrumentSpec",
    "RenderScene", "RigidMesh", "TissueFrame", "TissueMesh", "check_frame", "HudPainter", "VideoWriter",
    "VIEWER_KINDS", "NullViewer", "Viewer", "make_viewer", "VirtualDisplay", "WindowViewer", "OffscreenViewer",
    "DisplayUnavailable",
]
