"""A procedure's scene, built: organs imported and placed in one tissue model, named regions and landmarks resolved to
nodes and geometry, rigid anatomy, camera and instrument ports. SI units throughout: the procedure file's
millimetres and degrees are converted here, once.

- Organs: a ``label_map`` or ``mesh`` source goes through :func:`~surgsim.mesh.pipeline.import_model` (cached) with the
  organ's material and ``target_nodes``; a ``block`` is :func:`~surgsim.mesh.primitives.tet_block`; a ``model`` is
  loaded as it is. ``placement`` scales (the model is rebuilt, since rest lengths and masses change), rotates about
  the scene's x, then y, then z axis, and translates. The organs are joined by
  :func:`~surgsim.mesh.combine.combine_models`: one region per organ, named after it.
- Regions (:class:`SceneRegion`): ``nodes`` are the tissue nodes the shape holds at rest (an ``organ`` region: all of
  the organ's), limited to the region's organ when it names one. A region limited to a tissue organ or a rigid body
  must hold at least one node or vertex of it, or the procedure is refused; so must a volume region that anchors an
  organ or that a grasp or retract goal needs. ``geometry`` is what instruments are tested against (see
  :mod:`surgsim.procedure.region_geometry`): the region's piece of tissue or rigid surface, or for a volume region
  (no ``organ``) the shape itself, carried by the tissue within :data:`VOLUME_FOLLOW_DISTANCE_M` of it.
- Anchors and attachments: an organ's ``anchors`` regions are held fixed (a CT crop's cut faces, a clamped frame);
  its ``attachments`` regions (an organ bed, a ligament: soft anatomy) are tied to where they rest by springs whose
  stiffness comes from the organ material's bed (:func:`bed_stiffness`), so the tissue there gives under a pull and
  spreads it instead of concentrating it at a kinematic boundary.
- Landmarks (:class:`SceneLandmark`): embedded in their organ's tet that contains them (else offset from the nearest
  node), so they follow the tissue; on a rigid body they are fixed.
- Rigid bodies (:class:`SceneRigidBody`): a closed outward triangle surface in metres for drawing and contact tests,
  and an oriented box: the exact box of a ``block`` (usable as a tissue obstacle and a PyBullet static box), or the
  principal-axes bounding box of a surface as a coarse proxy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from surgsim.errors import InputError
from surgsim.mesh.build import build_tissue_model
from surgsim.mesh.combine import RigidTransform, combine_models
from surgsim.mesh.materials import material as material_by_name
from surgsim.mesh.model import TissueModel
from surgsim.mesh.pipeline import DEFAULT_TARGET_NODES, import_model
from surgsim.mesh.primitives import tet_block
from surgsim.mesh.tetrahedralize import MIN_TARGET_NODES
from surgsim.procedure.loader import Issue, ProcedureFile, issue_at, sorted_issues
from surgsim.procedure.region_geometry import (
    BoxVolume,
    CapsuleVolume,
    Embedding,
    RegionGeometry,
    SphereVolume,
    SurfacePatch,
    embed_point,
    segment_point_distances,
)
from surgsim.procedure.schema import (
    BoxRegion,
    CapsuleRegion,
    GraspGoal,
    LabelMapSource,
    MeshSource,
    ModelSource,
    Organ,
    OrganRegion,
    Placement,
    RetractGoal,
    RigidBlockSource,
    RigidBody,
    SphereRegion,
)
from surgsim.procedure.yaml_source import read_yaml
from surgsim.render.frame import InstrumentSpec, RenderScene, RigidMesh, TissueMesh
from surgsim.render.palette import RIGID_ANATOMY, TISSUE_COLOURS
from surgsim.tissue.contact import Box
from surgsim.view.camera import CameraPose, laparoscope_pose

MM = 1e-3
# The whole tissue is one mesh for the viewer: the solver's positions array is its frame data as it is.
TISSUE_MESH_NAME = "tissue"
# Decimation target of a rigid label surface: fine enough to draw and to test contact against, cheap to test.
RIGID_SURFACE_POINTS = 4000
# A volume region's defining points follow tissue nodes up to this far away; beyond it they stay where they are.
VOLUME_FOLLOW_DISTANCE_M = 0.010


# -- the parts of a built scene --------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SceneRegion:
    """A named region: the tissue ``nodes`` it holds at rest (sorted int32) and its contact ``geometry``.

    ``body``: the organ or rigid body the region is limited to, None for a volume of the scene.
    """

    name: str
    kind: str
    body: str | None
    nodes: np.ndarray
    geometry: RegionGeometry


@dataclass(frozen=True, eq=False)
class SceneLandmark:
    """A named point on an organ: ``rest_position_m`` [m] as written, ``nearest_node`` of its organ (None on a rigid
    body) and the embedding that moves it with the tissue."""

    name: str
    organ: str
    rest_position_m: np.ndarray
    nearest_node: int | None
    embedding: Embedding

    def position_m(self, positions: np.ndarray) -> np.ndarray:
        """Where the landmark is now [m], given the tissue's current node positions [N, 3]."""
        return self.embedding.position(positions)


