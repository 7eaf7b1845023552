"""Rigid instruments and anatomy: the only package that imports PyBullet.

Public API: :class:`RigidWorld` (one PyBullet client in DIRECT mode; static anatomy; ``add_instrument``),
:class:`Instrument` (a laparoscopic instrument through a :class:`Trocar`, driven by
:class:`~surgsim.trace.InstrumentCommand`), :class:`ToolCapsule` (contact geometry), :class:`InstrumentSpec` and
:func:`load_spec` (dimensions from ``assets/instruments``), :data:`INSTRUMENT_KINDS`.
"""

from surgsim.instruments.instrument import Instrument, ToolCapsule
from surgsim.instruments.specs import INSTRUMENT_KINDS, InstrumentSpec, load_spec
from surgsim.instruments.trocar import Trocar
from surgsim.instruments.world import RigidWorld, StaticBody

__all__ = ["RigidWorld", "StaticBody", "Instrument", "ToolCapsule", "Trocar", "InstrumentSpec", "load_spec",
           "INSTRUMENT_KINDS"]
