"""Coupling options: a strict pydantic model (unknown keys refused). SI units.

- ``skin_m``: gap kept between tissue and every tool capsule [m].
- ``friction``: tool–tissue Coulomb coefficient for every instrument; None = each instrument spec's ``friction``.
- ``anatomy_friction``: tissue against static rigid anatomy (solver obstacles and static capsules).
- ``grasp_close`` / ``grasp_open``: jaw closure (0 open .. 1 closed) at which closing jaws take hold of the tissue
  between them, and below which they let go (the gap is a hysteresis against chatter).
- ``grasp_margin_m``: how far outside the jaws' wedge a node still counts as between them [m].
- ``grasp_hold_stiffness``: a grasp ties the free nodes near the jaws' footprint to the jaws by springs whose
  stiffness falls as exp(−(d / R)²) with their distance d from it, R the mean spring length of the held nodes (see
  :mod:`surgsim.coupling.grasping`); this is their stiffness at the footprint, as a multiple of the stiffness of the
  node's own springs (0 = hold only the nodes between the jaws). The force that holds a lift barely depends on it
  (the hold is stiff next to the tissue); how far the hold reaches is not an option, since it decides that force.
- ``release_s``: how long opening jaws take to let go of what they held [s] (the hold fades out linearly; 0 = at
  once).
- ``slip_force_n``: pull on grasped tissue above which it slips out [N]; None = each instrument's grip coefficient
  × its pinch at the commanded closure.
- ``clip_close``: jaw closure at which a clip applier fires its clip.
- ``clip_half_gap_m``: a placed clip squeezes the tissue it holds to within this distance of its mid-plane [m]. A
  real clip closes a duct's lumen to nothing; an organ mesh has no lumen and a node stands for millimetres of tissue,
  and squeezing harder stretches the springs around the clip enough to shift the tissue beside it by millimetres
  (measured on the gallbladder neck: 0.5 mm moved the next clip site 3 mm; 1 mm, well under one).
- ``burn_dwell_s``: contact time with energy on after which tissue is charred and divides [s].
- ``contact_end_delay_s``: an instrument's contact ends after this long without touching [s] (a touch that
  flickers at the surface stays one contact).
- ``force_limit_n``: emit ``force_limit`` / ``force_limit_end`` when an instrument's force crosses it [N]; None = off.
- ``check_springs_every``: test tets for tearing every this many ticks (tearing builds up over many ticks; the
  test is a tenth of a millisecond on the liver on a CPU, so every tick would be a tenth of the step).
- ``sleep``: let organs at rest that no instrument is near sleep (the solver skips them; see
  :mod:`surgsim.coupling.sleeping`); ``sleep_speed_m_s``: an organ whose nodes all move slower than this is at rest;
  ``sleep_after_s``: and falls asleep after this long at rest; ``wake_distance_m``: an instrument this close wakes it
  (one twice as close keeps it from falling asleep).
- ``tear_persist_s``: a tet tears once its maximum principal stretch has stayed over its failure stretch this long
  [s] (a single over-strained tick is a transient, such as a node a tool lets go of).
- ``tear_length_m``: ... and once that stretch averaged over the tissue within this distance is over it too [m]
  (see :mod:`surgsim.tissue.tool_contact`, "Measurements"; 0 = each tet alone). 5 mm is the width of a 5 mm
  instrument's jaws, the least length over which an instrument loads tissue: next to a grasp the one ring of tets at
  the held patch's edge reads twice the stretch of the tissue 5 mm around it (liver retraction at 1.8 N: λ₁ 2.0
  against 1.3), a mesh-scale concentration, not a tear.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from surgsim.errors import InputError


class CouplingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    skin_m: float = Field(2.5e-4, ge=0.0, le=0.005)
    friction: float | None = Field(None, ge=0.0, le=2.0)
    anatomy_friction: float = Field(0.3, ge=0.0, le=2.0)
    grasp_close: float = Field(0.6, gt=0.0, le=1.0)
    grasp_open: float = Field(0.4, ge=0.0, lt=1.0)
    grasp_margin_m: float = Field(1e-3, ge=0.0, le=0.01)
    grasp_hold_stiffness: float = Field(1.0, ge=0.0, le=100.0)
    release_s: float = Field(0.03, ge=0.0, le=1.0)
    slip_force_n: float | None = Field(None, gt=0.0)
    clip_close: float = Field(0.95, gt=0.0, le=1.0)
    clip_half_gap_m: float = Field(1e-3, gt=0.0, le=0.01)
    burn_dwell_s: float = Field(0.7, gt=0.0)
    contact_end_delay_s: float = Field(0.02, ge=0.0)
    force_limit_n: float | None = Field(None, gt=0.0)
    check_springs_every: int = Field(5, ge=1, le=1000)
    tear_persist_s: float = Field(0.01, ge=0.0, le=1.0)
    tear_length_m: float = Field(0.009, ge=0.0, le=0.05)
    sleep: bool = True
    sleep_speed_m_s: float = Field(1e-4, gt=0.0, le=0.1)
    sleep_after_s: float = Field(0.1, ge=0.0, le=10.0)
    wake_distance_m: float = Field(0.002, gt=0.0, le=0.1)

    @model_validator(mode="after")
    def _hysteresis(self):
        if self.grasp_open >= self.grasp_close:
            raise ValueError("grasp_open must be below grasp_close")
        return self

    @classmethod
    def parse(cls, options: "CouplingOptions | dict | None" = None, **overrides) -> "CouplingOptions":
        data = options.model_dump() if isinstance(options, CouplingOptions) else dict(options or {})
        data.update(overrides)
        try:
            return cls(**data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors())
            raise InputError("coupling options", problems) from None
