"""The 3D view: tissues (streamed every frame), rigid anatomy (uploaded once) and instruments (capsules).

:class:`SceneRenderer` needs a current OpenGL 3.3 core context; it draws into whatever framebuffer is bound. The HUD
is not its job (:mod:`surgsim.render.overlay`).
"""

from __future__ import annotations

import numpy as np
from OpenGL import GL

from surgsim.render import palette, shaders
from surgsim.render.frame import (
    FrameData,
    InstrumentFrame,
    RenderScene,
    TissueFrame,
    TissueMesh,
)
from surgsim.render.geometry import capsule_meshes, vertex_normals
from surgsim.render.gl_resources import VertexArray, compile_program
from surgsim.view.camera import CameraPose, projection_matrix, view_matrix


class _TissueDrawable:
    """One organ's buffers; keeps the current triangle list and burn values between frames."""

    def __init__(self, mesh: TissueMesh):
        self.triangles = mesh.triangles
        self.vertices = VertexArray()
        self.vertices.set_attribute(shaders.ATTRIBUTE_COLOUR, mesh.node_colours, static=True)
        self.vertices.set_attribute(shaders.ATTRIBUTE_BURN, np.zeros(mesh.node_count, dtype=np.float32))
        self.vertices.set_triangles(self.triangles)
        self.update(TissueFrame(mesh.rest_positions))

    def update(self, frame: TissueFrame) -> None:
        if frame.triangles is not None:
            self.triangles = np.asarray(frame.triangles, dtype=np.int32).reshape(-1, 3)
            self.vertices.set_triangles(self.triangles)
        if frame.burn is not None:
            self.vertices.set_attribute(shaders.ATTRIBUTE_BURN, frame.burn)
        positions = np.asarray(frame.positions, dtype=np.float32)
        self.vertices.set_attribute(shaders.ATTRIBUTE_POSITION, positions)
        self.vertices.set_attribute(shaders.ATTRIBUTE_NORMAL, vertex_normals(positions, self.triangles))

    def delete(self) -> None:
        self.vertices.delete()


class _InstrumentDrawable:
    """Every instrument's capsules and the placed clips in one streamed mesh (a few dozen capsules: one draw
    call)."""

    def __init__(self):
        self.vertices = VertexArray()

    def update(self, instruments: list[InstrumentFrame], clips=()) -> None:
        capsules = [(c, instrument.energy) for instrument in instruments for c in instrument.capsules]
        capsules += [(c, False) for c in clips]
        if not capsules:
            self.vertices.set_triangles(np.zeros((0, 3), dtype=np.int32))
            return
        p0 = np.array([c.p0_m for c, _ in capsules], dtype=np.float64)
        p1 = np.array([c.p1_m for c, _ in capsules], dtype=np.float64)
        radius = np.array([c.radius_m for c, _ in capsules], dtype=np.float64)
        colours = {"jaw": palette.INSTRUMENT_JAW, "clip": palette.CLIP}
        colour = np.array([colours.get(c.part, palette.INSTRUMENT_SHAFT) for c, _ in capsules], dtype=np.float32)
        glow = np.array([float(energy and c.part == "jaw") for c, energy in capsules], dtype=np.float32)
        positions, normals, triangles = capsule_meshes(p0, p1, radius)
        per_capsule = len(positions) // len(capsules)
        self.vertices.set_attribute(shaders.ATTRIBUTE_POSITION, positions)
        self.vertices.set_attribute(shaders.ATTRIBUTE_NORMAL, normals)
        self.vertices.set_attribute(shaders.ATTRIBUTE_COLOUR, np.repeat(colour, per_capsule, axis=0))
        self.vertices.set_attribute(shaders.ATTRIBUTE_GLOW, np.repeat(glow, per_capsule))
        self.vertices.set_triangles(triangles)

    def delete(self) -> None:
        self.vertices.delete()


class SceneRenderer:
    """Draws a :class:`RenderScene` from :class:`FrameData` with the current OpenGL context."""

    def __init__(self, scene: RenderScene):
        self.scene = scene
        self._program = compile_program(shaders.SURFACE_VERTEX, shaders.SURFACE_FRAGMENT)
        self._uniforms = {name: GL.glGetUniformLocation(self._program, name)
                          for name in ("view", "projection", "charred_colour", "glow_colour")}
        self._tissues = {mesh.name: _TissueDrawable(mesh) for mesh in scene.tissues}
        self._rigid = [self._upload_rigid(mesh) for mesh in scene.rigid]
        self._instruments = _InstrumentDrawable()

    @staticmethod
    def _upload_rigid(mesh) -> VertexArray:
        vertices = VertexArray()
        positions = mesh.vertices.astype(np.float32)
        vertices.set_attribute(shaders.ATTRIBUTE_POSITION, positions, static=True)
        vertices.set_attribute(shaders.ATTRIBUTE_NORMAL, vertex_normals(positions, mesh.triangles), static=True)
        vertices.set_attribute(shaders.ATTRIBUTE_COLOUR, np.tile(np.float32(mesh.colour), (len(positions), 1)),
                               static=True)
        vertices.set_triangles(mesh.triangles)
        return vertices

    def draw(self, frame: FrameData, width: int, height: int) -> None:
        """Clear the bound framebuffer and draw the frame; ``width``/``height`` [px] set the aspect ratio."""
        for name, tissue_frame in frame.tissues.items():
            self._tissues[name].update(tissue_frame)
        self._instruments.update(list(frame.instruments), tuple(frame.clips))
        GL.glClearColor(*palette.BACKGROUND, 1.0)
        GL.glClear(GL.GL_COLOR_BUFFER_BIT | GL.GL_DEPTH_BUFFER_BIT)
        GL.glEnable(GL.GL_DEPTH_TEST)
        GL.glDisable(GL.GL_CULL_FACE)  # back faces show the inside of an organ through a cut
        GL.glDisable(GL.GL_BLEND)
        GL.glUseProgram(self._program)
        self._set_camera(frame.camera, width / max(1, height))
        for drawable in self._tissues.values():
            drawable.vertices.draw()
        for vertices in self._rigid:
            vertices.draw()
        self._instruments.vertices.draw()
        GL.glUseProgram(0)

    def _set_camera(self, camera: CameraPose, aspect: float) -> None:
        # numpy is row-major; transpose=GL_TRUE hands OpenGL the column-major matrix it expects.
        GL.glUniformMatrix4fv(self._uniforms["view"], 1, GL.GL_TRUE, view_matrix(camera).astype(np.float32))
        GL.glUniformMatrix4fv(self._uniforms["projection"], 1, GL.GL_TRUE,
                              projection_matrix(camera, aspect).astype(np.float32))
        GL.glUniform3f(self._uniforms["charred_colour"], *palette.CHARRED)
        GL.glUniform3f(self._uniforms["glow_colour"], *palette.ENERGY_GLOW)

    def delete(self) -> None:
        for drawable in self._tissues.values():
            drawable.delete()
        for vertices in self._rigid:
            vertices.delete()
        self._instruments.delete()
        GL.glDeleteProgram(self._program)
        self._tissues.clear()
        self._rigid.clear()
