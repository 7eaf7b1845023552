"""The procedure schema: pydantic models for the YAML files in ``procedures/``.

A procedure describes one training exercise: the ``scene`` (organs, rigid anatomy, named regions and landmarks, the
laparoscope), the ``instruments`` and the trocar ports they enter through (or, for open surgery, where they start in
the hand), the ordered ``steps`` with the goal of each, the ``forbidden`` zones, and the ``rubric`` that turns the
session's metrics into a 0-100 score and a pass/fail.

Conventions:

- Units are in the field names: ``_mm`` millimetres, ``_s`` seconds, ``_N`` newtons, ``_deg`` degrees. Procedure
  authors think in millimetres; the simulator converts to SI metres when it builds the scene.
- Coordinates are the scene frame, which is the patient's RAS frame for anatomy imported from imaging (x towards the
  patient's right, y anterior, z superior/cranial). Organs from other sources are moved into it by their
  ``placement``.
- Parts refer to each other by name: goals, anchors and forbidden zones name a region, landmark or instrument. The same
  names appear in the session trace's events (``region``, ``instrument``) and in the score report.
- Models reject unknown keys (a typo must be an error, not an option silently ignored) and are strict about types
  (``"5"`` and ``true`` are not numbers); cross-references and asset paths are checked by
  :mod:`surgsim.procedure.references` and :mod:`surgsim.procedure.assets` after these models accept a file.

:func:`procedure_json_schema` exports the same models as JSON Schema, so that editors can complete and check
procedure files.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, SerializerFunctionWrapHandler, WithJsonSchema,
                      model_serializer, model_validator)

from surgsim.mesh.materials import MATERIALS
from surgsim.mesh.pipeline import LABEL_MAP_SUFFIXES, MESH_SUFFIXES
from surgsim.mesh.tetrahedralize import MAX_TARGET_NODES, MIN_TARGET_NODES

FORMAT_VERSION = 1


class StrictModel(BaseModel):
    # No number in a procedure may be NaN or infinite (YAML's .nan, .inf): a time limit of .inf or a port at NaN
    # would pass every range check and fail later, far from the line that says it.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


# -- small value types -------------------------------------------------------------------------------------------------
Name = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
        max_length=64,
        description="An identifier: a letter, then letters, digits or underscores.",
    ),
]
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
Vec3 = Annotated[list[float], Field(min_length=3, max_length=3, description="[x, y, z]")]
PositiveVec3 = Annotated[list[PositiveFloat], Field(min_length=3, max_length=3, description="[x, y, z], each > 0")]
MaterialName = Literal[tuple(MATERIALS)]  # type: ignore[valid-type]  # the built-in material table's names

# Anatomical directions in the RAS scene frame, for retraction goals.
NAMED_DIRECTIONS: dict[str, tuple[float, float, float]] = {
    "cranial": (0.0, 0.0, 1.0),
    "caudal": (0.0, 0.0, -1.0),
    "anterior": (0.0, 1.0, 0.0),
    "posterior": (0.0, -1.0, 0.0),
    "right": (1.0, 0.0, 0.0),
    "left": (-1.0, 0.0, 0.0),
}


def _direction_vector(value):
    if isinstance(value, str):
        if value not in NAMED_DIRECTIONS:
            raise ValueError(f"unknown direction '{value}'; use one of {', '.join(NAMED_DIRECTIONS)} or [x, y, z]")
        return list(NAMED_DIRECTIONS[value])
    return value


def _nonzero(vector: list[float], what: str) -> None:
    if not any(vector):
        raise ValueError(f"{what} must not be the zero vector")


Direction = Annotated[
    Vec3,
    BeforeValidator(_direction_vector),
    WithJsonSchema(
        {
            "anyOf": [
                {"enum": list(NAMED_DIRECTIONS)},
                {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3},
            ],
            "description": "A named anatomical direction or an [x, y, z] vector in the scene frame.",
        }
    ),
]


# -- where geometry comes from -----------------------------------------------------------------------------------------
MODEL_SUFFIXES = (".npz",)


class ModelSource(StrictModel):
    """A tissue model already built by ``surgsim mesh import`` (``.npz``, metres); used as it is."""

    kind: Literal["model"]
    path: str = Field(description="Relative to this procedure file. Suffix: .npz")


class MeshSource(StrictModel):
    """A closed surface (tetrahedralised on import) or a tetrahedral mesh file, as ``surgsim mesh import`` reads."""

    kind: Literal["mesh"]
    path: str = Field(description=f"Relative to this procedure file. Suffix: {', '.join(MESH_SUFFIXES)}")
    units: Literal["m", "cm", "mm"] = Field(description="The unit of the file's coordinates (files do not say).")


class LabelMapSource(StrictModel):
    """One label of a segmentation volume; the volume's affine gives its size and position in RAS."""

    kind: Literal["label_map"]
    path: str = Field(description=f"Relative to this procedure file. Suffix: {', '.join(LABEL_MAP_SUFFIXES)}")
    label: int = Field(ge=1, description="The voxel value of this structure in the label map.")


