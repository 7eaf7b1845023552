"""Scripted controllers: instruments driven by a program instead of a hand, for expert and novice reference traces
(``tools/make_traces.py``), tests and benchmarks. Import it as :mod:`surgsim.script`, which adds motions aimed at
the procedure's regions, landmarks and goals; it lives here with the other command sources (a script is a device
that computes its commands).

A script is a generator function ``script(ctl)`` that takes a :class:`Controller` and yields once per physics tick;
:func:`run_script` ticks the session after every yield with the commands the script has set. Motions are generators
too, so a script reads as the procedure does::

    def grasp_and_lift(ctl):
        yield from ctl.move("grasper", above_edge, speed=0.03)
        yield from ctl.move("grasper", edge, speed=0.015)
        yield from ctl.close("grasper")
        yield from ctl.move("grasper", edge + [0, 0, 0.02], speed=0.01)
        yield from ctl.wait(5.0)

Geometry (see :mod:`surgsim.instruments.trocar`): an instrument pivots about its port; the command's ``insertion_m``
is the distance from the pivot to the tip along the shaft, so aiming the tip at a point T is

    d = (T − pivot) / |T − pivot|,  local = R_portᵀ d,  pitch = asin(−local_y),  yaw = atan2(local_x, local_z),
    insertion = |T − pivot|.

The "tip" a script moves is the end of the closed jaws on the shaft axis (open jaws end a little short of it, by
``jaw_length × (1 − cos(opening / 2))``). The roll that makes the jaws open along a wanted direction ``w`` (taken
perpendicular to the shaft) is ``atan2(−w·a_x, w·a_y)`` with ``a_x``, ``a_y`` the shaft frame's axes at zero roll.

An open-surgery instrument (no trocar) is a :class:`FreeArm`: the same motions move its tip along straight lines
with the shaft's orientation kept (``roll`` turns it about the shaft); :meth:`FreeArm.set_pose` turns it. Motions
that aim a shaft through a port (``cut_stroke``, ``surface_along``) need a trocar instrument.

Motions follow a minimum-jerk profile (Flash & Hogan 1985, the smooth bell-shaped speed of a practised reach) whose
duration keeps the peak tip speed at the ``speed`` asked for (peak = 1.875 × mean speed). A script may read the
simulated state (tip positions, tissue node positions, grasps): it is deterministic, so the same script gives the same
commands, and a replay of the trace (which holds only the commands) gives the same session.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from surgsim.errors import InputError
from surgsim.instrument_command import FreePoseCommand, InstrumentCommand
from surgsim.instruments.builder import quaternion_from_matrix

Motion = Iterator[None]
MIN_JERK_PEAK = 1.875  # peak speed of a minimum-jerk move / its mean speed


def minimum_jerk(s: float) -> float:
    """Position fraction 0..1 of a minimum-jerk move at time fraction ``s`` (clamped to 0..1)."""
    s = min(max(s, 0.0), 1.0)
    return s * s * s * (10.0 + s * (-15.0 + 6.0 * s))


def aim(trocar, target_m) -> tuple[float, float, float]:
    """(yaw [rad], pitch [rad], insertion [m]) that put the tip of an instrument through ``trocar`` at ``target_m``."""
    offset = np.asarray(target_m, dtype=np.float64) - trocar.pivot
    insertion = float(np.linalg.norm(offset))
    if insertion < 1e-9:
        return 0.0, 0.0, 0.0
    local = trocar.rotation.T @ (offset / insertion)
    pitch = math.asin(min(max(-float(local[1]), -1.0), 1.0))
    yaw = math.atan2(float(local[0]), float(local[2]))
    return yaw, pitch, insertion


def shaft_frame(trocar, yaw: float, pitch: float) -> np.ndarray:
    """The distal frame at zero roll (columns: hinge pin x, jaw opening y, shaft z) in the scene frame."""
    cy, sy, cp, sp = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
    r_yaw = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    r_pitch = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
    return trocar.rotation @ r_yaw @ r_pitch


def opening_roll(trocar, yaw: float, pitch: float, direction, *, near: float = 0.0) -> float:
    """The roll [rad] at which the jaws open along ``direction`` (its part perpendicular to the shaft); of the two
    rolls that do (the jaws are symmetric), the one nearest ``near``."""
    frame = shaft_frame(trocar, yaw, pitch)
    w = np.asarray(direction, dtype=np.float64)
    roll = math.atan2(-float(w @ frame[:, 0]), float(w @ frame[:, 1]))
    # roll and roll + π open the jaws along the same line
    k = round((near - roll) / math.pi)
    return roll + k * math.pi


def first_ray_hit(origin, direction, positions: np.ndarray, triangles: np.ndarray) -> float | None:
    """Distance along the unit ``direction`` from ``origin`` to the nearest triangle it crosses (Möller–Trumbore),
    or None."""
    if not len(triangles):
        return None
    v0, v1, v2 = (positions[triangles[:, k]] for k in range(3))
    e1, e2 = v1 - v0, v2 - v0
    h = np.cross(direction, e2)
    a = np.einsum("ij,ij->i", e1, h)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = 1.0 / a
        s = origin - v0
        u = f * np.einsum("ij,ij->i", s, h)
        q = np.cross(s, e1)
        v = f * (q @ direction)
        t = f * np.einsum("ij,ij->i", e2, q)
    hit = (np.abs(a) > 1e-18) & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
    return float(t[hit].min()) if hit.any() else None


@dataclass
class Arm:
    """One instrument's commanded state; ``command()`` is what the session receives each tick."""

    name: str
    trocar: object
    spec: object
    yaw: float = 0.0
    pitch: float = 0.0
    insertion: float = 0.0
    roll: float = 0.0
    jaw: float = 0.0
    energy: bool = False

    def command(self) -> InstrumentCommand:
        """The command, rounded to 1 µrad, 1 µm and 10⁻⁴ of the jaw's travel (far finer than the joints follow):
        a trace records a command only when it changes, and short numbers keep scripted traces small."""
        return InstrumentCommand(pivot_yaw_rad=round(float(self.yaw), 6), pivot_pitch_rad=round(float(self.pitch), 6),
                                 insertion_m=round(float(self.insertion), 6), roll_rad=round(float(self.roll), 6),
                                 jaw=round(min(max(float(self.jaw), 0.0), 1.0), 4), energy=bool(self.energy))

    @property
    def point(self) -> np.ndarray:
        """The commanded tip point (the closed jaws' end on the shaft axis) [m]."""
        return self.trocar.pivot + self.insertion * self.trocar.shaft_direction(self.yaw, self.pitch)

    @property
    def direction(self) -> np.ndarray:
        """The commanded shaft direction (unit, toward the tip)."""
        return self.trocar.shaft_direction(self.yaw, self.pitch)

    @property
    def pivot(self) -> np.ndarray:
        """The trocar's pivot, where the shaft crosses the body wall [m]."""
        return self.trocar.pivot

    def set_point(self, target_m) -> None:
        self.yaw, self.pitch, self.insertion = aim(self.trocar, target_m)