@dataclass(frozen=True, eq=False)
class OrientedBox:
    """A box: ``center_m`` [m], ``half_extents_m`` [m] along its own axes, ``rotation`` 3×3 with the axes as columns."""

    center_m: np.ndarray
    half_extents_m: np.ndarray
    rotation: np.ndarray

    def tissue_obstacle(self, *, friction: float = 0.0) -> Box:
        return Box(
            center=tuple(map(float, self.center_m)), half_extents=tuple(map(float, self.half_extents_m)),
            rotation=tuple(tuple(map(float, row)) for row in self.rotation), friction=friction,
        )


@dataclass(frozen=True, eq=False)
class SceneRigidBody:
    """Rigid anatomy: a closed surface (``vertices_m`` [V, 3], outward ``triangles`` [T, 3]) and ``box``, which is the
    body itself when ``box_is_exact`` (a block source), else its bounding box."""

    name: str
    vertices_m: np.ndarray
    triangles: np.ndarray
    box: OrientedBox
    box_is_exact: bool


@dataclass(frozen=True)
class SceneCamera:
    port_m: tuple[float, float, float]
    look_at_m: tuple[float, float, float]
    fov_deg: float
    scope_angle_deg: float

    def pose(self) -> CameraPose:
        """The laparoscope at its port with the look-at point in the image centre."""
        return laparoscope_pose(self.port_m, self.look_at_m, fov_deg=self.fov_deg, scope_angle_deg=self.scope_angle_deg)


@dataclass(frozen=True)
class SceneInstrument:
    """An instrument and where it starts [m]. ``access == "trocar"``: its trocar ``port_m``, and ``aim_m`` where it
    points when the session starts (the camera's look-at point); ``start_m`` is None. ``access == "open"`` (held
    freely): the distal end of its shaft starts at ``start_m`` and the shaft points at ``aim_m``; ``port_m`` is None."""

    name: str
    type: str
    hand: str
    port_m: tuple[float, float, float] | None
    aim_m: tuple[float, float, float]
    access: str = "trocar"
    start_m: tuple[float, float, float] | None = None


@dataclass(frozen=True, eq=False)
class BuiltScene:
    """Everything a session needs from a procedure's scene, in SI units."""

    procedure: ProcedureFile
    model: TissueModel
    organ_nodes: dict[str, range]
    regions: dict[str, SceneRegion]
    landmarks: dict[str, SceneLandmark]
    anchor_nodes: np.ndarray
    rigid_bodies: dict[str, SceneRigidBody]
    camera: SceneCamera
    instruments: tuple[SceneInstrument, ...]
    attachment_nodes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    attachment_stiffness: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def apply_anchors(self, control) -> np.ndarray:
        """Hold every organ's anchor nodes at their rest positions in ``control`` (a tissue solver's
        :class:`~surgsim.tissue.control.TissueControl`), and tie its attached nodes to theirs by springs of
        ``attachment_stiffness`` [N/m]; returns the anchored ids."""
        if len(self.attachment_nodes):
            control.attach(self.attachment_nodes, self.model.positions[self.attachment_nodes],
                           self.attachment_stiffness)
        return control.anchor(self.anchor_nodes)

    def tissue_obstacles(self) -> list[Box]:
        """The rigid blocks as tissue obstacles. Surfaces are left out: their bounding boxes would swallow tissue."""
        return [body.box.tissue_obstacle() for body in self.rigid_bodies.values() if body.box_is_exact]

    def render_scene(self) -> RenderScene:
        """The tissue as one mesh named :data:`TISSUE_MESH_NAME`, the rigid bodies and the instruments."""
        return RenderScene(
            tissues=(TissueMesh.from_model(TISSUE_MESH_NAME, self.model),),
            rigid=tuple(
                RigidMesh(body.name, body.vertices_m, body.triangles, _rigid_colour(body.name))
                for body in self.rigid_bodies.values()
            ),
            instruments=tuple(InstrumentSpec(instrument.name, instrument.type) for instrument in self.instruments),
        )


