"""A picture of a procedure's scene as built, without simulating: organs, rigid anatomy, regions, forbidden zones,
landmarks, trocar ports and instrument shafts, and the laparoscope's view frustum.

Drawn with matplotlib (Agg, no display or OpenGL needed) in two 3D views, from the patient's front-right and from
above, in millimetres in the patient's RAS frame. The tissue is shown at rest (before gravity settles it). A region
that selects no tissue node (and is not on rigid anatomy) is named in the legend as such: nothing there can be
reached.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d.art3d import Line3DCollection, Poly3DCollection

ORGAN_COLOURS = ("#c77d6b", "#7da35a", "#e0c25a", "#6b8fc7", "#b36bc7", "#999999")
REGION_COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")
FORBIDDEN_COLOUR = "#d62728"
MAX_TRIANGLES = 6000  # per organ: enough to see its shape, few enough to draw in a second or two


def frustum_corners(eye, target, fov_deg: float, aspect: float, depth_m: float) -> np.ndarray:
    """The four far corners [4, 3] of a camera at ``eye`` looking at ``target`` (vertical field of view ``fov_deg``),
    ``depth_m`` along its axis; +z (superior) is up in the image."""
    eye, target = np.asarray(eye, dtype=float), np.asarray(target, dtype=float)
    forward = (target - eye) / np.linalg.norm(target - eye)
    up = np.array([0.0, 0.0, 1.0])
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-6:  # looking straight up or down
        right = np.array([1.0, 0.0, 0.0])
    right /= np.linalg.norm(right)
    image_up = np.cross(right, forward)
    half_height = depth_m * math.tan(math.radians(fov_deg) / 2)
    half_width = aspect * half_height
    centre = eye + depth_m * forward
    return np.array([centre + sx * half_width * right + sy * half_height * image_up
                     for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))])


def preview_figure(scene, spec) -> Figure:
    """The figure of a built scene (:class:`surgsim.procedure.scene_builder.BuiltScene`) and its procedure spec."""
    figure = Figure(figsize=(14, 7))
    views = (("from the front, right", 20, -60), ("from above", 85, -90))
    forbidden = {zone.region for zone in spec.forbidden}
    for k, (title, elevation, azimuth) in enumerate(views):
        axes = figure.add_subplot(1, 2, k + 1, projection="3d")
        handles = _draw(axes, scene, forbidden, legend=k == 0)
        axes.view_init(elev=elevation, azim=azimuth)
        axes.set_title(title)
        axes.set_xlabel("x (mm, right)")
        axes.set_ylabel("y (mm, anterior)")
        axes.set_zlabel("z (mm, superior)")
        _equal_axes(axes, scene)
        if handles:
            figure.legend(handles=handles, loc="lower center", ncol=min(5, len(handles)), fontsize=8)
    figure.suptitle(f"{spec.title}: scene preview (at rest, not simulated)")
    return figure


def _draw(axes, scene, forbidden: set[str], legend: bool) -> list:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = []
    mm = scene.model.positions * 1000.0
    triangles = scene.model.surface_triangles
    for colour, (organ, nodes) in zip(ORGAN_COLOURS * 4, scene.organ_nodes.items()):
        own = triangles[(triangles[:, 0] >= nodes.start) & (triangles[:, 0] < nodes.stop)]
        if len(own) > MAX_TRIANGLES:
            own = own[:: math.ceil(len(own) / MAX_TRIANGLES)]
        axes.add_collection3d(Poly3DCollection(mm[own], facecolor=colour, edgecolor="none", alpha=0.35))
        handles.append(Patch(color=colour, alpha=0.5, label=f"organ {organ}"))
    for body in scene.rigid_bodies.values():
        vertices = body.vertices_m * 1000.0
        axes.add_collection3d(Poly3DCollection(vertices[body.triangles], facecolor="#bbbbbb", edgecolor="none",
                                               alpha=0.2))
        handles.append(Patch(color="#bbbbbb", alpha=0.4, label=f"rigid {body.name}"))
    colours = iter(REGION_COLOURS * 4)
    for name, region in scene.regions.items():
        colour = FORBIDDEN_COLOUR if name in forbidden else next(colours)
        kind = "forbidden" if name in forbidden else "region"
        if len(region.nodes):
            points = mm[region.nodes]
            axes.scatter(points[:, 0], points[:, 1], points[:, 2], s=4, color=colour, depthshade=False)
            handles.append(Line2D([], [], marker="o", linestyle="", color=colour, label=f"{kind} {name}"))
        elif region.body in scene.rigid_bodies:  # drawn with its rigid body
            handles.append(Line2D([], [], marker="x", linestyle="", color=colour,
                                  label=f"{kind} {name} (rigid {region.body})"))
        else:
            handles.append(Line2D([], [], marker="x", linestyle="", color=colour,
                                  label=f"{kind} {name} (no tissue node)"))
    for landmark in scene.landmarks.values():
        point = landmark.rest_position_m * 1000.0
        axes.scatter([point[0]], [point[1]], [point[2]], marker="*", s=60, color="black")
    if scene.landmarks:
        handles.append(Line2D([], [], marker="*", linestyle="", color="black", label="landmarks"))
    shafts = []
    for instrument in scene.instruments:
        start = instrument.port_m if instrument.access == "trocar" else instrument.start_m
        start_mm, aim_mm = np.asarray(start) * 1000.0, np.asarray(instrument.aim_m) * 1000.0
        shafts.append([start_mm, aim_mm])
        axes.scatter([start_mm[0]], [start_mm[1]], [start_mm[2]], marker="s", s=30, color="#333333")
        axes.text(*start_mm, f" {instrument.name}", fontsize=7)
    axes.add_collection3d(Line3DCollection(shafts, colors="#333333", linewidths=2))
    handles.append(Line2D([], [], marker="s", color="#333333", label="ports and instrument shafts"))
    camera = scene.camera
    eye = np.asarray(camera.port_m) * 1000.0
    depth = float(np.linalg.norm(np.asarray(camera.look_at_m) * 1000.0 - eye))
    corners = frustum_corners(eye, np.asarray(camera.look_at_m) * 1000.0, camera.fov_deg, 4 / 3, depth)
    lines = [[eye, corner] for corner in corners] + [[corners[i], corners[(i + 1) % 4]] for i in range(4)]
    axes.add_collection3d(Line3DCollection(lines, colors="#ff7f0e", linewidths=1))
    handles.append(Line2D([], [], color="#ff7f0e", label="camera frustum (to its look-at point)"))
    return handles if legend else []


def _equal_axes(axes, scene) -> None:
    """The same scale on all three axes, framing the tissue, ports and camera."""
    points = [scene.model.positions * 1000.0, np.asarray([scene.camera.port_m]) * 1000.0]
    for instrument in scene.instruments:
        start = instrument.port_m if instrument.access == "trocar" else instrument.start_m
        points.append(np.asarray([start]) * 1000.0)
    everything = np.vstack(points)
    low, high = everything.min(axis=0), everything.max(axis=0)
    centre, half = (low + high) / 2, max(float((high - low).max()) / 2, 1.0)
    axes.set_xlim(centre[0] - half, centre[0] + half)
    axes.set_ylim(centre[1] - half, centre[1] + half)
    axes.set_zlim(centre[2] - half, centre[2] + half)
    axes.set_box_aspect((1, 1, 1))
