"""Thin owners of OpenGL objects: a shader program, growable buffers, a vertex array, a texture, a framebuffer.

Each object is created in the current context and must be deleted (``delete()``) in that context; the viewer does
so on close. Buffers grow geometrically and are otherwise updated in place with ``glBufferSubData``, so streaming a
deforming mesh every frame allocates nothing.
"""

from __future__ import annotations

import ctypes

import numpy as np
from OpenGL import GL


class GLError(RuntimeError):
    """A shader or framebuffer that the OpenGL driver refused."""


def compile_program(vertex_source: str, fragment_source: str) -> int:
    """Link a program from two shader sources; GLError carries the driver's log."""
    shaders = []
    try:
        for kind, source in ((GL.GL_VERTEX_SHADER, vertex_source), (GL.GL_FRAGMENT_SHADER, fragment_source)):
            shader = GL.glCreateShader(kind)
            shaders.append(shader)
            GL.glShaderSource(shader, source)
            GL.glCompileShader(shader)
            if not GL.glGetShaderiv(shader, GL.GL_COMPILE_STATUS):
                raise GLError(f"shader compilation failed: {_text(GL.glGetShaderInfoLog(shader))}")
        program = GL.glCreateProgram()
        for shader in shaders:
            GL.glAttachShader(program, shader)
        GL.glLinkProgram(program)
        if not GL.glGetProgramiv(program, GL.GL_LINK_STATUS):
            log = _text(GL.glGetProgramInfoLog(program))
            GL.glDeleteProgram(program)
            raise GLError(f"shader linking failed: {log}")
        return program
    finally:
        for shader in shaders:
            GL.glDeleteShader(shader)


def _text(log) -> str:
    return log.decode(errors="replace").strip() if isinstance(log, bytes) else str(log).strip()


class GrowableBuffer:
    """One buffer object whose contents are replaced by :meth:`upload`; it reallocates only when data outgrows it."""

    def __init__(self, target: int, usage: int = GL.GL_DYNAMIC_DRAW):
        self.target = target
        self.usage = usage
        self.handle = GL.glGenBuffers(1)
        self.capacity_bytes = 0

    def upload(self, data: np.ndarray) -> None:
        data = np.ascontiguousarray(data)
        GL.glBindBuffer(self.target, self.handle)
        if data.nbytes > self.capacity_bytes:
            self.capacity_bytes = max(data.nbytes, 2 * self.capacity_bytes)
            GL.glBufferData(self.target, self.capacity_bytes, None, self.usage)
        if data.nbytes:
            GL.glBufferSubData(self.target, 0, data.nbytes, data)

    def delete(self) -> None:
        if self.handle:
            GL.glDeleteBuffers(1, [self.handle])
            self.handle = 0


class VertexArray:
    """A vertex array object with one float buffer per attribute location and a triangle index buffer."""

    def __init__(self):
        self.handle = GL.glGenVertexArrays(1)
        self._attributes: dict[int, GrowableBuffer] = {}
        self._indices = GrowableBuffer(GL.GL_ELEMENT_ARRAY_BUFFER)
        self.index_count = 0

    def set_attribute(self, location: int, values: np.ndarray, *, static: bool = False) -> None:
        """Upload per-vertex ``values`` [V] or [V, k] (float32) to attribute ``location``."""
        values = np.asarray(values, dtype=np.float32)
        buffer = self._attributes.get(location)
        GL.glBindVertexArray(self.handle)
        if buffer is None:
            buffer = GrowableBuffer(GL.GL_ARRAY_BUFFER, GL.GL_STATIC_DRAW if static else GL.GL_DYNAMIC_DRAW)
            self._attributes[location] = buffer
            buffer.upload(values)
            width = 1 if values.ndim == 1 else values.shape[1]
            GL.glEnableVertexAttribArray(location)
            GL.glVertexAttribPointer(location, width, GL.GL_FLOAT, GL.GL_FALSE, 0, ctypes.c_void_p(0))
        else:
            buffer.upload(values)
        GL.glBindVertexArray(0)

    def set_triangles(self, triangles: np.ndarray) -> None:
        triangles = np.ascontiguousarray(triangles, dtype=np.uint32)
        GL.glBindVertexArray(self.handle)
        self._indices.upload(triangles)  # the element buffer binding is recorded in the bound vertex array
        GL.glBindVertexArray(0)
        self.index_count = triangles.size

    def draw(self) -> None:
        if self.index_count:
            GL.glBindVertexArray(self.handle)
            GL.glDrawElements(GL.GL_TRIANGLES, self.index_count, GL.GL_UNSIGNED_INT, ctypes.c_void_p(0))
            GL.glBindVertexArray(0)

    def delete(self) -> None:
        for buffer in self._attributes.values():
            buffer.delete()
        self._attributes.clear()
        self._indices.delete()
        if self.handle:
            GL.glDeleteVertexArrays(1, [self.handle])
            self.handle = 0