def _rigid_colour(name: str):
    """Anatomy named like a palette entry (``portal_vein``) in that colour, anything else (a base plate) neutral."""
    lowered = name.lower()
    return next((colour for key, colour in TISSUE_COLOURS if key in lowered), RIGID_ANATOMY)


# -- building --------------------------------------------------------------------------------------------------------
class SceneProblems(InputError):
    """Names of a procedure that select nothing in its built scene (a region without a node of its organ, an
    anchor or a goal's region without tissue): ``problems`` holds each one's place in the procedure (a key path, for
    ``surgsim validate``'s line and column) and its message."""

    def __init__(self, path, problems: list[tuple[tuple, str]]):
        self.problems = problems
        super().__init__(path, " ".join(message for _, message in problems))


def build_scene(procedure_file: ProcedureFile, *, use_cache: bool = True, resolution: float = 1.0) -> BuiltScene:
    """Build the scene of a loaded procedure. ``use_cache``: reuse imported organ models (see
    :mod:`surgsim.mesh.cache`). ``resolution``: the share of each imported organ's ``target_nodes`` to mesh it with
    (1: the procedure's own; a coarser model of the same organs runs faster, see :mod:`surgsim.resolution`). Raises :class:`InputError` naming the procedure file for a region or anchor that
    selects nothing or a grasp or retract goal's region without tissue, and the asset's problem for an asset that
    cannot be imported."""
    spec = procedure_file.spec
    if not 0.0 < resolution <= 1.0:
        raise InputError("resolution", f"{resolution} is out of range; it must lie in (0, 1].")
    targets = organ_target_nodes(spec, resolution)
    organ_models = [(organ.name, _organ_model(procedure_file, organ, use_cache, targets.get(organ.name)))
                    for organ in spec.scene.organs]
    transforms = [_rigid_transform(organ.placement) for organ in spec.scene.organs]
    combined = combine_models(organ_models, transforms=transforms)
    model = combined.model
    rigid_bodies = {body.name: _rigid_body(procedure_file, body) for body in spec.scene.rigid}
    builder = _RegionBuilder(procedure_file, model, combined.node_ranges, rigid_bodies)
    regions, problems = {}, []
    for name, region in spec.scene.regions.items():
        try:
            regions[name] = builder.region(name, region)
        except SceneProblems as selected_nothing:
            problems += selected_nothing.problems
    if problems:
        raise SceneProblems(procedure_file.path, problems)
    _require_goal_nodes(procedure_file, regions)
    landmarks = {name: builder.landmark(name, landmark) for name, landmark in spec.scene.landmarks.items()}
    anchors = [builder.anchor_nodes(index, organ, regions) for index, organ in enumerate(spec.scene.organs)]
    anchored = np.concatenate(anchors)
    attached = np.zeros(0, np.int32)
    attach_stiffness = np.zeros(0)
    for index, organ in enumerate(spec.scene.organs):
        nodes = np.setdiff1d(builder.anchor_nodes(index, organ, regions, key="attachments"), anchored)
        attached = np.concatenate([attached, nodes]).astype(np.int32)
        attach_stiffness = np.concatenate([attach_stiffness,
                                           bed_stiffness(model.masses[nodes], material_by_name(organ.material))])
    camera = spec.scene.camera
    scene_camera = SceneCamera(_metres(camera.port_mm), _metres(camera.look_at_mm), camera.fov_deg,
                               camera.scope_angle_deg)
    instruments = tuple(_scene_instrument(item, scene_camera) for item in spec.instruments)
    return BuiltScene(
        procedure=procedure_file,
        model=model,
        organ_nodes=combined.node_ranges,
        regions=regions,
        landmarks=landmarks,
        anchor_nodes=np.unique(anchored).astype(np.int32),
        attachment_nodes=attached,
        attachment_stiffness=attach_stiffness,
        rigid_bodies=rigid_bodies,
        camera=scene_camera,
        instruments=instruments,
    )