class BlockSource(StrictModel):
    """An analytic tetrahedral block (:func:`surgsim.mesh.primitives.tet_block`) from the origin to ``size_mm``."""

    kind: Literal["block"]
    size_mm: PositiveVec3
    divisions: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=3, max_length=3)] = Field(
        description="Cubes along x, y and z; each cube becomes six tetrahedra."
    )


class RigidBlockSource(StrictModel):
    """A rigid box from the origin to ``size_mm`` (a table, a trainer's base plate)."""

    kind: Literal["block"]
    size_mm: PositiveVec3


OrganSource = Annotated[Union[ModelSource, MeshSource, LabelMapSource, BlockSource], Field(discriminator="kind")]
RigidSource = Annotated[Union[MeshSource, LabelMapSource, RigidBlockSource], Field(discriminator="kind")]
PATH_SOURCE_SUFFIXES = {"model": MODEL_SUFFIXES, "mesh": MESH_SUFFIXES, "label_map": LABEL_MAP_SUFFIXES}


class Placement(StrictModel):
    """Where a source's geometry sits in the scene: scaled, then rotated about the scene's x, y and z axes in that
    order, then translated. Identity for anatomy that already shares the scene's imaging frame."""

    scale: PositiveFloat = 1.0
    rotation_deg: Vec3 = [0.0, 0.0, 0.0]
    translation_mm: Vec3 = [0.0, 0.0, 0.0]


class Organ(StrictModel):
    """A deformable organ simulated as tissue."""

    name: Name
    source: OrganSource
    material: MaterialName
    placement: Placement = Placement()
    target_nodes: int | None = Field(
        default=None,
        ge=MIN_TARGET_NODES,
        le=MAX_TARGET_NODES,
        description="Tetrahedralise a surface or label map to about this many nodes (else the importer's default).",
    )
    anchors: list[Name] = Field(default=[], description="Regions of this organ whose nodes are held fixed.")
    attachments: list[Name] = Field(
        default=[],
        description="Regions of this organ tied to their bed or a ligament by soft connective tissue: each node is "
                    "held to where it rests by a spring as stiff as the organ material's bed (bed_modulus_pa, "
                    "bed_thickness_m), so the tissue there gives under a pull instead of being fixed.",
    )

    @model_serializer(mode="wrap")
    def _without_empty_attachments(self, handler: SerializerFunctionWrapHandler):
        # An organ without attachments dumps as it did before the key existed: the procedure identity hashes the
        # dump, and a key added with its default must not refuse the sessions recorded before it.
        data = handler(self)
        if isinstance(data, dict) and not data.get("attachments"):
            data.pop("attachments", None)
        return data

    @model_validator(mode="after")
    def _target_nodes_only_when_meshing(self):
        if self.target_nodes is not None and self.source.kind in ("model", "block"):
            raise ValueError(
                f"target_nodes applies to mesh and label_map sources only; a {self.source.kind} source is "
                "already tetrahedral"
            )
        return self