@dataclass
class FreeArm:
    """One open-surgery instrument's commanded state: the distal frame at ``position`` [m] turned to ``rotation``
    (3×3, at zero roll) then rolled ``roll`` [rad] about the shaft; ``command()`` is what the session receives."""

    name: str
    spec: object
    position: np.ndarray
    rotation: np.ndarray
    roll: float = 0.0
    jaw: float = 0.0
    energy: bool = False
    trocar = None

    def command(self) -> FreePoseCommand:
        """The command, the position rounded to 1 µm, the quaternion to 10⁻⁹ (its norm stays within the instrument's
        tolerance, which normalises it) and the jaw to 10⁻⁴ (see :meth:`Arm.command`)."""
        c, s = math.cos(self.roll), math.sin(self.roll)
        frame = self.rotation @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        return FreePoseCommand(position_m=[round(float(v), 6) for v in self.position],
                               orientation_xyzw=[round(v, 9) for v in quaternion_from_matrix(frame)],
                               jaw=round(min(max(float(self.jaw), 0.0), 1.0), 4), energy=bool(self.energy))

    @property
    def point(self) -> np.ndarray:
        """The commanded tip point (the closed jaws' end on the shaft axis) [m]."""
        return self.position + self.spec.tip_length_m * self.direction

    @property
    def direction(self) -> np.ndarray:
        """The commanded shaft direction (unit, toward the tip)."""
        return self.rotation[:, 2].copy()

    def set_point(self, target_m) -> None:
        """Put the tip at ``target_m``, keeping the orientation."""
        self.position = np.asarray(target_m, dtype=np.float64) - self.spec.tip_length_m * self.direction

    def set_pose(self, target_m, rotation) -> None:
        """Put the tip at ``target_m`` with the distal frame (at zero roll) turned to ``rotation``."""
        self.rotation = np.array(rotation, dtype=np.float64)
        self.set_point(target_m)


def _arm(instrument) -> Arm | FreeArm:
    if instrument.trocar is None:
        position, rotation = instrument.distal_frame()
        return FreeArm(instrument.name, instrument.spec, position.copy(), rotation.copy())
    return Arm(instrument.name, instrument.trocar, instrument.spec)


