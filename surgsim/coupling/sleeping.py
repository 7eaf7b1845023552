"""Organs at rest sleep: the solver stops advancing an organ that no instrument is near and that has come to rest,
until an instrument comes near it or its anchors, springs or the obstacles change (as a rigid-body engine puts
resting islands to sleep: Bullet, PhysX, Box2D, MuJoCo).

Why: in a procedure most of the tissue is background (the liver behind the gallbladder under dissection), held
still by its anchors. Its springs cost the solver as much at rest as in motion: the gallbladder dissection's liver is
three quarters of the solver's springs and nothing touches it. A sleeping organ keeps its place exactly, its velocity
is zero; an organ at rest moves by less than ``sleep_speed_m_s`` anyway.

The solver advances one window of node indices (:meth:`~surgsim.tissue.control.TissueControl.set_awake`), so only the
organs before the first and after the last awake organ of the combined model sleep; an organ at rest between two
awake ones stays awake (correct, only not cheaper). Every decision is made from the state, the control and the
instruments' capsules: a replay makes the same ones.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

from surgsim.tissue.contact_layout import C_P0, C_P1, C_RADIUS
from surgsim.tissue.host_view import HostView


class _Organ:
    """One organ's node range and, while it sleeps, what woke-up checks compare against."""

    def __init__(self, name: str, nodes: range, springs: slice):
        self.name = name
        self.nodes = nodes
        self.springs = springs
        self.asleep = False
        self.rest_s = 0.0  # how long it has been at rest (checked every check interval)
        self.tree: cKDTree | None = None  # its nodes where it fell asleep
        self.held: tuple | None = None  # its anchor rows and live springs when it fell asleep
        self.clearance: dict[str, np.ndarray] = {}  # per capsule row: clearance, p0, p1, radius when queried