class RigidBody(StrictModel):
    """Anatomy that instruments collide with but that does not deform (spine, ribs, a trainer's box)."""

    name: Name
    source: RigidSource
    placement: Placement = Placement()


# -- named regions and landmarks ---------------------------------------------------------------------------------------
class _ShapeRegion(StrictModel):
    organ: Name | None = Field(
        default=None,
        description="Limit the region to this organ's (or rigid body's) nodes; without it the region is the volume.",
    )


class BoxRegion(_ShapeRegion):
    """An axis-aligned box in the scene frame."""

    kind: Literal["box"]
    min_mm: Vec3
    max_mm: Vec3

    @model_validator(mode="after")
    def _ordered_corners(self):
        if any(low >= high for low, high in zip(self.min_mm, self.max_mm)):
            raise ValueError("min_mm must be below max_mm on every axis")
        return self


class SphereRegion(_ShapeRegion):
    kind: Literal["sphere"]
    center_mm: Vec3
    radius_mm: PositiveFloat


class CapsuleRegion(_ShapeRegion):
    """Points within ``radius_mm`` of the segment ``from_mm``-``to_mm``: a marked vessel or duct."""

    kind: Literal["capsule"]
    from_mm: Vec3
    to_mm: Vec3
    radius_mm: PositiveFloat


class OrganRegion(StrictModel):
    """A whole organ or rigid body, e.g. a vessel imported from its label."""

    kind: Literal["organ"]
    organ: Name


Region = Annotated[Union[BoxRegion, SphereRegion, CapsuleRegion, OrganRegion], Field(discriminator="kind")]


class Landmark(StrictModel):
    """A point on an organ; it moves with the tissue it is embedded in."""

    organ: Name
    position_mm: Vec3


class Camera(StrictModel):
    """The laparoscope: its port, what it looks at when the session starts, and its optics."""

    port_mm: Vec3
    look_at_mm: Vec3
    fov_deg: float = Field(default=70.0, gt=0, lt=180)
    scope_angle_deg: float = Field(
        default=0.0, ge=0, le=90, description="0 for a straight scope, 30 for an angled one."
    )

    @model_validator(mode="after")
    def _looks_somewhere(self):
        if self.port_mm == self.look_at_mm:
            raise ValueError("look_at_mm must differ from port_mm")
        return self


class Scene(StrictModel):
    organs: list[Organ] = Field(min_length=1)
    rigid: list[RigidBody] = []
    regions: dict[Name, Region] = {}
    landmarks: dict[Name, Landmark] = {}
    camera: Camera


# -- instruments -------------------------------------------------------------------------------------------------------
InstrumentType = Literal["grasper", "dissector", "scissors", "hook_cautery", "clip_applier", "probe"]


class Instrument(StrictModel):
    """An instrument in one of the trainee's hands: laparoscopic, through a trocar port (``access: trocar``, the
    default; it starts aimed at the camera's look-at point), or an open-surgery tool held freely in 6 DOF
    (``access: open``; it starts with the distal end of its shaft at ``start_mm``, pointing at ``aim_mm``)."""

    name: Name
    type: InstrumentType
    access: Literal["trocar", "open"] = Field(
        default="trocar",
        description="trocar (default): laparoscopic, pivoting about port_mm; open: held freely in 6 DOF, starting at "
                    "start_mm and pointing at aim_mm.",
    )
    port_mm: Vec3 | None = Field(
        default=None,
        description="access: trocar only (required there): the instrument pivots about this point in the abdominal "
                    "wall.",
    )
    start_mm: Vec3 | None = Field(
        default=None,
        description="access: open only (required there): where the distal end of the shaft (the jaws' hinge, a "
                    "hook's base) is when the session starts.",
    )
    aim_mm: Vec3 | None = Field(
        default=None,
        description="access: open only (required there): a point the shaft points at when the session starts.",
    )
    hand: Literal["left", "right"]

    @model_validator(mode="after")
    def _access_has_its_keys(self):
        if self.access == "trocar":
            if self.port_mm is None:
                raise ValueError("a trocar instrument needs port_mm (the port it pivots about); for an open-surgery "
                                 "tool write access: open with start_mm and aim_mm")
            stray = [key for key in ("start_mm", "aim_mm") if getattr(self, key) is not None]
            if stray:
                raise ValueError(f"{' and '.join(stray)} apply to access: open instruments only; a trocar instrument "
                                 "starts at its port_mm, aimed at the camera's look_at_mm")
            return self
        meaning = {"start_mm": "where the distal end of its shaft starts", "aim_mm": "a point its shaft points at"}
        missing = [f"{key} ({meaning[key]})" for key in meaning if getattr(self, key) is None]
        if missing:
            raise ValueError(f"an open instrument (access: open) needs {' and '.join(missing)}")
        if self.port_mm is not None:
            raise ValueError("port_mm applies to access: trocar instruments only; an open instrument has no port")
        if self.start_mm == self.aim_mm:
            raise ValueError("aim_mm must differ from start_mm")
        return self


