"""ARCHITECTURE.md's floors: no import in surgsim runs back up a floor (deferred imports inside functions included)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "surgsim"



def _floors() -> dict[str, int]:
    """ARCHITECTURE.md's table: each top-level module or package (the backticked names of a row) → its floor."""
    floors = {}
    for line in (PACKAGE.parent / "ARCHITECTURE.md").read_text().splitlines():
        match = re.match(r"\| (\d) \| (.*?) \|", line)
        if match:
            for name in re.findall(r"`([^`]+)`", match.group(2)):
                floors[name.removesuffix("/").removesuffix(".py")] = int(match.group(1))
    return floors


FLOORS = _floors()


def _room(module: str) -> str | None:
    """The top-level room of a dotted surgsim module name (None for the package root itself)."""
    parts = module.split(".")
    return parts[1] if parts[0] == "surgsim" and len(parts) > 1 else None


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported surgsim module) of every import in the file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("surgsim.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "surgsim":  # from surgsim import tissue: the names are rooms
                found += [(node.lineno, f"surgsim.{alias.name}") for alias in node.names]
            elif node.module.startswith("surgsim."):
                found.append((node.lineno, node.module))
    return found


def _modules():
    return sorted(path for path in PACKAGE.rglob("*.py") if path.parent != PACKAGE or path.name != "__init__.py")


def test_every_room_has_a_floor():
    rooms = {(path.relative_to(PACKAGE).parts[0]).removesuffix(".py") for path in _modules()}
    assert rooms <= set(FLOORS), f"rooms without a floor in ARCHITECTURE.md: {sorted(rooms - set(FLOORS))}"


@pytest.mark.parametrize("path", _modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_import_runs_up_a_floor(path):
    room = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    upward = [f"line {line}: {module} (floor {FLOORS[_room(module)]})" for line, module in _imports(path)
              if _room(module) in FLOORS and FLOORS[_room(module)] > FLOORS[room]]
    assert not upward, f"{path.relative_to(PACKAGE)} (floor {FLOORS[room]}) imports from above: {upward}"


def test_devices_never_import_rendering():
    for path in (PACKAGE / "devices").glob("*.py"):
        assert not [module for _, module in _imports(path) if _room(module) == "render"], path.name
