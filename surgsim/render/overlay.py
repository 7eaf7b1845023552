"""Compositing the HUD over the 3D view (OpenGL): one texture per HUD layer, each blended over its own rectangle.

A layer's texture is re-uploaded only when the painter hands over a new image for it (it returns the same object
while that element did not change), and only the layer's pixels are blended: both matter on a software renderer.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from OpenGL import GL

from surgsim.render import shaders
from surgsim.render.gl_resources import Texture, compile_program
from surgsim.render.hud import HudLayer


class HudOverlay:
    def __init__(self):
        self._program = compile_program(shaders.OVERLAY_VERTEX, shaders.OVERLAY_FRAGMENT)
        self._uniforms = {name: GL.glGetUniformLocation(self._program, name)
                          for name in ("rectangle", "viewport", "image")}
        self._textures: dict[str, tuple[Texture, HudLayer]] = {}
        self._empty_vertex_array = GL.glGenVertexArrays(1)  # the core profile draws nothing without one bound

    def draw(self, layers: Sequence[HudLayer], width: int, height: int) -> None:
        """Blend ``layers`` (bottom first) over the bound ``width`` × ``height`` [px] framebuffer."""
        GL.glDisable(GL.GL_DEPTH_TEST)
        GL.glEnable(GL.GL_BLEND)
        GL.glBlendFuncSeparate(GL.GL_SRC_ALPHA, GL.GL_ONE_MINUS_SRC_ALPHA, GL.GL_ONE, GL.GL_ONE_MINUS_SRC_ALPHA)
        GL.glUseProgram(self._program)
        GL.glUniform2f(self._uniforms["viewport"], float(width), float(height))
        GL.glUniform1i(self._uniforms["image"], 0)
        GL.glActiveTexture(GL.GL_TEXTURE0)
        GL.glBindVertexArray(self._empty_vertex_array)
        for layer in layers:
            GL.glBindTexture(GL.GL_TEXTURE_2D, self._texture_for(layer).handle)
            GL.glUniform4f(self._uniforms["rectangle"], float(layer.x), float(layer.y), float(layer.image.width),
                           float(layer.image.height))
            GL.glDrawArrays(GL.GL_TRIANGLE_STRIP, 0, 4)
        GL.glBindVertexArray(0)
        GL.glUseProgram(0)
        GL.glDisable(GL.GL_BLEND)

    def _texture_for(self, layer: HudLayer) -> Texture:
        texture, uploaded = self._textures.get(layer.name, (None, None))
        if texture is None:
            texture = Texture()
        if uploaded is None or uploaded.image is not layer.image:
            texture.upload(np.asarray(layer.image))
        self._textures[layer.name] = (texture, layer)
        return texture

    def delete(self) -> None:
        for texture, _ in self._textures.values():
            texture.delete()
        self._textures.clear()
        GL.glDeleteVertexArrays(1, [self._empty_vertex_array])
        GL.glDeleteProgram(self._program)
