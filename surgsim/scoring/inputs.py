"""Finding the procedure a trace was recorded with, and making sure its physics are the same.

The trace is the trainee's; the procedure library (the ``procedures/`` folder of this surgsim checkout) and the
command line are the instructor's. So:

- The procedure is the file the trace's header names, or ``--procedure FILE`` (the instructor's choice).
- Its physics (:mod:`surgsim.procedure.identity`: scene, instruments, steps and goals, zones, limits, tissue rate)
  must hash as the header says; a changed section is refused, named. A changed rubric is fine: the session is
  *rescored* against the current rubric, and the report says so and names both rubric hashes.
- A trace recorded before the split hashes has only the file's sha256. When the file is unchanged, all is as
  recorded; when it changed, only a re-simulation that reproduces the recording can show that the physics did not
  (:attr:`SessionSource.physics_unproven`): verified scoring accepts it after that, ``--no-verify`` refuses it.
- A procedure the *trace* points at outside the library that is a copy of a library procedure (the same name or
  the same physics) with another rubric is refused: that is how a trace would smuggle in a relaxed rubric. The
  instructor can still score against any file by naming it with ``--procedure``.
- A renamed copy whose physics differ in anything (a moved camera) is another procedure: an instructor's variant of
  a shipped task looks the same, and refusing those would refuse honest work. So the report always names the
  procedure, its path and both hashes, and says when the procedure is not one of the library's
  (:attr:`SessionSource.in_library`): a pass under another procedure's rubric never reads as a pass under a shipped
  one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from surgsim.errors import InputError
from surgsim.procedure.identity import ProcedureIdentity
from surgsim.mesh.cache import input_sha256
from surgsim.procedure.loader import ProcedureFile, load_procedure
from surgsim.trace import Trace, read_trace

LIBRARY_DIR = Path(__file__).resolve().parents[2] / "procedures"

_SECTION_WORDS = {
    "scene": "the scene (organs, regions, landmarks, camera)",
    "instruments": "the instruments",
    "steps": "the steps' goals",
    "forbidden": "the forbidden zones",
    "limits": "the time or force limit",
    "physics": "the tissue's rate or solver iterations",
}


@dataclass(frozen=True)
class SessionSource:
    """A trace, the procedure to score it with, and how that procedure relates to the one it was recorded with."""

    procedure: ProcedureFile
    trace: Trace
    identity: ProcedureIdentity
    procedure_written: str  # the procedure's path as the header or the command line gave it (no machine paths)
    rescored: bool  # the rubric differs from the one the session was recorded with
    physics_unproven: bool  # an old trace whose procedure file changed: only a reproducing re-simulation vouches
    in_library: bool = True  # the procedure file is one of the library's (procedures/)

    @property
    def recorded_rubric_sha256(self) -> str | None:
        return self.trace.header.procedure_rubric_sha256


def load_session(
    trace_path: str | os.PathLike, procedure_path: str | os.PathLike | None = None
) -> tuple[ProcedureFile, Trace]:
    """The trace and its procedure, refusing any change of the procedure file since the recording that a replay
    cannot vouch for (:func:`load_session_source` with ``allow_unproven=False``)."""
    source = load_session_source(trace_path, procedure_path, allow_unproven=False)
    return source.procedure, source.trace


def load_session_source(
    trace_path: str | os.PathLike,
    procedure_path: str | os.PathLike | None = None,
    *,
    allow_unproven: bool,
    library: Path = LIBRARY_DIR,
) -> SessionSource:
    """The trace at ``trace_path`` and the procedure to score it with (``procedure_path``, else the header's).

    ``allow_unproven``: accept an old trace (file hash only) whose procedure file changed since, for a caller that
    will re-simulate and compare. Raises :class:`InputError` for a missing procedure, changed physics, or a library
    procedure's copy with another rubric named by the trace."""
    trace = read_trace(trace_path)
    header = trace.header
    chosen_by_trace = procedure_path is None
    path = trace.header.procedure_path(trace_path) if chosen_by_trace else Path(procedure_path)
    if not path.is_file():
        raise InputError(
            trace_path,
            f"the trace was recorded with the procedure '{header.procedure}', which is not at {path}; "
            "pass --procedure FILE to say where it is.",
        )
    procedure = load_procedure(path)
    identity = ProcedureIdentity.of(procedure.spec)
    file_unchanged = procedure.sha256 == header.procedure_sha256
    if header.has_part_hashes:
        changed = identity.changed_sections(header.procedure_physics_sections)
        if changed:
            words = " and ".join(_SECTION_WORDS[name] for name in changed)
            raise InputError(
                trace_path,
                f"the trace was recorded with another version of {path}: {words} changed since "
                f"(section{'s' if len(changed) > 1 else ''} {', '.join(changed)} of the procedure). The session "
                "would not happen the same way with them, so it cannot be scored against this file; only a rubric "
                "change can be rescored.",
            )
        rescored, unproven = identity.rubric_sha256 != header.procedure_rubric_sha256, False
    elif file_unchanged:
        rescored, unproven = False, False
    elif allow_unproven:
        rescored, unproven = True, True
    else:
        raise InputError(
            trace_path,
            f"the trace was recorded with another procedure than {path}: the file's sha256 is "
            f"{procedure.sha256[:12]}…, the trace's header says {header.procedure_sha256[:12]}…. The procedure was "
            "edited since, or the trace belongs to another procedure; the trace predates the separate physics and "
            "rubric hashes, so only a verified score (without --no-verify) can show that the physics are unchanged.",
        )
    if chosen_by_trace:
        _refuse_library_copy(trace_path, procedure, identity, library)
    written = header.procedure if chosen_by_trace else Path(procedure_path).as_posix()
    in_library = library.is_dir() and procedure.path.is_relative_to(library.resolve())
    return SessionSource(procedure, trace, identity, written, rescored, unproven, in_library)


def _refuse_library_copy(trace_path, procedure: ProcedureFile, identity: ProcedureIdentity, library: Path) -> None:
    """A trace may not name a copy of a library procedure with another rubric (see the module's docstring)."""
    if not library.is_dir() or procedure.path.is_relative_to(library.resolve()):
        return
    # Physics compared with the asset files by content: a copy in another folder writes their paths differently.
    physics = _physics_by_content(procedure)
    for candidate in sorted(library.glob("*.yaml")):
        try:
            original = load_procedure(candidate)
        except InputError:
            continue  # a broken library file is `surgsim validate`'s business, not this trace's
        theirs = ProcedureIdentity.of(original.spec)
        same = original.spec.name == procedure.spec.name or _physics_by_content(original) == physics
        if same and theirs.rubric_sha256 != identity.rubric_sha256:
            raise InputError(
                trace_path,
                f"the trace names the procedure file {procedure.path}, a copy of the library's "
                f"'{original.spec.name}' ({candidate}) with another rubric (rubric sha256 {identity.rubric_sha256[:12]}… "
                f"instead of {theirs.rubric_sha256[:12]}…). A trace cannot choose its own rubric: score it against "
                f"the library's with --procedure {candidate}, or name the other file with --procedure deliberately.",
            )


def _physics_by_content(procedure: ProcedureFile) -> str:
    """The physics hash of ``procedure`` with its organ and rigid-body files hashed by content, not path."""
    digests = {}
    for body in (*procedure.spec.scene.organs, *procedure.spec.scene.rigid):
        written = getattr(body.source, "path", None)
        if written is not None and written not in digests:
            digests[written] = input_sha256(procedure.asset_path(written))  # a file, or a DICOM folder
    return ProcedureIdentity.of(procedure.spec, digests).physics_sha256
