"""What a procedure *is*, for a trace recorded with it: the hash of the part that decides the physics, per section,
and the hash of the part that only decides the score.

A session trace records both (:class:`~surgsim.trace.TraceHeader`), so that an instructor can re-tune a rubric after
recording sessions and rescore them, while a procedure whose scene, instruments, goals or zones changed is refused:
its sessions would not happen the same way any more.

- **physics** (:data:`PHYSICS_SECTIONS`): ``scene`` (organs, rigid bodies, regions, landmarks, camera),
  ``instruments``, ``steps`` (each step's name and goal, without the goal's scoring-only limits), ``forbidden``
  (zones and their force limits: they make events) and ``limits`` (``time_limit_s`` ends the session,
  ``force_limit_N`` makes events) and ``physics`` (the tissue's rate and solver iterations). Changing any of these
  can change what a replay of the same commands records.
- **rubric**: ``rubric`` plus what only the scorer reads: each step's ``time_limit_s`` and ``force_limit_N``.
- Neither: ``title``, ``description`` and the steps' ``instructions`` (what the trainee reads), ``format_version``.

Each hash is the SHA-256 of the section's validated content as canonical JSON (sorted keys, no spaces), so
reformatting the YAML or adding comments changes neither.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from surgsim.procedure.schema import Procedure

PHYSICS_SECTIONS = ("scene", "instruments", "steps", "forbidden", "limits", "physics")
# Every top-level key of a procedure is in exactly one part (a test holds new keys to this):
PHYSICS_KEYS = ("scene", "instruments", "steps", "forbidden", "time_limit_s", "force_limit_N", "physics")
RUBRIC_KEYS = ("rubric",)  # with the steps' scoring-only fields
PRESENTATION_KEYS = ("format_version", "name", "title", "description")
# Goal fields that the runtime never reads (none yet: a retract goal's max_distance_mm makes over_retraction events,
# a touch goal's min_force_N decides when it is met).
SCORING_ONLY_GOAL_FIELDS: tuple[str, ...] = ()
# Step fields the runtime never reads (time limits only warn on the HUD; the scorer judges them).
SCORING_ONLY_STEP_FIELDS = ("time_limit_s", "force_limit_N")
# Rubric metrics that surgsim learnt after the hashes were introduced. A rubric that leaves one out hashes as it did
# before the metric existed, so that adding a metric to surgsim does not turn every recorded session into a rescored
# one. (A metric added later joins this list.)
LATER_RUBRIC_METRICS = ("torn_area_mm2", "cut_off_target_area_mm2")


def _sha256(value) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class ProcedureIdentity:
    """The hashes of one procedure: ``physics_sections`` (section → sha256), ``physics_sha256`` over all of them, and
    ``rubric_sha256``."""

    physics_sections: dict[str, str]
    physics_sha256: str
    rubric_sha256: str

    @classmethod
    def of(cls, procedure: Procedure, asset_digests: dict[str, str] | None = None) -> "ProcedureIdentity":
        """The identity of ``procedure``. ``asset_digests`` (asset path as written → the file's sha256) hashes the
        scene's organ and rigid-body files by their content instead of their paths, which a copy of the procedure
        in another folder writes differently (what :mod:`surgsim.scoring.inputs` compares copies by)."""
        data = procedure.model_dump(mode="json")
        for group in ("organs", "rigid") if asset_digests is not None else ():
            for body in data["scene"][group]:
                written = body["source"].get("path")
                if written in asset_digests:
                    body["source"]["path"] = f"sha256:{asset_digests[written]}"
        steps_physics, steps_scoring = [], []
        for step in data["steps"]:
            goal = {key: value for key, value in step["goal"].items() if key not in SCORING_ONLY_GOAL_FIELDS}
            steps_physics.append({"name": step["name"], "goal": goal})
            steps_scoring.append({
                "name": step["name"],
                **{key: step.get(key) for key in SCORING_ONLY_STEP_FIELDS},
                **{key: step["goal"].get(key) for key in SCORING_ONLY_GOAL_FIELDS},
            })
        sections = {
            "scene": _sha256(data["scene"]),
            "instruments": _sha256(data["instruments"]),
            "steps": _sha256(steps_physics),
            "forbidden": _sha256(data["forbidden"]),
            "limits": _sha256({"time_limit_s": data["time_limit_s"], "force_limit_N": data["force_limit_N"]}),
            "physics": _sha256(data["physics"]),
        }
        rubric = data["rubric"]
        metrics = {key: value for key, value in rubric["metrics"].items()
                   if not (key in LATER_RUBRIC_METRICS and value is None)}
        rubric = {**rubric, "metrics": metrics}
        return cls(sections, _sha256(sections), _sha256({"rubric": rubric, "steps": steps_scoring}))

    def changed_sections(self, recorded: dict[str, str]) -> list[str]:
        """The physics sections whose hash differs from ``recorded`` (a trace header's), in :data:`PHYSICS_SECTIONS`
        order; a section the recording did not have counts as changed."""
        return [name for name in PHYSICS_SECTIONS if recorded.get(name) != self.physics_sections.get(name)]
