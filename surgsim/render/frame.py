"""The render contract: plain data (numpy arrays, tuples) that the session gives a viewer.

A :class:`RenderScene` is built once per session (what exists: tissues, rigid anatomy, instruments); a
:class:`FrameData` is built every rendered frame (where everything is now, and what the HUD says). Nothing here
touches OpenGL, so the same data drives the window, the offscreen renderer and the null viewer.

Units: metres, seconds, newtons, radians unless a name says otherwise; positions in the scene's (patient RAS) frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping, Sequence

import numpy as np

from surgsim.render.palette import RIGID_ANATOMY, Colour, tissue_colour
from surgsim.view.camera import CameraPose

Vec3 = tuple[float, float, float]
CapsulePart = Literal["shaft", "jaw", "clip"]


# -- built once ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class TissueMesh:
    """A deformable organ as drawn.

    - ``rest_positions`` [N, 3] [m]: the model's nodes at rest (N fixes the size of every per-node array later)
    - ``triangles`` [F, 3] int: surface triangles as node ids, counter-clockwise seen from outside
    - ``node_colours`` [N, 3] linear RGB 0..1: the region colour of every node
    """

    name: str
    rest_positions: np.ndarray
    triangles: np.ndarray
    node_colours: np.ndarray

    def __post_init__(self):
        positions = np.asarray(self.rest_positions, dtype=np.float64)
        if positions.ndim != 2 or positions.shape[1] != 3:
            raise ValueError(f"tissue '{self.name}': rest_positions must have shape [N, 3], got {positions.shape}")
        object.__setattr__(self, "rest_positions", positions)
        object.__setattr__(self, "triangles", _checked_triangles(self.triangles, len(positions), self.name))
        colours = np.asarray(self.node_colours, dtype=np.float32)
        if colours.shape != positions.shape:
            raise ValueError(f"tissue '{self.name}': node_colours must have shape {positions.shape}")
        object.__setattr__(self, "node_colours", colours)

    @property
    def node_count(self) -> int:
        return len(self.rest_positions)

    @classmethod
    def from_model(cls, name: str, model, *, region_colours: Mapping[str, Colour] | None = None) -> "TissueMesh":
        """The drawable surface of a :class:`~surgsim.mesh.model.TissueModel`, coloured by region.

        ``region_colours`` overrides the palette for named regions.
        """
        materials = list(model.metadata.get("region_materials", []))
        overrides = dict(region_colours or {})
        region_rgb = np.array([
            overrides.get(region) or tissue_colour(region, materials[i] if i < len(materials) else None)
            for i, region in enumerate(model.region_names)
        ], dtype=np.float32).reshape(-1, 3)
        return cls(name, model.positions, model.surface_triangles, region_rgb[model.node_region])


@dataclass(frozen=True, eq=False)
class RigidMesh:
    """Static anatomy (bone, a trainer box): ``vertices`` [V, 3] [m], ``triangles`` [T, 3] outward, a colour."""

    name: str
    vertices: np.ndarray
    triangles: np.ndarray
    colour: Colour = RIGID_ANATOMY

    def __post_init__(self):
        vertices = np.asarray(self.vertices, dtype=np.float64)
        if vertices.ndim != 2 or vertices.shape[1] != 3:
            raise ValueError(f"rigid mesh '{self.name}': vertices must have shape [V, 3], got {vertices.shape}")
        object.__setattr__(self, "vertices", vertices)
        object.__setattr__(self, "triangles", _checked_triangles(self.triangles, len(vertices), self.name))


@dataclass(frozen=True)
class InstrumentSpec:
    """An instrument that may appear in frames: its name and kind (grasper, scissors, hook_cautery, ...)."""

    name: str
    kind: str


@dataclass(frozen=True, eq=False)
class RenderScene:
    """Everything that exists in a session; the viewer allocates its GPU buffers from this once."""

    tissues: tuple[TissueMesh, ...]
    rigid: tuple[RigidMesh, ...] = ()
    instruments: tuple[InstrumentSpec, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "tissues", tuple(self.tissues))
        object.__setattr__(self, "rigid", tuple(self.rigid))
        object.__setattr__(self, "instruments", tuple(self.instruments))
        names = [t.name for t in self.tissues]
        if len(set(names)) != len(names):
            raise ValueError(f"tissue names must be unique, got {names}")

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper corner [m] of everything at rest (tissues and rigid anatomy)."""
        points = [t.rest_positions for t in self.tissues] + [r.vertices for r in self.rigid]
        stacked = np.concatenate(points) if points else np.zeros((1, 3))
        return stacked.min(axis=0), stacked.max(axis=0)


