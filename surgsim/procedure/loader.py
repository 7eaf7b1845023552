"""Loading a procedure file: YAML → validated :class:`~surgsim.procedure.schema.Procedure`, or a list of every problem.

Each problem is an :class:`Issue` with the file, the 1-based line and column it is about, what was expected there,
and, for a misspelled key or name, the likeliest intended one. Checks run in layers, each only when the one before
passed, because later layers need the data the earlier ones vouch for:

1. YAML syntax and the size/alias limits (:mod:`surgsim.procedure.yaml_source`);
2. the pydantic models: keys, types, ranges (:mod:`surgsim.procedure.schema`);
3. names referred to across the file (:mod:`surgsim.procedure.references`) and asset paths
   (:mod:`surgsim.procedure.assets`).
"""

from __future__ import annotations

import hashlib
import os
import re
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from surgsim.errors import InputError
from surgsim.fileio import input_file_problem
from surgsim.procedure.assets import AssetPathError, resolve_asset
from surgsim.procedure.references import reference_problems
from surgsim.procedure.schema import FORMAT_VERSION, PATH_SOURCE_SUFFIXES, Procedure
from surgsim.procedure.suggest import did_you_mean
from surgsim.procedure.yaml_source import Mark, YamlDocument, YamlRefused, read_yaml

_UNIT_WORDS = {"mm": "millimetres", "s": "seconds", "N": "newtons", "deg": "degrees"}


@dataclass(frozen=True)
class Issue:
    """One problem in a procedure file; ``line`` and ``column`` are 1-based, or None for a whole-file problem."""

    file: str
    line: int | None
    column: int | None
    message: str

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class ProcedureError(InputError):
    """A procedure file with problems; ``issues`` lists all of them."""

    def __init__(self, path: str | os.PathLike, issues: list[Issue]):
        self.issues = issues
        first = issues[0]
        where = f"line {first.line}, column {first.column}: " if first.line is not None else ""
        if len(issues) == 1:
            problem = f"{where}{first.message}"
        else:
            problem = (
                f"{len(issues)} problems; the first, at {where}{first.message} "
                f"Run 'surgsim validate {path}' to see them all."
            )
        super().__init__(path, problem)


@dataclass(frozen=True)
class ProcedureFile:
    """A validated procedure and the file it came from."""

    path: Path  # absolute
    sha256: str  # of the file's bytes, as recorded in session traces
    spec: Procedure

    def asset_path(self, written: str) -> Path:
        """The file an asset path written in this procedure refers to (already checked by the loader)."""
        return resolve_asset(self.path, written)


def file_sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_procedure(path: str | os.PathLike) -> ProcedureFile:
    """Load and check the procedure at ``path``; raise :class:`ProcedureError` listing every problem."""
    procedure, issues = check_procedure(path)
    if issues:
        raise ProcedureError(path, issues)
    return procedure


def check_procedure(path: str | os.PathLike) -> tuple[ProcedureFile | None, list[Issue]]:
    """The procedure at ``path`` (None if it has problems) and the problems found, sorted by position."""
    shown = str(path)
    path = Path(path)
    unreadable = input_file_problem(path, "procedure file", missing="no such file.")
    if unreadable:
        return None, [Issue(shown, None, None, unreadable)]
    try:
        document = read_yaml(path)
    except YamlRefused as refused:
        return None, [issue_at(shown, refused.problem.mark, refused.problem.message)]
    except OSError as error:
        return None, [Issue(shown, None, None, f"cannot read the file: {error.strerror}.")]

    issues = [issue_at(shown, problem.mark, problem.message) for problem in document.problems]
    if not isinstance(document.data, dict):
        issues.append(issue_at(shown, Mark(1, 1), "expected a procedure (a mapping of keys) at the top level."))
        return None, issues
    version = document.data.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        mark = document.mark_of_value(("format_version",))
        message = (
            f"format_version {version} is newer than this surgsim understands ({FORMAT_VERSION}); upgrade surgsim."
        )
        return None, issues + [issue_at(shown, mark, message)]
    try:
        spec = Procedure.model_validate(document.data)
    except ValidationError as error:
        issues += [_validation_issue(shown, document, detail) for detail in error.errors(include_url=False)]
        return None, sorted_issues(issues)

    for loc, message in reference_problems(spec) + _asset_problems(path, spec):
        issues.append(issue_at(shown, document.mark_of_value(loc), message))
    if issues:
        return None, sorted_issues(issues)
    return ProcedureFile(path.resolve(), file_sha256(path), spec), []


def sorted_issues(issues: list[Issue]) -> list[Issue]:
    return sorted(issues, key=lambda issue: (issue.line or 0, issue.column or 0, issue.message))


def issue_at(shown: str, mark: Mark | None, message: str) -> Issue:
    return Issue(shown, mark.line if mark else None, mark.column if mark else None, message)


def _asset_problems(path: Path, spec: Procedure) -> list[tuple[tuple, str]]:
    problems = []
    bodies = [("organs", i, organ.source) for i, organ in enumerate(spec.scene.organs)]
    bodies += [("rigid", i, body.source) for i, body in enumerate(spec.scene.rigid)]
    for group, index, source in bodies:
        if not hasattr(source, "path"):
            continue
        loc = ("scene", group, index, "source", "path")
        suffixes = PATH_SOURCE_SUFFIXES[source.kind]
        if not source.path.lower().endswith(suffixes):
            problems.append((loc, f"a {source.kind} source takes {', '.join(suffixes)} files; got '{source.path}'."))
            continue
        try:
            resolve_asset(path, source.path)
        except AssetPathError as error:
            problems.append((loc, str(error)))
    return problems