# -- goals -------------------------------------------------------------------------------------------------------------
class _Goal(StrictModel):
    instrument: Name | None = Field(default=None, description="Only this instrument counts; any capable one otherwise.")


class GraspGoal(_Goal):
    """Close the jaws on tissue of a region."""

    kind: Literal["grasp"]
    region: Name


class RetractGoal(_Goal):
    """Grasp a region and move it by ``distance_mm`` along ``direction``, then hold it there for ``hold_s``."""

    kind: Literal["retract"]
    region: Name
    distance_mm: PositiveFloat
    direction: Direction
    hold_s: NonNegativeFloat = 0.0
    max_distance_mm: PositiveFloat | None = Field(
        default=None,
        description="Retracting the region farther than this along the direction, at any time in the session, is "
                    "over-retraction: an over_retraction event and a tissue-damage episode. Above distance_mm.",
    )

    @model_validator(mode="after")
    def _direction_not_zero(self):
        _nonzero(self.direction, "direction")
        if self.max_distance_mm is not None and self.max_distance_mm <= self.distance_mm:
            raise ValueError("max_distance_mm must be above distance_mm (the retraction asked for)")
        return self


class LandmarkLine(StrictModel):
    """The straight segment between two landmarks."""

    kind: Literal["landmarks"]
    from_landmark: Name
    to_landmark: Name


class PolylineLine(StrictModel):
    """A marked line through the given points."""

    kind: Literal["polyline"]
    points_mm: list[Vec3] = Field(min_length=2)


class CircleLine(StrictModel):
    """A marked circle (FLS pattern cutting)."""

    kind: Literal["circle"]
    center_mm: Vec3
    radius_mm: PositiveFloat
    normal: Vec3 = Field(default=[0.0, 0.0, 1.0], description="Normal of the circle's plane.")

    @model_validator(mode="after")
    def _normal_not_zero(self):
        _nonzero(self.normal, "normal")
        return self


CutLine = Annotated[Union[LandmarkLine, PolylineLine, CircleLine], Field(discriminator="kind")]


class CutGoal(_Goal):
    """Cut along a line; cuts farther than ``tolerance_mm`` from it are damage outside the target."""

    kind: Literal["cut"]
    line: CutLine
    tolerance_mm: PositiveFloat = 2.0


class TouchGoal(_Goal):
    """Touch a region with an instrument tip, pressing with at least ``min_force_N``."""

    kind: Literal["touch"]
    region: Name
    min_force_N: PositiveFloat = Field(
        default=0.1,
        description="The tip must press with at least this force [N] while touching the region: coming near is not "
                    "touching.",
    )
    max_depth_mm: PositiveFloat | None = Field(
        default=None,
        description="Pushing the region's tissue in deeper than this, at any time in the session, is "
                    "over-indentation: an over_indentation event and a tissue-damage episode.",
    )


class CauterizeGoal(_Goal):
    """Apply energy to a region for ``energy_s`` in total."""

    kind: Literal["cauterize"]
    region: Name
    energy_s: PositiveFloat