# -- every frame -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class TissueFrame:
    """One tissue this frame.

    - ``positions`` [N, 3] [m]: every node (interior ones too, so triangle ids stay valid after a cut)
    - ``triangles`` [F, 3] int or None: a new surface (after a cut) that replaces the current one until the next
      replacement; None keeps the current one
    - ``burn`` [N] 0..1 or None: how charred each node is; None keeps the previous values (zero at first)
    """

    positions: np.ndarray
    triangles: np.ndarray | None = None
    burn: np.ndarray | None = None


@dataclass(frozen=True)
class Capsule:
    """A segment ``p0_m``-``p1_m`` [m] swept by a sphere of ``radius_m`` [m]; ``part`` chooses its colour."""

    p0_m: Vec3
    p1_m: Vec3
    radius_m: float
    part: CapsulePart = "shaft"


@dataclass(frozen=True)
class InstrumentFrame:
    """One instrument this frame: its geometry as capsules, jaw opening (0 open .. 1 closed), energy on/off.

    With ``energy`` on, the ``jaw`` capsules (the working tip) glow.
    """

    name: str
    capsules: tuple[Capsule, ...]
    jaw: float = 0.0
    energy: bool = False


@dataclass(frozen=True)
class EndReport:
    """The end screen: a heading, whether the trainee passed, and rows of (label, value) text."""

    rows: tuple[tuple[str, str], ...]
    passed: bool
    title: str = "Session complete"


@dataclass(frozen=True)
class HudState:
    """What the heads-up display shows this frame.

    - ``elapsed_s`` / ``time_limit_s`` [s]: the timer (no limit shown when None)
    - ``forces_n`` [N]: contact force magnitude per instrument name; ``force_limit_n`` [N] marks each gauge
    - ``active_instrument``: the one the mouse drives (highlighted)
    - ``warnings``: one line each (force over the limit, forbidden-zone contact, ...)
    - ``step_complete``: show the step-complete cue with ``step_complete_text``
    - ``paused``: the "paused" banner; ``end_report``: the end screen, shown over everything else
    - ``physics_rate``: the physics' real-time factor (simulated s per wall s); shown when below real time
    """

    procedure_title: str = ""
    step_title: str = ""
    step_instructions: str = ""
    elapsed_s: float = 0.0
    time_limit_s: float | None = None
    forces_n: Mapping[str, float] = field(default_factory=dict)
    force_limit_n: float | None = None
    active_instrument: str | None = None
    warnings: tuple[str, ...] = ()
    step_complete: bool = False
    step_complete_text: str = "Step complete"
    paused: bool = False
    end_report: EndReport | None = None
    physics_rate: float | None = None


@dataclass(frozen=True, eq=False)
class FrameData:
    """One rendered frame: a :class:`TissueFrame` for every scene tissue (by name), the instruments present,
    the camera, the HUD, and the clips placed on the tissue (capsules, part ``clip``)."""

    tissues: Mapping[str, TissueFrame]
    camera: CameraPose
    instruments: Sequence[InstrumentFrame] = ()
    hud: HudState = HudState()
    clips: Sequence[Capsule] = ()


def check_frame(scene: RenderScene, frame: FrameData) -> None:
    """Raise ValueError naming the first way ``frame`` does not fit ``scene`` (every viewer calls this, the null
    viewer too, so a headless run catches what a window would)."""
    expected = {t.name for t in scene.tissues}
    given = set(frame.tissues)
    if given != expected:
        raise ValueError(f"frame tissues {sorted(given)} differ from the scene's {sorted(expected)}")
    for tissue in scene.tissues:
        data = frame.tissues[tissue.name]
        shape = np.shape(data.positions)
        if shape != (tissue.node_count, 3):
            raise ValueError(f"tissue '{tissue.name}': positions must have shape [{tissue.node_count}, 3], got {shape}")
        if data.triangles is not None:
            _checked_triangles(data.triangles, tissue.node_count, tissue.name)
        if data.burn is not None and np.shape(data.burn) != (tissue.node_count,):
            raise ValueError(f"tissue '{tissue.name}': burn must have shape [{tissue.node_count}], "
                             f"got {np.shape(data.burn)}")
    known = {i.name for i in scene.instruments}
    for instrument in frame.instruments:
        if instrument.name not in known:
            raise ValueError(f"instrument '{instrument.name}' is not in the scene ({', '.join(sorted(known))})")


def _checked_triangles(triangles, node_count: int, owner: str) -> np.ndarray:
    array = np.ascontiguousarray(triangles, dtype=np.int32)
    if array.size == 0:
        return array.reshape(0, 3)
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f"'{owner}': triangles must have shape [F, 3], got {array.shape}")
    if array.size and (array.min() < 0 or array.max() >= node_count):
        raise ValueError(f"'{owner}': triangles refer to nodes outside 0..{node_count - 1}")
    return array