class Sleeping:
    """Decides, before each tissue step, which organs the solver advances (see the module docstring).

    ``organs``: (name, node range) of each organ of ``control``'s model, in node order (a combined model's parts;
    a model of one organ is one part). ``capsule_rows``: the capsule layout's rows that are instruments'.
    """

    def __init__(self, control, organs: list[tuple[str, range]], capsule_rows: list[int], *, tissue_dt: float,
                 sleep_speed_m_s: float, sleep_after_s: float, wake_distance_m: float, check_every: int = 10):
        self.control = control
        self.organs = []
        for name, nodes in organs:
            window = control.layout.awake_window(nodes.start, nodes.stop)
            self.organs.append(_Organ(name, nodes, slice(window.first_spring, window.end_spring)))
        self.capsule_rows = list(capsule_rows)
        self.tissue_dt = float(tissue_dt)
        self.sleep_speed = float(sleep_speed_m_s)
        self.sleep_after_s = float(sleep_after_s)
        self.wake_distance = float(wake_distance_m)
        # An organ falls asleep only with every instrument twice as far away as wakes it (no flicker at the edge).
        self.sleep_distance = 2.0 * self.wake_distance
        self.check_every = max(1, int(check_every))
        self._steps = 0
        self._versions = self._control_versions()
        self._window: tuple[int, int] | None = None
        self._views: dict[int, HostView] = {}

    # -- the decision --------------------------------------------------------------------------------------------
    @property
    def asleep(self) -> list[str]:
        """The names of the organs that sleep now."""
        return [organ.name for organ in self.organs if organ.asleep]

    def before_step(self, state, capsules: np.ndarray) -> None:
        """Wake the organs that must move in this step, put to sleep those at rest long enough, and set the
        control's awake window. ``state``: the step's input; ``capsules``: this tick's packed capsule rows."""
        self._wake_on_control_changes()
        for organ in self.organs:
            if organ.asleep and self._instrument_within(organ, capsules, self.wake_distance, state=None):
                self._wake(organ)
        self._steps += 1
        if self._steps % self.check_every == 0:
            self._check_rest(state, capsules)
        self._set_window()

    def _check_rest(self, state, capsules: np.ndarray) -> None:
        interval = self.check_every * self.tissue_dt
        velocities = None
        for organ in self.organs:
            if organ.asleep:
                continue
            if velocities is None:
                velocities = self._velocities(state)
            v = velocities[organ.nodes.start:organ.nodes.stop]
            resting = len(v) > 0 and float(np.abs(v).max()) * math.sqrt(3.0) < self.sleep_speed
            organ.rest_s = organ.rest_s + interval if resting else 0.0
            if organ.rest_s >= self.sleep_after_s - 1e-12 and not self._instrument_within(
                    organ, capsules, self.sleep_distance, state=state):
                self._fall_asleep(organ, state)

    def _fall_asleep(self, organ: _Organ, state) -> None:
        positions = self._positions(state)[organ.nodes.start:organ.nodes.stop]
        organ.tree = cKDTree(positions)
        organ.held = self._held(organ)
        organ.clearance = {}
        organ.asleep = True

    def _wake(self, organ: _Organ) -> None:
        organ.asleep = False
        organ.rest_s = 0.0
        organ.tree = organ.held = None
        organ.clearance = {}

    def _set_window(self) -> None:
        awake = [organ for organ in self.organs if not organ.asleep]
        window = (awake[0].nodes.start, awake[-1].nodes.stop) if awake else (0, 0)
        if window != self._window:
            self.control.set_awake(*window)
            self._window = window

    # -- what wakes an organ ---------------------------------------------------------------------------------------
    def _control_versions(self) -> tuple:
        versions = self.control.versions
        return versions.anchors, versions.springs, versions.obstacles

    def _held(self, organ: _Organ, *, copy: bool = True) -> tuple:
        """(anchor rows, live springs) of the organ: its anchored flags, targets and attachment stiffnesses (views
        into the control unless ``copy``: enough to compare with, a clip moves its anchors at every step)."""
        control, nodes = self.control, slice(organ.nodes.start, organ.nodes.stop)
        rows = (control.anchored[nodes], control.anchor_targets[nodes], control.attach_stiffness[nodes])
        live = control.spring_active[organ.springs]
        if copy:
            return tuple(a.copy() for a in rows), live.copy()
        return rows, live

    def _wake_on_control_changes(self) -> None:
        versions = self._control_versions()
        if versions == self._versions:
            return
        anchors, springs, obstacles = (now != before for now, before in zip(versions, self._versions))
        self._versions = versions
        for organ in self.organs:
            if not organ.asleep:
                continue
            rows, live = self._held(organ, copy=False) if (anchors or springs) else (None, None)
            if (obstacles
                    or (anchors and (self._in_a_frame(organ)
                                     or not all(np.array_equal(a, b) for a, b in zip(rows, organ.held[0]))))
                    or (springs and not np.array_equal(live, organ.held[1]))):
                self._wake(organ)

    def _in_a_frame(self, organ: _Organ) -> bool:
        # A frame (a grasp's held nodes) moves its nodes on the device, not in the host's target table.
        for members, _ in self.control.frames.values():
            if np.any((members >= organ.nodes.start) & (members < organ.nodes.stop)):
                return True
        return False

    def _instrument_within(self, organ: _Organ, capsules: np.ndarray, distance: float, *, state) -> bool:
        """Whether an instrument's capsule comes within ``distance`` of the organ's nodes (where it fell asleep, or
        in ``state`` for an awake organ). A sleeping organ remembers each capsule's clearance and queries again only
        for a capsule that may have moved that close since (one vectorised test for all of them)."""
        rows = self.capsule_rows
        if not rows:
            return False
        p0, p1 = capsules[rows, C_P0:C_P0 + 3], capsules[rows, C_P1:C_P1 + 3]
        radius = capsules[rows, C_RADIUS]
        tree = organ.tree
        if tree is None:
            positions = self._positions(state)[organ.nodes.start:organ.nodes.stop]
            if len(positions) == 0:
                return False
            tree = cKDTree(positions)
            query = np.arange(len(rows))
        else:
            known = organ.clearance
            if not known:
                query = np.arange(len(rows))
            else:
                moved = (np.maximum(np.linalg.norm(p0 - known["p0"], axis=1), np.linalg.norm(p1 - known["p1"], axis=1))
                         + np.maximum(0.0, radius - known["radius"]))
                query = np.flatnonzero(known["clearance"] - moved < distance)
                if len(query) == 0:
                    return False
        clearance = np.array([_segment_clearance(tree, p0[k], p1[k], float(radius[k]), distance) for k in query])
        if organ.tree is not None:
            if not organ.clearance:
                organ.clearance = {"clearance": np.full(len(rows), np.inf), "p0": p0.copy(), "p1": p1.copy(),
                                   "radius": radius.copy()}
            memory = organ.clearance
            memory["clearance"][query] = clearance
            memory["p0"][query], memory["p1"][query], memory["radius"][query] = p0[query], p1[query], radius[query]
        return bool(np.any(clearance < distance))

    # -- state access (a view on the CPU backend) ------------------------------------------------------------------
    def _array(self, ndarray) -> np.ndarray:
        view = self._views.get(id(ndarray))
        if view is None or view.ndarray is not ndarray:
            view = self._views[id(ndarray)] = HostView(ndarray)
        return view.array if view.array is not None else view.copy()

    def _velocities(self, state) -> np.ndarray:
        return self._array(state.velocities)

    def _positions(self, state) -> np.ndarray:
        return self._array(state.positions)


def _segment_clearance(tree: cKDTree, p0: np.ndarray, p1: np.ndarray, radius: float, distance: float) -> float:
    """A lower bound of the gap between the capsule (p0, p1, radius) and the tree's points: the nearest point to
    samples of the segment no farther apart than ``distance``, less half their spacing."""
    length = float(np.linalg.norm(p1 - p0))
    count = max(2, int(math.ceil(length / max(distance, 1e-6))) + 1)
    samples = p0 + np.linspace(0.0, 1.0, count)[:, None] * (p1 - p0)
    nearest, _ = tree.query(samples)
    spacing = length / (count - 1)
    return float(nearest.min()) - 0.5 * spacing - radius