class ClipGoal(_Goal):
    """Place ``count`` clips within ``tolerance_mm`` of a landmark."""

    kind: Literal["clip"]
    landmark: Name
    tolerance_mm: PositiveFloat = 3.0
    count: int = Field(default=1, ge=1)


Goal = Annotated[
    Union[GraspGoal, RetractGoal, CutGoal, TouchGoal, CauterizeGoal, ClipGoal], Field(discriminator="kind")
]

# Instrument types that can reach each goal kind; a procedure must bring at least one for each of its goals.
GOAL_INSTRUMENT_TYPES: dict[str, tuple[str, ...]] = {
    "grasp": ("grasper", "dissector"),
    "retract": ("grasper", "dissector"),
    "cut": ("scissors", "hook_cautery"),
    "touch": ("grasper", "dissector", "scissors", "hook_cautery", "clip_applier", "probe"),
    "cauterize": ("hook_cautery",),
    "clip": ("clip_applier",),
}


class Step(StrictModel):
    name: Name
    instructions: str = Field(min_length=1, description="Shown to the trainee while this step is active.")
    goal: Goal
    time_limit_s: PositiveFloat | None = None
    force_limit_N: PositiveFloat | None = Field(
        default=None,
        description="Within this step, contact force above this counts as time above the force limit instead of the "
                    "procedure's force_limit_N (scored only).",
    )


class ForbiddenZone(StrictModel):
    """A structure that must not be touched (no ``max_force_N``) or not pressed harder than ``max_force_N``."""

    region: Name
    max_force_N: PositiveFloat | None = None


# -- rubric ------------------------------------------------------------------------------------------------------------
class Benchmark(StrictModel):
    """Full marks at ``expert`` or better, none at ``zero_at`` or worse, linear in between. Whether lower or higher is
    better follows from the order of the two values."""

    weight: PositiveFloat
    expert: float
    zero_at: float

    @model_validator(mode="after")
    def _distinct_ends(self):
        if self.expert == self.zero_at:
            raise ValueError("expert and zero_at must differ")
        return self


class RubricMetrics(StrictModel):
    """The metrics that count towards the score; each is defined in :mod:`surgsim.scoring`."""

    time_s: Benchmark | None = None
    idle_time_s: Benchmark | None = None
    path_length_mm: Benchmark | None = None
    economy_of_motion: Benchmark | None = None
    max_force_N: Benchmark | None = None
    mean_contact_force_N: Benchmark | None = None
    time_above_force_limit_s: Benchmark | None = None
    tissue_damage: Benchmark | None = None
    forbidden_contacts: Benchmark | None = None
    goals_completed_fraction: Benchmark | None = None
    cut_deviation_mean_mm: Benchmark | None = None
    force_rms_N: Benchmark | None = None
    force_p95_N: Benchmark | None = None
    cut_within_2mm_fraction: Benchmark | None = None
    torn_area_mm2: Benchmark | None = None
    cut_off_target_area_mm2: Benchmark | None = None

    @model_validator(mode="after")
    def _at_least_one(self):
        if not self.weighted():
            raise ValueError("the rubric needs at least one metric")
        return self

    def weighted(self) -> dict[str, Benchmark]:
        return {name: getattr(self, name) for name in type(self).model_fields if getattr(self, name) is not None}


class PassThresholds(StrictModel):
    """Every threshold given must be met, and the score must reach ``min_score``, for a pass."""

    min_score: float = Field(ge=0, le=100)
    max_time_s: PositiveFloat | None = None
    max_force_N: PositiveFloat | None = None
    max_time_above_force_limit_s: NonNegativeFloat | None = None
    max_forbidden_contacts: int | None = Field(default=None, ge=0)
    max_tissue_damage: int | None = Field(default=None, ge=0)
    min_goals_completed: int | None = Field(default=None, ge=0, description="Every step's goal when not given.")
    max_cut_deviation_mean_mm: PositiveFloat | None = None
    max_cut_deviation_max_mm: PositiveFloat | None = Field(
        default=None, description="Every cut within this distance of the line (FLS: 2 mm).")