class Texture:
    """An RGBA8 2D texture that follows the size of the last image uploaded."""

    def __init__(self):
        self.handle = GL.glGenTextures(1)
        self.size: tuple[int, int] = (0, 0)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.handle)
        for parameter, value in ((GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR), (GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR),
                                 (GL.GL_TEXTURE_WRAP_S, GL.GL_CLAMP_TO_EDGE),
                                 (GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_EDGE)):
            GL.glTexParameteri(GL.GL_TEXTURE_2D, parameter, value)

    def upload(self, rgba: np.ndarray) -> None:
        """``rgba`` [H, W, 4] uint8, first row at the top."""
        rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
        height, width = rgba.shape[:2]
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.handle)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        if (width, height) != self.size:
            GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_RGBA8, width, height, 0, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, rgba)
            self.size = (width, height)
        else:
            GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, width, height, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, rgba)

    def delete(self) -> None:
        if self.handle:
            GL.glDeleteTextures(1, [self.handle])
            self.handle = 0


class Framebuffer:
    """An offscreen colour + depth target of a given size; every frame is drawn here, then shown or read back."""

    def __init__(self, width: int, height: int):
        self.handle = GL.glGenFramebuffers(1)
        self._colour, self._depth = GL.glGenRenderbuffers(2)
        self.size = (0, 0)
        self.resize(width, height)

    def resize(self, width: int, height: int) -> None:
        if (width, height) == self.size:
            return
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.handle)
        for renderbuffer, storage, attachment in ((self._colour, GL.GL_RGBA8, GL.GL_COLOR_ATTACHMENT0),
                                                  (self._depth, GL.GL_DEPTH_COMPONENT24, GL.GL_DEPTH_ATTACHMENT)):
            GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, renderbuffer)
            GL.glRenderbufferStorage(GL.GL_RENDERBUFFER, storage, width, height)
            GL.glFramebufferRenderbuffer(GL.GL_FRAMEBUFFER, attachment, GL.GL_RENDERBUFFER, renderbuffer)
        status = GL.glCheckFramebufferStatus(GL.GL_FRAMEBUFFER)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
        if status != GL.GL_FRAMEBUFFER_COMPLETE:
            raise GLError(f"offscreen framebuffer {width}x{height} is incomplete (status 0x{int(status):x})")
        self.size = (width, height)

    def bind(self) -> None:
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.handle)
        GL.glViewport(0, 0, *self.size)

    def read_rgb(self) -> np.ndarray:
        """The pixels [H, W, 3] uint8, first row at the top of the image."""
        width, height = self.size
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self.handle)
        GL.glReadBuffer(GL.GL_COLOR_ATTACHMENT0)
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
        data = GL.glReadPixels(0, 0, width, height, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, 0)
        return np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)[::-1].copy()

    def blit_to_window(self, width: int, height: int) -> None:
        """Copy the image onto the window's back buffer (scaled when the window size differs)."""
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self.handle)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, 0)
        GL.glBlitFramebuffer(0, 0, *self.size, 0, 0, width, height, GL.GL_COLOR_BUFFER_BIT, GL.GL_LINEAR)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)

    def delete(self) -> None:
        if self.handle:
            GL.glDeleteFramebuffers(1, [self.handle])
            GL.glDeleteRenderbuffers(2, [self._colour, self._depth])
            self.handle = 0
