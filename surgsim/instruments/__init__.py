"""Rigid instruments and anatomy: the only package that imports PyBullet.

Public API: :class:`RigidWorld` (one PyBullet client in DIRECT mode; static anatomy; ``add_instrument``,
``add_free_instrument``), :class:`Instrument` (a laparoscopic instrument through a :class:`Trocar`, driven by
:class:`~surgsim.instrument_command.InstrumentCommand`), :class:`FreeInstrument` (an open-surgery instrument moved freely in
6 DOF, driven by :class:`~surgsim.instrument_command.FreePoseCommand`), :class:`InstrumentBase` (what both show the coupling),
:class:`ToolCapsule` (contact geometry), :class:`InstrumentSpec` and :func:`load_spec` (dimensions from
``assets/instruments``), :data:`INSTRUMENT_KINDS`.
"""

from surgsim.quiet import import_pybullet

import_pybullet()  # first, so that the modules below get it without its start-up banner

from surgsim.instruments.free_instrument import FreeInstrument
from surgsim.instruments.instrument import Instrument
from surgsim.instruments.specs import INSTRUMENT_KINDS, InstrumentSpec, load_spec
from surgsim.instruments.tool import InstrumentBase, ToolCapsule
from surgsim.instruments.trocar import Trocar
from surgsim.instruments.world import RigidWorld, StaticBody

__all__ = ["RigidWorld", "StaticBody", "Instrument", "FreeInstrument", "InstrumentBase", "ToolCapsule", "Trocar",
           "InstrumentSpec", "load_spec", "INSTRUMENT_KINDS"]
