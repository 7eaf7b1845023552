"""Reading inputs and writing outputs so that a bad path is one clear message and a failure never leaves a
half-written file behind.

Every output goes through :func:`atomic_output`, which turns the operating system's refusals (a read-only or full
file system, a folder in the way, a file where a folder should be) into :class:`OutputError`, an
:class:`~surgsim.errors.InputError` that the CLI reports as one paragraph with exit code 2.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import Iterator

from surgsim.errors import InputError

# What to add to the operating system's words for the refusals a user can act on.
_OUTPUT_ADVICE = {
    errno.EROFS: "the file system is read-only; write the file somewhere else.",
    errno.ENOSPC: "the disk is full; free some space or write the file somewhere else.",
    getattr(errno, "EDQUOT", -1): "the disk quota is used up; free some space or write the file somewhere else.",
    errno.EACCES: "you may not write there; choose a folder you own.",
    errno.EPERM: "you may not write there; choose a folder you own.",
    errno.ENAMETOOLONG: "the name is too long for this file system; choose a shorter one.",
}


class OutputError(InputError):
    """An output file that cannot be written where the user asked; nothing was written."""


def special_file_kind(path: Path) -> str | None:
    """What ``path`` is when it exists but is not a regular file ("a folder", "a named pipe (FIFO)", ...), else None.

    Follows symbolic links. Reading a FIFO or a character device would block or never end, so inputs are checked
    with this before they are opened.
    """
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def input_file_problem(path: str | os.PathLike, what: str = "file", *, missing: str | None = None) -> str | None:
    """Why ``path`` cannot be read as an input ``what`` ("procedure file", "trace file"), or None when it is a
    regular file. ``missing`` replaces the default "no such <what>." for a path that does not exist."""
    path = Path(path)
    kind = special_file_kind(path)
    if kind is not None:
        return f"is {kind}, not a {what}."
    try:
        path.stat()
    except FileNotFoundError:
        return missing or f"no such {what}."
    except OSError as error:
        return f"cannot be read: {error.strerror or error}."
    except ValueError:  # an embedded NUL byte
        return f"is not a usable {what} name."
    return None


def require_input_file(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` as a Path; :class:`InputError` when it is missing, a folder, a FIFO or a device."""
    problem = input_file_problem(path, what)
    if problem:
        raise InputError(path, problem)
    return Path(path)


def output_problem(error: OSError) -> str:
    """One sentence on why an output could not be written, with advice for the refusals a user can act on."""
    reason = error.strerror or str(error)
    advice = _OUTPUT_ADVICE.get(error.errno, "")
    return f"cannot be written ({reason}){'; ' + advice if advice else '.'}"


def prepare_output(path: str | os.PathLike) -> Path:
    """Check that ``path`` can become a file and create its folder; :class:`OutputError` when it cannot.

    Refuses a folder, a device or a FIFO at ``path`` (replacing a device node as root would be a disaster) and a
    parent path that runs through a file (``model.npz/x.npz``).
    """
    target = Path(path)
    kind = special_file_kind(target)
    if kind is not None:
        raise OutputError(target, f"is {kind}; give the name of a file to write.")
    for parent in reversed(target.parents):
        if parent.exists() and not parent.is_dir():
            raise OutputError(target, f"cannot be written: {parent} is a file, not a folder.")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(target, output_problem(error)) from None
    return target


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary file keeps ``path``'s suffix (or ``suffix``) because some writers (numpy, VTK) choose the format
    from it. An OSError while creating, writing or renaming it (read-only or full file system, no permission)
    becomes :class:`OutputError` naming ``path``.
    """
    target = prepare_output(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or target.suffix, dir=target.parent)
    except OSError as error:
        raise OutputError(target, output_problem(error)) from None
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates the file owner-only; give the result the permissions a plain open() would have.
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)
        yield tmp
        os.replace(tmp, target)
    except OSError as error:
        raise OutputError(target, output_problem(error)) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