def meshes_organs(spec) -> bool:
    """Whether the procedure imports an organ (a surface or label map): only those have a resolution to choose."""
    return any(isinstance(organ.source, (LabelMapSource, MeshSource)) for organ in spec.scene.organs)


def _scene_instrument(item, camera: SceneCamera) -> SceneInstrument:
    if item.access == "open":
        return SceneInstrument(item.name, item.type, item.hand, None, _metres(item.aim_mm), "open",
                               _metres(item.start_mm))
    return SceneInstrument(item.name, item.type, item.hand, _metres(item.port_mm), camera.look_at_m)


def _metres(values_mm) -> tuple[float, float, float]:
    return tuple(float(v) * MM for v in values_mm)


def _rigid_transform(placement: Placement) -> RigidTransform:
    # Lower-case "xyz" is scipy's extrinsic convention: about the scene's fixed x, then y, then z axis.
    rotation = Rotation.from_euler("xyz", placement.rotation_deg, degrees=True).as_matrix()
    return RigidTransform(rotation, np.asarray(placement.translation_mm, dtype=np.float64) * MM)


def _placed_points(points_m: np.ndarray, placement: Placement) -> np.ndarray:
    return _rigid_transform(placement).apply(np.asarray(points_m, dtype=np.float64) * placement.scale)


# A coarser resolution takes nodes from the organs that no step works on first, down to this share of theirs.
BACKGROUND_FLOOR_SHARE = 0.15


def operated_organs(spec) -> set[str]:
    """The organs whose regions or landmarks a step's goal names (the tissue the trainee works on)."""
    scene = spec.scene
    owners = {name: region.organ for name, region in scene.regions.items() if getattr(region, "organ", None)}
    owners.update({name: landmark.organ for name, landmark in scene.landmarks.items()})
    organs = {organ.name for organ in scene.organs}
    found: set[str] = set()

    def walk(value) -> None:
        if isinstance(value, str):
            owner = owners.get(value)
            if owner in organs:
                found.add(owner)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    for step in spec.steps:
        walk(step.goal.model_dump())
    return found


def organ_target_nodes(spec, resolution: float) -> dict[str, int]:
    """Each meshed organ's node target at ``resolution`` (a share of all meshed organs' ``target_nodes`` together).

    At 1 every organ keeps its own. Below, the budget (``resolution`` × the sum) goes to the organs the steps work on
    first, which keep up to their own targets, and the rest share what is left, down to
    :data:`BACKGROUND_FLOOR_SHARE` of theirs; when even that does not fit, every organ takes the same share. So a
    slower machine gets a coarser liver behind the gallbladder it dissects rather than a coarser gallbladder.
    Deterministic: a trace records only ``resolution`` and its replay meshes the same organs."""
    meshed = [organ for organ in spec.scene.organs if organ.source.kind in ("mesh", "label_map")]
    if resolution == 1.0 or not meshed:
        return {organ.name: organ.target_nodes for organ in meshed if organ.target_nodes is not None}
    own = {organ.name: organ.target_nodes if organ.target_nodes is not None else DEFAULT_TARGET_NODES
           for organ in meshed}
    budget = resolution * sum(own.values())
    operated = operated_organs(spec) & own.keys()
    worked = sum(own[name] for name in operated)
    background = sum(own.values()) - worked
    if not operated or not background:
        shares = {name: resolution for name in own}
    else:
        background_share = min(1.0, max(BACKGROUND_FLOOR_SHARE, (budget - worked) / background))
        worked_share = (budget - background_share * background) / worked
        if worked_share < background_share:  # the floor does not fit: share alike
            worked_share = background_share = resolution
        shares = {name: min(1.0, worked_share) if name in operated else background_share for name in own}
    return {name: max(MIN_TARGET_NODES, round(own[name] * shares[name])) for name in own}


def _organ_model(procedure_file: ProcedureFile, organ: Organ, use_cache: bool,
                 target_nodes: int | None) -> TissueModel:
    """The organ's model at its own scale with the organ's material, before rotation and translation."""
    source = organ.source
    nodes = {"target_nodes": target_nodes} if target_nodes is not None else {}
    if isinstance(source, LabelMapSource):
        model = import_model(procedure_file.asset_path(source.path), labels=str(source.label),
                             material=organ.material, use_cache=use_cache, **nodes)
    elif isinstance(source, MeshSource):
        model = import_model(procedure_file.asset_path(source.path), units=source.units,
                             material=organ.material, use_cache=use_cache, **nodes)
    elif isinstance(source, ModelSource):
        model = TissueModel.load(procedure_file.asset_path(source.path))
    else:
        model = tet_block(tuple(v * MM for v in source.size_mm), tuple(source.divisions), tissue=organ.material,
                          region_name=organ.name)
    return _with_scale_and_material(model, organ)


