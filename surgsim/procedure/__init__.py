"""Procedures: the YAML files in ``procedures/`` that describe a training exercise.

- :mod:`~surgsim.procedure.schema`: the pydantic models (the one definition; JSON Schema is exported from them);
- :mod:`~surgsim.procedure.loader`: loading a file with every problem reported by line and column;
- :mod:`~surgsim.procedure.yaml_source`: safe YAML reading that keeps positions and refuses alias bombs;
- :mod:`~surgsim.procedure.references`: names referred to across the file;
- :mod:`~surgsim.procedure.assets`: resolving asset paths and keeping them inside the asset roots;
- :mod:`~surgsim.procedure.suggest`: "did you mean" for misspelled keys and names.
"""

from surgsim.procedure.loader import Issue, ProcedureError, ProcedureFile, check_procedure, load_procedure
from surgsim.procedure.schema import Procedure, procedure_json_schema

__all__ = [
    "Issue",
    "Procedure",
    "ProcedureError",
    "ProcedureFile",
    "check_procedure",
    "load_procedure",
    "procedure_json_schema",
]
