"""A private X server (Xvfb) for rendering on machines without a screen: CI, benchmarks, headless recording.

::

    with VirtualDisplay(1280, 720):          # sets DISPLAY for this process while it runs
        viewer = OffscreenViewer(1280, 720)

Xvfb picks a free display number itself (``-displayfd``), so parallel test workers never collide. With Mesa
installed, OpenGL then runs on the CPU (llvmpipe).
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import tempfile
import time

from surgsim.errors import InputError

START_TIMEOUT_S = 10.0


class VirtualDisplay:
    """Runs ``Xvfb`` for the lifetime of the object (or ``with`` block) and points ``DISPLAY`` at it."""

    def __init__(self, width: int = 1280, height: int = 720, *, depth: int = 24):
        self.geometry = f"{int(width)}x{int(height)}x{int(depth)}"
        self.display: str | None = None
        self._process: subprocess.Popen | None = None
        self._log = None
        self._previous_display: str | None = None

    @staticmethod
    def available() -> bool:
        """Whether the Xvfb program is installed (Debian/Ubuntu: ``apt-get install xvfb``)."""
        return shutil.which("Xvfb") is not None

    def start(self) -> str:
        """Start the server and set ``DISPLAY``; returns the display name (":N")."""
        executable = shutil.which("Xvfb")
        if executable is None:
            raise InputError("Xvfb", "no virtual X server installed; on Debian/Ubuntu: apt-get install xvfb.")
        read_end, write_end = os.pipe()
        # A file, not a pipe, for Xvfb's chatter (keymap warnings): a full pipe would block the server.
        self._log = tempfile.TemporaryFile()
        try:
            self._process = subprocess.Popen(
                [executable, "-displayfd", str(write_end), "-screen", "0", self.geometry, "-nolisten", "tcp",
                 "-noreset"],
                pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=self._log,
            )
            os.close(write_end)
            write_end = -1
            number = self._read_display_number(read_end)
        except OSError:
            self._stop_process()
            raise
        finally:
            if write_end != -1:
                os.close(write_end)
            os.close(read_end)
        self.display = f":{number}"
        self._previous_display = os.environ.get("DISPLAY")
        os.environ["DISPLAY"] = self.display
        return self.display

    def _read_display_number(self, fd: int) -> int:
        text = b""
        deadline = time.monotonic() + START_TIMEOUT_S
        while not text.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(0.0, remaining))
            chunk = os.read(fd, 64) if ready else b""
            if not chunk:
                error = self._stop_process()
                raise RuntimeError(f"Xvfb did not start: {error or 'no display number within the timeout'}")
            text += chunk
        return int(text.strip())

    def _stop_process(self) -> str:
        """Terminate the server (if it started) and return the last line of its error output."""
        if self._process is None:
            if self._log is not None:
                self._log.close()
                self._log = None
            return ""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.seek(0)
        stderr = self._log.read().decode(errors="replace").strip()
        self._log.close()
        self._log = None
        self._process = None
        return stderr.splitlines()[-1] if stderr else ""

    def stop(self) -> None:
        """Stop the server and restore the previous ``DISPLAY``."""
        if self._process is None:
            return
        self._stop_process()
        if self.display is not None and os.environ.get("DISPLAY") == self.display:
            if self._previous_display is None:
                os.environ.pop("DISPLAY", None)
            else:
                os.environ["DISPLAY"] = self._previous_display
        self.display = None

    def __enter__(self) -> "VirtualDisplay":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
