"""Where a procedure's asset paths point, and the rule that keeps them inside the project.

A path in a procedure (a mesh, a label map) is written relative to the procedure file. After resolving ``..`` and
symbolic links it must lie inside one of the asset roots:

- the project's ``assets/`` and ``procedures/`` folders: those of the surgsim checkout, and, for a procedure kept in a
  folder named ``procedures/`` elsewhere (an instructor's own course folder), that folder and its sibling ``assets/``;
- the procedure file's own folder (and below).

A procedure shared by someone else therefore cannot make surgsim read arbitrary files on the trainee's machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import surgsim

CHECKOUT_ROOT = Path(surgsim.__file__).resolve().parent.parent


def asset_roots(procedure_path: str | os.PathLike) -> tuple[Path, ...]:
    """The folders that assets of the procedure at ``procedure_path`` may come from (resolved)."""
    procedure_folder = Path(procedure_path).resolve().parent
    roots = [CHECKOUT_ROOT / "assets", CHECKOUT_ROOT / "procedures", procedure_folder]
    if procedure_folder.name == "procedures":
        roots.append(procedure_folder.parent / "assets")
    return tuple(dict.fromkeys(root.resolve() for root in roots))


class AssetPathError(ValueError):
    """An asset path that is absolute, escapes the asset roots, or names nothing."""


def resolve_asset(procedure_path: str | os.PathLike, written: str) -> Path:
    """The file that ``written`` (as written in the procedure at ``procedure_path``) refers to.

    Raises :class:`AssetPathError` with a sentence saying what is wrong and what is accepted.
    """
    if not written.strip():
        raise AssetPathError("the path is empty.")
    if Path(written).is_absolute():
        raise AssetPathError(f"'{written}' is absolute; write it relative to the procedure file.")
    procedure_folder = Path(procedure_path).resolve().parent
    resolved = (procedure_folder / written).resolve()
    roots = asset_roots(procedure_path)
    if not any(resolved.is_relative_to(root) for root in roots):
        raise AssetPathError(
            f"'{written}' resolves to {resolved}, outside the asset roots ({', '.join(str(r) for r in roots)})."
        )
    if not resolved.is_file():
        raise AssetPathError(f"'{written}' does not exist (looked for {resolved}).")
    return resolved