class Controller:
    """The commands of every instrument of ``session``, and the motions that change them tick by tick."""

    def __init__(self, session):
        self.session = session
        self.dt = session.dt_s
        self.arms = {name: _arm(instrument) for name, instrument in session.world.instruments.items()}

    # -- what the session receives ---------------------------------------------------------------------------------
    def commands(self) -> dict[str, InstrumentCommand | FreePoseCommand]:
        return {name: arm.command() for name, arm in self.arms.items()}

    # -- what the script may observe (simulated, hence deterministic, state) ----------------------------------------
    def tip(self, name: str) -> np.ndarray:
        """The instrument's actual tip [m] after the last tick."""
        return self.session.world.instruments[name].tip_position()

    def positions(self) -> np.ndarray:
        """Tissue node positions after the last tick [N, 3] [m]."""
        return self.session.coupler.positions()

    def grasped(self, name: str) -> np.ndarray:
        grasp = self.session.coupler.grasping.grasps.get(name)
        return grasp.nodes if grasp is not None else np.zeros(0, dtype=np.int64)

    def force(self, name: str) -> float:
        return float(np.linalg.norm(self.session.coupler.reaction_force(name)))

    @property
    def time_s(self) -> float:
        return self.session.time_s

    @property
    def step_index(self) -> int:
        """The index of the procedure's active step (the number of steps completed so far)."""
        return self.session.runtime.step_index

    def surface_along(self, name: str, target_m, *, beyond_m: float = 0.03) -> np.ndarray | None:
        """Where the line from instrument ``name``'s pivot through ``target_m`` first meets the tissue's current
        surface (cuts included), looking up to ``beyond_m`` past the target; None when it meets none."""
        pivot = self._trocar(name).pivot
        target = np.asarray(target_m, dtype=np.float64)
        direction = target - pivot
        length = float(np.linalg.norm(direction)) + beyond_m
        direction /= np.linalg.norm(direction)
        hit = first_ray_hit(pivot, direction, self.positions(), self.session.coupler.current_surface_triangles())
        return None if hit is None or hit > length else pivot + hit * direction

    def _trocar(self, name: str):
        trocar = self.arms[name].trocar
        if trocar is None:
            raise InputError(f"instrument '{name}'", "is an open-surgery instrument; this motion aims a shaft through "
                                                     "a trocar port.")
        return trocar

    def landmark(self, name: str) -> np.ndarray:
        """Where the scene's landmark ``name`` is now [m] (it follows the tissue); an unknown name raises InputError
        naming the landmarks there are."""
        landmarks = self.session.scene.landmarks
        if name not in landmarks:
            known = ", ".join(sorted(landmarks)) or "none"
            raise InputError(f"landmark '{name}'", f"is not a landmark of this procedure's scene; its landmarks: {known}.")
        return landmarks[name].position_m(self.positions())

    # -- what the script may read of the procedure and its scene (fixed for the session) ---------------------------
    @property
    def procedure(self):
        """The procedure being run, as checked (:class:`surgsim.procedure.schema.Procedure`: steps, goals,
        instruments)."""
        return self.session.spec

    def rest_positions(self) -> np.ndarray:
        """Tissue node positions at rest, as meshed before settling [N, 3] [m] (read-only: the model's own)."""
        return self.session.scene.model.positions

    def rest_surface_nodes(self) -> np.ndarray:
        """The ids of the nodes on the tissue's surface as meshed (before any cut), sorted."""
        return np.unique(self.session.scene.model.surface_triangles)

    def tets(self) -> np.ndarray:
        """The tissue's tetrahedra [T, 4] (node ids)."""
        return self.session.scene.model.tets

    def region_nodes(self, region: str) -> np.ndarray:
        """The ids of the nodes of the scene's region ``region``; an unknown name raises InputError naming the
        regions there are."""
        regions = self.session.scene.regions
        if region not in regions:
            known = ", ".join(sorted(regions))
            raise InputError(f"region '{region}'", f"is not a region of this procedure's scene; its regions: {known}.")
        return np.asarray(regions[region].nodes)

    def region_shape(self, region: str):
        """The shape of region ``region`` where the tissue is now (a ball, a tube, a surface: see
        :mod:`surgsim.procedure.region_geometry`); it follows the tissue as landmarks do."""
        self.region_nodes(region)  # the name check
        return self.session.scene.regions[region].geometry.placed(self.positions())

    # -- motions (generators: each yield is one tick) --------------------------------------------------------------
    def ticks(self, seconds: float) -> int:
        return max(1, round(seconds / self.dt))

    def wait(self, seconds: float) -> Motion:
        for _ in range(self.ticks(seconds)):
            yield

    def move(self, name: str, target_m, *, speed: float = 0.03, roll: float | None = None,
             jaw: float | None = None, min_s: float = 0.0, roll_speed: float = 3.0) -> Motion:
        """Move the tip of ``name`` along a straight line to ``target_m`` with a minimum-jerk profile whose peak tip
        speed is ``speed`` [m/s]; ``roll`` [rad] and ``jaw`` change along the same profile."""
        arm = self.arms[name]
        start = arm.point
        target = np.asarray(target_m, dtype=np.float64)
        roll0, jaw0 = arm.roll, arm.jaw
        roll1 = roll0 if roll is None else float(roll)
        jaw1 = jaw0 if jaw is None else float(jaw)
        distance = float(np.linalg.norm(target - start))
        duration = max(min_s, MIN_JERK_PEAK * distance / speed, MIN_JERK_PEAK * abs(roll1 - roll0) / roll_speed,
                       self.dt)
        count = self.ticks(duration)
        for k in range(1, count + 1):
            f = minimum_jerk(k / count)
            arm.set_point(start + f * (target - start))
            arm.roll = roll0 + f * (roll1 - roll0)
            arm.jaw = jaw0 + f * (jaw1 - jaw0)
            yield

    def path(self, name: str, points_m, *, speed: float = 0.03, rolls=None) -> Motion:
        """Follow the polyline ``points_m`` at a constant tip ``speed`` [m/s] (linear in time, corners included);
        ``rolls`` gives the roll at each point."""
        arm = self.arms[name]
        points = np.asarray(points_m, dtype=np.float64)
        points = np.vstack([arm.point[None], points])
        roll_values = np.concatenate([[arm.roll], np.asarray(rolls, dtype=np.float64)]) if rolls is not None else None
        lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
        ends = np.concatenate([[0.0], np.cumsum(lengths)])
        count = self.ticks(ends[-1] / speed)
        for k in range(1, count + 1):
            s = ends[-1] * k / count
            arm.set_point([np.interp(s, ends, points[:, axis]) for axis in range(3)])
            if roll_values is not None:
                arm.roll = float(np.interp(s, ends, roll_values))
            yield

    def set_jaw(self, name: str, value: float, *, seconds: float = 0.15) -> Motion:
        """Open (0) or close (1) the jaws linearly over ``seconds``."""
        arm = self.arms[name]
        start = arm.jaw
        count = self.ticks(seconds)
        for k in range(1, count + 1):
            arm.jaw = start + (value - start) * k / count
            yield

    def close(self, name: str, *, seconds: float = 0.15, settle_s: float = 0.05) -> Motion:
        yield from self.set_jaw(name, 1.0, seconds=seconds)
        yield from self.wait(settle_s)

    def open(self, name: str, *, seconds: float = 0.15, settle_s: float = 0.05) -> Motion:
        yield from self.set_jaw(name, 0.0, seconds=seconds)
        yield from self.wait(settle_s)

    def release(self, name: str, *, back_m: float = 0.035) -> Motion:
        """Let go of what grasper ``name`` holds and back out ``back_m`` along the shaft.

        The jaws open only until the grasp ends, then close again at once while the grasper backs away: jaws that
        are closing pass through tissue, whereas jaws that open on the nodes they held push them out within a tick
        (an impulse that, on light nodes, makes the tissue solver blow up). They pass the grasping closure only when
        clear of the tissue, so they take nothing with them."""
        arm = self.arms[name]
        while len(self.grasped(name)):
            arm.jaw = max(0.0, arm.jaw - 0.01)
            yield
        start = arm.point
        yield from self.move_closing(name, start - 0.7 * back_m * arm.direction, seconds=0.15, jaw=max(arm.jaw, 0.5))
        yield from self.move_closing(name, start - back_m * arm.direction, seconds=0.2, jaw=1.0)

    def energy(self, name: str, on: bool) -> Motion:
        self.arms[name].energy = bool(on)
        yield

    def until(self, condition: Callable[[], bool], *, timeout_s: float) -> Motion:
        """Tick until ``condition()`` holds (checked after each tick) or ``timeout_s`` passes."""
        for _ in range(self.ticks(timeout_s)):
            if condition():
                return
            yield

    def until_step(self, index: int, *, timeout_s: float) -> Motion:
        """Tick until step ``index`` is the active one (the earlier ones are complete)."""
        yield from self.until(lambda: self.step_index >= index, timeout_s=timeout_s)

    def cut_stroke(self, name: str, entry_m, across, *, depth_m: float, opening: float = 0.3,
                   stroke_s: float = 0.2, standoff_m: float = 0.006, clearance_m: float = 0.0005,
                   speed: float = 0.04, hop_above_m: float = 0.008, hop_m: float = 0.025) -> Motion:
        """One scissors stroke that divides the tissue at ``entry_m`` (a point on its surface) across the line
        through it along ``across``, down to ``depth_m`` below the surface.

        The shaft points through ``entry_m`` from the port and the blades open along ``across``, ``opening`` (0..1
        of the widest opening) apart. From ``standoff_m`` above, the blades come down until their tips are just short
        of the surface, then close while the instrument advances, sweeping into the tissue and cutting as they go,
        and end closed ``depth_m`` deep; they back out still closing the last few percent and open once clear.
        When the scissors start more than ``hop_above_m`` from their place above the site, they first back out
        ``hop_m`` along the shaft, cross over there and come down (clear of the tissue and of other instruments).
        The jaws close without a pause from the approach to the way out: closing blades cut what they sweep and
        never push tissue (open or still ones would drag the flaps they have just made). One stroke, one ``cut``
        event. The cut is about ``2 × blade length × sin(opening × max opening / 2)`` long along ``across``.
        """
        arm = self.arms[name]
        self._trocar(name)
        spec = arm.spec
        entry = np.asarray(entry_m, dtype=np.float64)
        shaft = entry - arm.trocar.pivot
        shaft /= np.linalg.norm(shaft)
        yaw, pitch, _ = aim(arm.trocar, entry)
        roll = opening_roll(arm.trocar, yaw, pitch, across, near=arm.roll)
        jaw_open = 1.0 - opening
        reach = spec.jaw_length_m * math.cos(opening * spec.max_jaw_opening_rad / 2.0)
        # the commanded point is the closed blades' tip, a blade length from the hinge
        start = entry - (reach + clearance_m) * shaft + spec.jaw_length_m * shaft
        above = start - standoff_m * shaft
        if float(np.linalg.norm(arm.point - above)) > hop_above_m:
            # a longer way to the next site: up along the shaft first, across, and down
            yield from self.move(name, arm.point - hop_m * arm.direction, speed=speed)
            yield from self.move(name, above - hop_m * shaft, speed=speed, roll=roll, jaw=jaw_open - 0.05)
        yield from self.move(name, above, speed=speed, roll=roll, jaw=jaw_open - 0.05)
        yield from self.move_closing(name, start, seconds=MIN_JERK_PEAK * standoff_m / speed, jaw=jaw_open)
        yield from self.move_closing(name, entry + depth_m * shaft, seconds=stroke_s, jaw=0.96)
        yield from self.move_closing(name, above, seconds=max(0.08, MIN_JERK_PEAK * (standoff_m + depth_m) / speed),
                                     jaw=1.0)
        yield from self.wait(0.01)

    def move_closing(self, name: str, target_m, *, seconds: float, jaw: float = 1.0) -> Motion:
        """Move the tip in a straight line to ``target_m`` while the jaws close to ``jaw``, both linearly over
        ``seconds`` (a constant closing speed: scissors cut while they close)."""
        arm = self.arms[name]
        start, jaw0 = arm.point, arm.jaw
        target = np.asarray(target_m, dtype=np.float64)
        count = self.ticks(seconds)
        for k in range(1, count + 1):
            f = k / count
            arm.set_point(start + f * (target - start))
            arm.jaw = jaw0 + f * (jaw - jaw0)
            yield

    @staticmethod
    def together(*motions: Motion) -> Motion:
        """Run motions of different instruments at once, tick for tick, until all are done."""
        active = list(motions)
        while active:
            still = []
            for motion in active:
                try:
                    next(motion)
                    still.append(motion)
                except StopIteration:
                    pass
            active = still
            if active:
                yield


def run_script(session, script: Callable[[Controller], Motion], *, max_s: float | None = None,
               stop_when_finished: bool = True) -> Controller:
    """Run ``script`` on ``session``: one session tick per yield, until the script ends, the procedure is finished
    (all steps done, or its time limit) or ``max_s`` of simulated time has passed. Does not call ``finish()``."""
    controller = Controller(session)
    limit = None if max_s is None else round(max_s / session.dt_s)
    for _ in script(controller):
        session.tick(controller.commands())
        if stop_when_finished and session.finished:
            break
        if limit is not None and session.tick_count >= limit:
            break
    return controller