# -- turning pydantic's errors into messages ---------------------------------------------------------------------------
def _validation_issue(shown: str, document: YamlDocument, detail: dict) -> Issue:
    loc = tuple(detail["loc"])
    kind = detail["type"]
    data_loc = document.data_location(loc)
    if kind == "extra_forbidden":
        key = loc[-1]
        where = _dotted(document.data_location(loc[:-1]))
        hint = did_you_mean(str(key), _model_fields_at(loc[:-1]))
        where = "at the top level" if where == _TOP else f"in {where}"
        return issue_at(shown, document.mark_of_key(data_loc), f"unknown key '{key}' {where}.{hint}")
    if kind == "missing":
        where = _dotted(document.data_location(loc[:-1]))
        return issue_at(shown, document.mark_of_value(data_loc), f"{where} is missing the required key '{loc[-1]}'.")
    where = _dotted(data_loc)
    mark = document.mark_of_value(data_loc)
    if kind == "union_tag_not_found":
        return issue_at(shown, mark, f"{where} needs a 'kind': one of {', '.join(_union_tags(loc))}.")
    if kind == "union_tag_invalid":
        tag = str(detail["ctx"]["tag"])
        tags = _union_tags(loc)
        message = f"{where}: unknown kind '{tag}'; expected one of {', '.join(tags)}.{did_you_mean(tag, tags)}"
        return issue_at(shown, mark, message)
    if kind == "literal_error":
        expected = detail["ctx"]["expected"]
        hint = did_you_mean(str(detail["input"]), re.findall(r"'([^']*)'", expected))
        return issue_at(shown, mark, f"{where}: expected {expected}; got {_shown(detail['input'])}.{hint}")
    if kind in ("too_short", "too_long"):
        context = detail["ctx"]
        bound = f"at least {context['min_length']}" if kind == "too_short" else f"at most {context['max_length']}"
        return issue_at(shown, mark, f"{where}: expected {bound} items; got {context['actual_length']}.")
    if kind == "value_error":
        return issue_at(shown, mark, f"{where}: {detail['msg'].removeprefix('Value error, ')}.")
    expected = detail["msg"].removeprefix("Input should be ")
    message = f"{where}: expected {expected}{_unit_words(loc)}; got {_shown(detail['input'])}.{_text_hint(detail)}"
    return issue_at(shown, mark, message)


_TOP = "the top level"


def _dotted(loc: tuple) -> str:
    if not loc:
        return _TOP
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _shown(value) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _unit_words(loc: tuple) -> str:
    field = next((part for part in reversed(loc) if isinstance(part, str)), "")
    unit = field.rsplit("_", 1)[-1] if "_" in field else ""
    return f" (in {_UNIT_WORDS[unit]})" if unit in _UNIT_WORDS else ""


def _text_hint(detail: dict) -> str:
    value = detail["input"]
    if not isinstance(value, str) or not detail["type"].startswith(("float", "int")):
        return ""
    try:
        float(value)
    except ValueError:
        return " Write the number alone: the unit is part of the key's name."
    return " It was read as text (quoted, or an exponent without a decimal point like 1e3); write a plain number."


def _unwrap(annotation):
    """Strip ``Annotated[...]`` and ``Optional[...]`` down to the type that matters for the data's shape."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType) and type(None) in get_args(annotation):
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            annotation = members[0] if len(members) == 1 else Union[tuple(members)]
        else:
            return annotation


def _is_model(annotation) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _child(annotation, part):
    """The type found one step down ``annotation`` at ``part`` of a pydantic error location, or None."""
    annotation = _unwrap(annotation)
    origin = get_origin(annotation)
    if _is_model(annotation):
        field = annotation.model_fields.get(part) if isinstance(part, str) else None
        return field.annotation if field else None
    if origin is list:
        return get_args(annotation)[0] if isinstance(part, int) else None
    if origin is dict:
        return get_args(annotation)[1]
    if origin in (Union, types.UnionType):
        # A discriminated union puts the member's tag into the location: pick the member with that kind.
        for member in map(_unwrap, get_args(annotation)):
            if _is_model(member) and part in _kinds(member):
                return member
    return None


def _kinds(model: type[BaseModel]) -> tuple:
    field = model.model_fields.get("kind")
    return get_args(field.annotation) if field else ()


def _annotation_at(loc: tuple):
    annotation = Procedure
    for part in loc:
        annotation = _child(annotation, part)
        if annotation is None:
            return None
    return _unwrap(annotation)


def _model_fields_at(loc: tuple) -> list[str]:
    annotation = _annotation_at(loc)
    return list(annotation.model_fields) if _is_model(annotation) else []


def _union_tags(loc: tuple) -> list[str]:
    annotation = _annotation_at(loc)
    if get_origin(annotation) not in (Union, types.UnionType):
        return []
    return [tag for member in map(_unwrap, get_args(annotation)) if _is_model(member) for tag in _kinds(member)]
