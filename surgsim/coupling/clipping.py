"""Clipping: a clip applier whose jaws close (through ``clip_close``) on tissue places a clip there.

A placed clip is a small rigid part that the tissue carries, and it acts on the tissue:

- it **closes** on what it holds: the clipped nodes (those between the jaws when they closed) are squeezed toward the
  clip's mid-plane, to within ``clip_half_gap_m`` of it (:mod:`surgsim.coupling.options`), over ``CLIP_CLOSE_S``
  (closed jaws already hold the tissue within about two millimetres, so the squeeze stays below the tear strain);
- it **holds** them: they stay anchored in the clip's frame after the applier opens and leaves;
- it **rides with the tissue**: every tick the clip's frame is refitted (least-squares rigid fit, Kabsch) to the
  nodes around it (the clipped nodes' spring neighbours), as they were when it was placed, so the clip moves and turns
  with the tissue it sits on without feeling or adding weight;
- it is **metal**: the springs between clipped nodes can be neither cut nor torn (the scissors divide the duct
  beside a clip, not through it), and the tets around them (those with a spring touching a clipped node or one of
  its neighbours) do not tear (the crush at a clip's edge is what clipping is for, not damage; they can still be
  cut).

A clip closed on tissue that an earlier clip already holds (two clips side by side on a duct) is placed too: it
holds the free nodes among those between its jaws, and rides with the tissue around all of them.

:meth:`Clipping.place` records the clip and emits a ``clip`` event (what scoring counts); :meth:`Clip.capsule`
is the clip's geometry for drawing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from surgsim.coupling.context import TickContext
from surgsim.coupling.jaws import nodes_between_jaws
from surgsim.coupling.options import CouplingOptions

CLIP_CLOSE_S = 0.03  # how long the squeeze takes (a clip applier crimps in a few tens of milliseconds)
CLIP_RADIUS_M = 7.5e-4  # the drawn clip's cross-section (a medium-large titanium clip is ~1.5 mm thick)
_STILL_M = 1e-9  # target motion [m] below which the anchors are not re-sent


@dataclass
class Clip:
    """One placed clip: the applier that placed it, the clipped ``nodes``, where and when it was placed, and its
    frame (origin, rotation with x the hinge pin, y the jaws' closing direction, z along the clip)."""

    instrument: str
    nodes: np.ndarray
    position_m: tuple[float, float, float]
    time_s: float
    length_m: float
    origin: np.ndarray
    rotation: np.ndarray
    open_local: np.ndarray  # the clipped nodes in the clip frame when it was placed
    closed_local: np.ndarray  # ... and once squeezed shut
    ring: np.ndarray  # the nodes around the clip that carry it
    ring_fit: RigidFit  # ... as they lay in the clip frame when it was placed
    targets: np.ndarray  # where the clipped nodes' anchors were last sent [K, 3] [m]
    fitted_to: np.ndarray | None = None  # the ring's positions at the last fit

    def local_at(self, time_s: float) -> np.ndarray:
        """The clipped nodes in the clip frame ``time_s`` seconds into the session (the squeeze is linear in time)."""
        progress = min(max((time_s - self.time_s) / CLIP_CLOSE_S, 0.0), 1.0)
        return self.open_local + progress * (self.closed_local - self.open_local)

    def capsule(self) -> tuple[np.ndarray, np.ndarray, float]:
        """(start, end, radius) of the clip's axis [m], for drawing."""
        axis = self.rotation[:, 2]
        return self.origin.copy(), self.origin + self.length_m * axis, CLIP_RADIUS_M


class RigidFit:
    """Least-squares rigid fits (Kabsch, proper rotations) of one fixed point set, the ``reference`` [K, 3]: its centre
    and centred points are computed once (a clip's ring is fitted at every tissue step)."""

    def __init__(self, reference: np.ndarray):
        self.count = len(reference)
        self.centre = reference.mean(axis=0)
        self.centred = reference - self.centre

    def __call__(self, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rotation R, translation t) minimising Σ|R·reference_i + t − current_i|².

        With fewer than three points, or points on a line, the rotation is undetermined: identity is returned."""
        cur_centre = current.mean(axis=0)
        if self.count < 3:
            return np.eye(3), cur_centre - self.centre
        covariance = (current - cur_centre).T @ self.centred
        u, singular, vt = np.linalg.svd(covariance)
        if singular[1] <= 1e-12 * max(singular[0], 1e-300):
            return np.eye(3), cur_centre - self.centre
        # det(U Vᵀ) = det U · det Vᵀ = ±1: its sign from two 3 × 3 determinants in plain floats, not a product and a
        # LAPACK call; U diag(1, 1, d) is U with its last column times d, exactly.
        reflection = _determinant(u.tolist()) * _determinant(vt.tolist()) < 0.0
        rotation = (u * np.array([1.0, 1.0, -1.0]) if reflection else u) @ vt
        return rotation, cur_centre - rotation @ self.centre


def _determinant(m: list) -> float:
    return (m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]))


def rigid_fit(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rotation R, translation t) minimising Σ|R·reference_i + t − current_i|² (see :class:`RigidFit`)."""
    return RigidFit(reference)(current)


class Clipping:
    def __init__(self, instruments: dict, options: CouplingOptions):
        self._instruments = {n: i for n, i in instruments.items() if i.spec.jaw_action == "clip"}
        self._options = options
        self._previous_jaw = {name: instrument.jaw for name, instrument in self._instruments.items()}
        self.clips: list[Clip] = []

    def after_step(self, ctx: TickContext) -> None:
        for name, instrument in self._instruments.items():
            jaw = instrument.jaw
            if jaw >= self._options.clip_close > self._previous_jaw[name]:
                nodes = nodes_between_jaws(ctx, name, margin_m=self._options.grasp_margin_m, free_only=False)
                if len(nodes):
                    self.place(ctx, name, nodes)
            self._previous_jaw[name] = jaw
        for clip in self.clips:
            self._follow(ctx, clip)

    def place(self, ctx: TickContext, name: str, between: np.ndarray) -> None:
        """A clip from instrument ``name`` on the ``between`` nodes: anchor the free ones in the clip, protect the
        springs it holds."""
        positions = ctx.positions()
        position = tuple(float(v) for v in positions[between].mean(axis=0))
        nodes = between[~ctx.control.anchored[between]]
        clipped = positions[nodes]
        origin, rotation = ctx.instruments[name].distal_frame()
        open_local = (clipped - origin) @ rotation
        closed_local = open_local.copy()
        gap = self._options.clip_half_gap_m
        closed_local[:, 1] = np.clip(closed_local[:, 1], -gap, gap)
        springs = ctx.model.springs
        in_clip = np.zeros(ctx.model.node_count, dtype=bool)
        in_clip[between] = True
        ends_in_clip = in_clip[springs]
        touching = ends_in_clip.any(axis=1)
        ring = np.setdiff1d(np.unique(springs[touching]), between)
        ring = ring[~ctx.control.anchored[ring]]
        clip = Clip(name, nodes, position, ctx.time_s, ctx.instruments[name].spec.jaw_length_m,
                    origin.copy(), rotation.copy(), open_local, closed_local, ring,
                    RigidFit((positions[ring] - origin) @ rotation), clipped)
        if len(nodes):
            ctx.control.anchor(nodes, targets=clipped)
        ctx.topology.protect(np.flatnonzero(ends_in_clip.all(axis=1)))
        # The crush strains the tissue around the clip too (a 6 mm duct squeezed to 1 mm): the tets of the ring's
        # springs do not tear either.
        around = np.zeros(ctx.model.node_count, dtype=bool)
        around[between] = True
        around[ring] = True
        ctx.contact.exempt_from_tearing(np.flatnonzero(around[springs].any(axis=1)))
        self.clips.append(clip)
        ctx.emit("clip", instrument=name, region=ctx.regions_of_nodes(between)[0], position_m=position,
                 detail={"nodes": int(len(between))})

    def _follow(self, ctx: TickContext, clip: Clip) -> None:
        """Refit the clip's frame to the tissue around it and move its anchors there (for the next solve)."""
        squeezed = ctx.time_s >= clip.time_s + CLIP_CLOSE_S
        if len(clip.ring):
            ring = ctx.positions()[clip.ring]
            # Tissue at rest around a closed clip (most of a session): the fit and the targets are what they were.
            if squeezed and clip.fitted_to is not None and np.abs(ring - clip.fitted_to).max() < _STILL_M:
                return
            rotation, translation = clip.ring_fit(ring)
            clip.rotation, clip.origin = rotation, translation
            clip.fitted_to = ring
        if not len(clip.nodes):
            return
        targets = clip.origin + clip.local_at(ctx.time_s) @ clip.rotation.T
        if np.abs(targets - clip.targets).max() < _STILL_M:
            return
        clip.targets = targets
        ctx.control.set_anchor_targets(clip.nodes, targets)