class Rubric(StrictModel):
    metrics: RubricMetrics
    pass_thresholds: PassThresholds


# -- physics settings --------------------------------------------------------------------------------------------------
class Physics(StrictModel):
    """How the tissue is integrated. The instruments, their contact forces on the hand and the haptic servo always run
    at the 1 kHz tick; the tissue may step less often where its meshes converge at the longer step (measure with
    ``tools/bench_multirate.py``: a scene whose organs are meshed finely for their stiffness needs 1 kHz)."""

    tissue_rate_hz: Literal[1000, 500, 250] = Field(
        1000, description="Tissue steps per second (1000, 500 or 250; the tick is 1 ms). Lower is faster.")
    solver_iterations: int = Field(
        8, ge=2, le=64, description="Solver iterations per tissue step (fixed cost a step; fewer is faster, less "
                                    "converged on stiff, finely meshed organs).")
    poisson: Literal["off", "from_material"] = Field(
        "off", description="'from_material' gives each tet a volume stiffness, so that the tissue has its material's "
                           "Poisson's ratio (soft tissue is nearly incompressible); 'off' is the bare spring network "
                           "(its Poisson's ratio is the mesh's; ~1.8x cheaper).")
    viscoelastic: Literal["off", "from_material"] = Field(
        "off", description="'from_material' gives each spring its material's Maxwell branch, so that a held "
                           "retraction relaxes (stress relaxation over seconds); 'off' is elastic.")
    chebyshev: Literal["capped", "uncapped"] = Field(
        "capped", description="'capped' keeps the solver's Chebyshev acceleration where it is stable in time (the "
                              "tissue at rest is still); 'uncapped' is the acceleration of the sessions recorded "
                              "before the cap (stiff organs then buzz at half the tissue rate).")
    sleep: Literal["at_rest", "off"] = Field(
        "at_rest", description="'at_rest' lets an organ that has come to rest, with no instrument within 4 mm, sleep "
                               "until one comes within 2 mm or its anchors change (the solver skips it: most of a "
                               "scene's tissue is background); 'off' advances every organ every step.")

    @model_serializer(mode="wrap")
    def _without_default_switches(self, handler: SerializerFunctionWrapHandler):
        # Switches left off dump as before they existed: the procedure identity hashes the dump, and a key added
        # with its default must not refuse the sessions recorded before it.
        data = handler(self)
        if isinstance(data, dict):
            for key, default in _SWITCH_DEFAULTS.items():
                if data.get(key) == default:
                    data.pop(key, None)
        return data


# The physics switches added after procedures were first written, and their defaults: a switch left at its default is
# not dumped, so that adding one does not change the identity of every procedure written before it.
_SWITCH_DEFAULTS = {"poisson": "off", "viscoelastic": "off", "chebyshev": "capped", "sleep": "at_rest"}


# -- the procedure -----------------------------------------------------------------------------------------------------
class Procedure(StrictModel):
    """One training exercise."""

    format_version: Literal[1] = Field(description="The version of this schema the file is written for.")
    name: Name
    title: str = Field(min_length=1)
    description: str = ""
    time_limit_s: PositiveFloat = Field(description="The session ends here (the FLS tasks use 300 s).")
    force_limit_N: PositiveFloat = Field(description="Contact force above this is excessive (warned, scored).")
    scene: Scene
    instruments: list[Instrument] = Field(min_length=1)
    steps: list[Step] = Field(min_length=1)
    forbidden: list[ForbiddenZone] = []
    rubric: Rubric
    physics: Physics = Field(default_factory=Physics,
                             description="Tissue rate and solver iterations (defaults: 1 kHz, 8 iterations).")

    def forbidden_zone(self, region: str) -> ForbiddenZone | None:
        return next((zone for zone in self.forbidden if zone.region == region), None)


def procedure_json_schema() -> dict:
    """The JSON Schema of a procedure file, for editors (``surgsim schema > procedures/procedure.schema.json``)."""
    schema = Procedure.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": "surgsim procedure",
    }
