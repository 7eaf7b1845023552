"""Coupling: the fixed per-tick order joining the rigid instruments (PyBullet) and the tissue (Taichi), and the
interactions between them (grasping, cutting, tearing, cautery, clipping, contact monitoring) that produce the event
stream.

Public API: :class:`Coupler` (see :mod:`surgsim.coupling.scene` for the order of a tick), :class:`CouplingOptions`,
the interaction classes :class:`Grasping`, :class:`Cutting`, :class:`Tearing`, :class:`Cautery`, :class:`Clipping`,
:class:`ContactMonitor`, and :class:`TissueTopology`.
"""

from surgsim.coupling.cautery import Cautery
from surgsim.coupling.clipping import Clipping
from surgsim.coupling.contact_monitor import ContactMonitor
from surgsim.coupling.cutting import Cutting
from surgsim.coupling.grasping import Grasping
from surgsim.coupling.options import CouplingOptions
from surgsim.coupling.scene import Coupler
from surgsim.coupling.tearing import Tearing
from surgsim.coupling.topology import TissueTopology

__all__ = ["Coupler", "CouplingOptions", "Grasping", "Cutting", "Tearing", "Cautery", "Clipping", "ContactMonitor",
           "TissueTopology"]