def _with_scale_and_material(model: TissueModel, organ: Organ) -> TissueModel:
    """The model scaled by the organ's placement and made of the organ's material; rebuilt only when either differs,
    because both change rest lengths or masses."""
    material = material_by_name(organ.material)
    same_material = all(
        np.all(values == getattr(material, prop)) for prop, values in model.region_materials.items()
    )
    if organ.placement.scale == 1.0 and same_material:
        return model
    return build_tissue_model(
        model.positions * organ.placement.scale, model.tets, np.zeros(model.tet_count, dtype=np.int64),
        [organ.name], [material], metadata={**model.metadata, "region_materials": [material.name]},
    )


# -- rigid bodies ----------------------------------------------------------------------------------------------------
def _rigid_body(procedure_file: ProcedureFile, body: RigidBody) -> SceneRigidBody:
    source = body.source
    if isinstance(source, RigidBlockSource):
        size = np.asarray(source.size_mm, dtype=np.float64) * MM
        vertices, triangles = _box_surface(size)
        transform = _rigid_transform(body.placement)
        half = size * body.placement.scale / 2.0
        box = OrientedBox(transform.apply(half[None])[0], half, transform.rotation)
        return SceneRigidBody(body.name, _placed_points(vertices, body.placement), triangles, box, box_is_exact=True)
    vertices, triangles = _rigid_surface(procedure_file.asset_path(source.path), source)
    vertices = _placed_points(vertices, body.placement)
    return SceneRigidBody(body.name, vertices, triangles, _principal_axes_box(vertices), box_is_exact=False)


