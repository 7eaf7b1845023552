"""Replaying a session: a device that plays back a trace's recorded instrument commands, tick by tick.

A trace records a command only when it changed, so the command in effect at tick t is each instrument's latest
record at or before t. :meth:`ReplayDevice.read` returns the commands in effect at the current tick and then
advances one tick; the session reads it once per physics tick, exactly as it read the live device.
"""

from __future__ import annotations

import bisect
import os
from typing import Sequence

import numpy as np

from surgsim.devices.base import DeviceReading
from surgsim.instrument_command import Command
from surgsim.trace import CommandRecord, Trace, read_trace


class ReplayDevice:
    """Plays ``commands`` (in tick order, as a trace holds them) with a tick of ``dt_s`` [s]."""

    name = "replay"

    def __init__(self, commands: Sequence[CommandRecord], *, dt_s: float):
        if dt_s <= 0:
            raise ValueError("dt_s must be positive")
        self._records = sorted(commands, key=lambda record: record.tick)  # stable: same-tick order kept
        self._ticks = [record.tick for record in self._records]
        self.dt_s = float(dt_s)
        self.rate_hz = 1.0 / self.dt_s
        self.tick = 0
        self._applied = 0  # records[:_applied] are in effect
        self._current: dict[str, Command] = {}

    @classmethod
    def from_trace(cls, trace: Trace | str | os.PathLike) -> "ReplayDevice":
        """A replay of a trace (or of the trace file at that path)."""
        if not isinstance(trace, Trace):
            trace = read_trace(trace)
        return cls(trace.commands, dt_s=trace.header.dt_s)

    @property
    def last_command_tick(self) -> int:
        """The tick of the last recorded command (-1 when there is none)."""
        return self._ticks[-1] if self._ticks else -1

    @property
    def finished(self) -> bool:
        """True once every recorded command has been played."""
        return self._applied == len(self._records)

    def seek(self, tick: int) -> None:
        """Continue from ``tick`` (backwards too: the commands in effect are rebuilt)."""
        if tick < 0:
            raise ValueError("tick must be >= 0")
        if tick < self.tick:
            self._applied = 0
            self._current = {}
        self.tick = int(tick)

    def commands_at(self, tick: int) -> dict[str, Command]:
        """The command in effect for each instrument at ``tick`` (instruments not yet commanded are absent)."""
        current: dict[str, Command] = {}
        for record in self._records[:bisect.bisect_right(self._ticks, tick)]:
            current[record.instrument] = record.command
        return current

    # -- Device protocol ---------------------------------------------------------------------------------------------
    def open(self) -> None:
        """Nothing to connect."""

    def close(self) -> None:
        """Nothing to disconnect."""

    def write_force(self, force_n: np.ndarray) -> None:
        """A recording cannot be pushed; forces are ignored."""

    def read(self) -> DeviceReading:
        end = bisect.bisect_right(self._ticks, self.tick)
        for record in self._records[self._applied:end]:
            self._current[record.instrument] = record.command
        self._applied = max(self._applied, end)
        reading = DeviceReading(time_s=self.tick * self.dt_s, commands=dict(self._current))
        self.tick += 1
        return reading
