"""Opening devices with the mouse-and-keyboard fallback; the hardware drivers without their packages; replay."""

from __future__ import annotations

import hashlib
import logging
import sys

import numpy as np
import pytest

from surgsim.devices import DEVICE_KINDS, Device, open_device
from surgsim.devices.base import DeviceUnavailable
from surgsim.devices.force_dimension import ForceDimensionDevice
from surgsim.devices.mouse_keyboard import MouseKeyboard
from surgsim.devices.replay import ReplayDevice
from surgsim.devices.simulated import SimulatedHaptic
from surgsim.devices.spacemouse import SpaceMouseDevice
from surgsim.devices.touch import TouchDevice
from surgsim.errors import InputError
from surgsim.instrument_command import InstrumentCommand
from surgsim.trace import CommandRecord, TraceHeader, TraceWriter

INSTRUMENTS = ["grasper"]


class ExplodingDevice(SimulatedHaptic):
    def open(self):
        raise RuntimeError("firmware says no")


def test_a_device_that_raises_on_open_falls_back_to_the_mouse_with_one_line(caplog):
    with caplog.at_level(logging.WARNING, logger="surgsim.devices"):
        device = open_device(ExplodingDevice([[0, 0, 0]], name="arm"), instruments=INSTRUMENTS)
    assert isinstance(device, MouseKeyboard)
    assert device.instruments == ("grasper",)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1 and "\n" not in messages[0]
    assert "'arm' unavailable" in messages[0] and "firmware says no" in messages[0] and "mouse" in messages[0]


@pytest.mark.parametrize("kind, module, package", [
    ("touch", "pyOpenHaptics", "pyopenhaptics"),
    ("force_dimension", "forcedimension_core", "forcedimension-core"),
    ("spacemouse", "pyspacemouse", "pyspacemouse"),
])
def test_a_missing_driver_package_falls_back_naming_what_to_install(kind, module, package, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed, even where it is
    with caplog.at_level(logging.WARNING, logger="surgsim.devices"):
        device = open_device(kind, instruments=INSTRUMENTS)
    assert isinstance(device, MouseKeyboard)
    assert package in caplog.text and "surgsim[haptics]" in caplog.text


@pytest.mark.parametrize("driver, module", [(TouchDevice, "pyOpenHaptics"),
                                            (ForceDimensionDevice, "forcedimension_core"),
                                            (lambda: SpaceMouseDevice("grasper"), "pyspacemouse")])
def test_hardware_drivers_raise_device_unavailable_without_their_package(driver, module, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)
    device = driver()
    assert isinstance(device, Device)
    with pytest.raises(DeviceUnavailable, match="not installed"):
        device.open()


def test_the_requested_device_is_returned_when_it_opens():
    arm = SimulatedHaptic([[0, 0, 0]])
    assert open_device(arm, instruments=INSTRUMENTS) is arm and arm.is_open
    assert isinstance(open_device("mouse", instruments=INSTRUMENTS), MouseKeyboard)


def test_an_unknown_device_name_is_an_input_error():
    with pytest.raises(InputError, match=", ".join(DEVICE_KINDS)):
        open_device("joystick", instruments=INSTRUMENTS)


def command(yaw: float, jaw: float = 0.0) -> InstrumentCommand:
    return InstrumentCommand(pivot_yaw_rad=yaw, pivot_pitch_rad=0.0, insertion_m=0.05, roll_rad=0.0, jaw=jaw,
                             energy=False)


RECORDS = [
    CommandRecord(tick=0, instrument="a", command=command(0.0)),
    CommandRecord(tick=3, instrument="b", command=command(0.5)),
    CommandRecord(tick=5, instrument="a", command=command(0.1, jaw=1.0)),
    CommandRecord(tick=9, instrument="a", command=command(0.2)),
]


def test_replay_returns_the_command_in_effect_at_each_tick():
    replay = ReplayDevice(RECORDS, dt_s=0.001)
    readings = [replay.read() for _ in range(12)]
    for tick, reading in enumerate(readings):
        assert reading.time_s == pytest.approx(tick * 0.001)
        assert reading.commands == replay.commands_at(tick)
    assert readings[2].commands == {"a": command(0.0)}
    assert readings[4].commands == {"a": command(0.0), "b": command(0.5)}
    assert readings[5].commands["a"] == command(0.1, jaw=1.0)
    assert readings[11].commands == {"a": command(0.2), "b": command(0.5)}
    assert replay.finished and replay.last_command_tick == 9


def test_replay_can_seek_backwards():
    replay = ReplayDevice(RECORDS, dt_s=0.001)
    for _ in range(10):
        replay.read()
    replay.seek(4)
    assert replay.read().commands == {"a": command(0.0), "b": command(0.5)}
    assert not replay.finished


def test_replay_reads_a_trace_file(tmp_path):
    procedure = tmp_path / "task.yaml"
    procedure.write_text("name: task\n")
    header = TraceHeader.for_session(trace_path=tmp_path / "t.jsonl", procedure_path=procedure,
                                     procedure_sha256=hashlib.sha256(procedure.read_bytes()).hexdigest(),
                                     backend="cpu", dt_s=0.002, seed=0)
    with TraceWriter(tmp_path / "t.jsonl", header) as trace:
        for record in RECORDS:
            trace.write_command(record.tick, record.instrument, record.command)
        trace.write_end(12, "completed")
    replay = ReplayDevice.from_trace(tmp_path / "t.jsonl")
    assert replay.rate_hz == pytest.approx(500.0)
    readings = [replay.read() for _ in range(10)]
    assert readings[9].commands["a"] == command(0.2)
    assert readings[8].time_s == pytest.approx(0.016)
    replay.write_force(np.ones(3))  # accepted and ignored