def _box_surface(size_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 8 corners of the box from the origin to ``size_m`` and its 12 outward triangles."""
    corners = np.array([[x, y, z] for z in (0, 1) for y in (0, 1) for x in (0, 1)], dtype=np.float64) * size_m
    triangles = np.array([
        [0, 2, 1], [1, 2, 3],  # z = 0, facing -z
        [4, 5, 6], [5, 7, 6],  # z = top, facing +z
        [0, 1, 4], [1, 5, 4],  # y = 0, facing -y
        [2, 6, 3], [3, 6, 7],  # y = top, facing +y
        [0, 4, 2], [2, 4, 6],  # x = 0, facing -x
        [1, 3, 5], [3, 7, 5],  # x = top, facing +x
    ])
    return corners, triangles


def _rigid_surface(path: Path, source) -> tuple[np.ndarray, np.ndarray]:
    """A closed outward surface [m] of a rigid label or mesh file, in the file's frame (cached as tissue models are:
    extracting a CT label's surface costs over a second of every session's set-up)."""
    from surgsim.mesh import cache

    parameters = {"rigid_surface": source.model_dump(exclude={"path"}), "target_points": RIGID_SURFACE_POINTS}
    key = cache.cache_key(cache.input_sha256(path), parameters)
    cached = cache.load_cached_surface(key)
    if cached is not None:
        return cached
    # Only a cache miss needs VTK and the imaging readers (1.3 s of imports at every set-up otherwise).
    from surgsim.mesh import surface as surfaces
    from surgsim.mesh import volume as label_volumes

    with surfaces.quiet_vtk():
        if isinstance(source, LabelMapSource):
            volume = label_volumes.load_label_volume(path)
            mesh = label_volumes.label_surface(volume, source.label, target_points=RIGID_SURFACE_POINTS)
        else:
            raw = surfaces.read_mesh_file(path)
            metres = surfaces.metres_per_file_unit(raw, units=source.units, scale=None, source=path)
            mesh = surfaces.make_watertight(surfaces.clean_surface(raw.scale(metres), source=path), source=path)
    points, triangles = np.asarray(mesh.points, dtype=np.float64), surfaces.triangle_array(mesh)
    cache.store_cached_surface(key, points, triangles)
    return points, triangles


def _principal_axes_box(points: np.ndarray) -> OrientedBox:
    centred = points - points.mean(axis=0)
    _, axes = np.linalg.eigh(centred.T @ centred)
    if np.linalg.det(axes) < 0:  # a rotation, not a reflection
        axes[:, 0] = -axes[:, 0]
    local = centred @ axes
    low, high = local.min(axis=0), local.max(axis=0)
    center = points.mean(axis=0) + axes @ ((low + high) / 2.0)
    # A flat surface has no thickness along one axis; a micrometre keeps the box valid as an obstacle.
    return OrientedBox(center, np.maximum((high - low) / 2.0, 1e-6), axes)


# -- regions, landmarks, anchors -------------------------------------------------------------------------------------
class _RegionBuilder:
    """Resolves names of the procedure against the combined model (rest positions) and the rigid bodies."""

    def __init__(
        self, procedure_file: ProcedureFile, model: TissueModel, organ_nodes: dict[str, range],
        rigid_bodies: dict[str, SceneRigidBody],
    ):
        self.procedure_file = procedure_file
        self.model = model
        self.organ_nodes = organ_nodes
        self.rigid_bodies = rigid_bodies
        self.all_nodes = np.arange(model.node_count)

    def region(self, name: str, region) -> SceneRegion:
        if isinstance(region, OrganRegion):
            return self._body_region(name, region, region.organ, everything=True)
        if region.organ is not None:
            return self._body_region(name, region, region.organ, everything=False)
        nodes = self.all_nodes[_inside(region, self.model.positions)].astype(np.int32)
        return SceneRegion(name, region.kind, None, nodes, self._volume(region))

    def _body_region(self, name: str, region, body: str, *, everything: bool) -> SceneRegion:
        if body in self.organ_nodes:
            candidates = np.asarray(self.organ_nodes[body])
            points = self.model.positions[candidates]
            nodes = candidates if everything else candidates[_inside(region, points)]
            if len(nodes) == 0:
                raise self._nothing_selected(name, body, points)
            nodes = nodes.astype(np.int32)
            return SceneRegion(name, region.kind, body, nodes, self._tissue_patch(nodes))
        rigid = self.rigid_bodies[body]
        kept = np.ones(len(rigid.vertices_m), bool) if everything else _inside(region, rigid.vertices_m)
        if not kept.any():
            raise self._nothing_selected(name, body, rigid.vertices_m)
        patch = SurfacePatch(_local_triangles(rigid.triangles, np.flatnonzero(kept)),
                             rest_vertices_m=rigid.vertices_m[kept])
        return SceneRegion(name, region.kind, body, np.zeros(0, np.int32), patch)

    def _tissue_patch(self, nodes: np.ndarray) -> SurfacePatch:
        triangles = _local_triangles(self.model.surface_triangles, nodes)
        return SurfacePatch(triangles, rest_vertices_m=self.model.positions[nodes], vertex_nodes=nodes)

    def _volume(self, region) -> RegionGeometry:
        def follow(point_mm) -> Embedding:
            return embed_point(np.asarray(point_mm) * MM, self.model.positions, self.model.tets, self.all_nodes,
                               max_node_distance_m=VOLUME_FOLLOW_DISTANCE_M)

        if isinstance(region, SphereRegion):
            return SphereVolume(follow(region.center_mm), region.radius_mm * MM)
        if isinstance(region, CapsuleRegion):
            return CapsuleVolume(follow(region.from_mm), follow(region.to_mm), region.radius_mm * MM)
        low, high = np.asarray(region.min_mm), np.asarray(region.max_mm)
        return BoxVolume(follow((low + high) / 2.0), (high - low) / 2.0 * MM)

    def _nothing_selected(self, name: str, body: str, points_m: np.ndarray) -> "SceneProblems":
        low, high = (np.round(corner / MM, 1).tolist() for corner in (points_m.min(axis=0), points_m.max(axis=0)))
        return SceneProblems(self.procedure_file.path, [(
            ("scene", "regions", name),
            f"region '{name}' selects no part of '{body}', which spans {low} to {high} mm in the scene; move or "
            "enlarge the region.",
        )])

    def landmark(self, name: str, landmark) -> SceneLandmark:
        point = np.asarray(landmark.position_mm, dtype=np.float64) * MM
        if landmark.organ not in self.organ_nodes:
            return SceneLandmark(name, landmark.organ, point, None, Embedding.fixed(point))
        nodes = np.asarray(self.organ_nodes[landmark.organ])
        tets = self.model.tets[self.model.tet_region == self.model.region_id(landmark.organ)]
        nearest = int(nodes[np.argmin(np.linalg.norm(self.model.positions[nodes] - point, axis=1))])
        return SceneLandmark(name, landmark.organ, point, nearest,
                             embed_point(point, self.model.positions, tets, nodes))

    def anchor_nodes(self, index: int, organ: Organ, regions: dict[str, SceneRegion], *,
                     key: str = "anchors") -> np.ndarray:
        """The organ's nodes in its ``anchors`` (or ``attachments``) regions; ``index`` is the organ's place in
        ``scene.organs`` (for the problem's key path)."""
        organ_range = self.organ_nodes[organ.name]
        chosen = []
        kind, verb = ("anchor", "anchor") if key == "anchors" else ("attachment", "attach")
        for place, anchor in enumerate(getattr(organ, key)):
            nodes = regions[anchor].nodes
            nodes = nodes[(nodes >= organ_range.start) & (nodes < organ_range.stop)]
            if len(nodes) == 0:
                raise SceneProblems(self.procedure_file.path, [(
                    ("scene", "organs", index, key, place),
                    f"{kind} region '{anchor}' holds no node of organ '{organ.name}', so it would {verb} "
                    "nothing.",
                )])
            chosen.append(nodes)
        return np.concatenate(chosen) if chosen else np.zeros(0, np.int32)


def bed_stiffness(masses_kg: np.ndarray, material) -> np.ndarray:
    """The stiffness [N/m] tying nodes of lumped masses ``masses_kg`` to their bed: E_bed V_i / t_bed² of
    ``material``, V_i the node's share of the volume (its mass over the density), so that a region's attachments
    together act as a layer of modulus E_bed and thickness t_bed whatever the mesh resolution (see
    :mod:`surgsim.mesh.materials`)."""
    volume = np.asarray(masses_kg, dtype=np.float64) / material.density_kg_m3
    return material.bed_modulus_pa / material.bed_thickness_m ** 2 * volume


def _inside(region, points_m: np.ndarray) -> np.ndarray:
    """Mask of the points [K, 3] [m] inside a box, sphere or capsule region (boundaries included)."""
    if isinstance(region, BoxRegion):
        low, high = np.asarray(region.min_mm) * MM, np.asarray(region.max_mm) * MM
        return np.all((points_m >= low) & (points_m <= high), axis=1)
    if isinstance(region, SphereRegion):
        return np.linalg.norm(points_m - np.asarray(region.center_mm) * MM, axis=1) <= region.radius_mm * MM
    start, end = np.asarray(region.from_mm) * MM, np.asarray(region.to_mm) * MM
    return segment_point_distances(start, end, points_m) <= region.radius_mm * MM


def _local_triangles(triangles: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """The triangles whose three vertices are all in ``kept`` (sorted ids), renumbered as indices into ``kept``."""
    whole = np.all(np.isin(triangles, kept), axis=1)
    return np.searchsorted(kept, triangles[whole])


def _require_goal_nodes(procedure_file: ProcedureFile, regions: dict[str, SceneRegion]) -> None:
    """Grasp and retract goals are judged by grasped nodes: their regions must hold some."""
    problems = [
        (("steps", index, "goal", "region"),
         f"step '{step.name}' must grasp region '{step.goal.region}', which holds no tissue node.")
        for index, step in enumerate(procedure_file.spec.steps)
        if isinstance(step.goal, (GraspGoal, RetractGoal)) and len(regions[step.goal.region].nodes) == 0
    ]
    if problems:
        raise SceneProblems(procedure_file.path, problems)


def scene_issues(procedure: ProcedureFile, shown: str | None = None) -> list[Issue]:
    """Build the scene of a valid procedure (meshing its organs, cached after the first time) and report, with its
    line and column, every name that selects nothing in it: a region without a node of its organ, an anchor or a
    grasp/retract goal's region without tissue. Other problems of the build (an asset that cannot be imported) come
    as one whole-file issue. ``shown``: the file's name in the messages (default: its path)."""
    shown = str(procedure.path) if shown is None else shown
    try:
        build_scene(procedure)
    except SceneProblems as problems:
        document = read_yaml(procedure.path)
        return sorted_issues([issue_at(shown, document.mark_of_value(loc) or document.mark_of_key(loc), message)
                              for loc, message in problems.problems])
    except InputError as error:
        return [Issue(shown, None, None, error.problem)]
    return []
