"""Finding the procedure a trace was recorded with, and making sure it is the same file."""

from __future__ import annotations

import os
from pathlib import Path

from surgsim.errors import InputError
from surgsim.procedure.loader import ProcedureFile, file_sha256, load_procedure
from surgsim.trace import Trace, read_trace


def load_session(
    trace_path: str | os.PathLike, procedure_path: str | os.PathLike | None = None
) -> tuple[ProcedureFile, Trace]:
    """The trace at ``trace_path`` and its procedure: the one its header names, or ``procedure_path`` (for a trace that
    was moved away from its procedure). Either way the procedure's bytes must hash to the header's sha256."""
    trace = read_trace(trace_path)
    path = Path(procedure_path) if procedure_path is not None else trace.header.procedure_path(trace_path)
    if not path.is_file():
        raise InputError(
            trace_path,
            f"the trace was recorded with the procedure '{trace.header.procedure}', which is not at {path}; "
            "pass --procedure FILE to say where it is.",
        )
    actual = file_sha256(path)
    if actual != trace.header.procedure_sha256:
        raise InputError(
            trace_path,
            f"the trace was recorded with another procedure than {path}: the file's sha256 is {actual[:12]}…, the "
            f"trace's header says {trace.header.procedure_sha256[:12]}…. The procedure was edited since, or the trace "
            "belongs to another procedure.",
        )
    return load_procedure(path), trace
