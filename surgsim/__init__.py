"""surgsim: a GPU-accelerated surgical training simulator.

Patient imaging becomes a tetrahedral mass-spring tissue model (:mod:`surgsim.mesh`), which a Taichi solver
(:mod:`surgsim.tissue`) simulates at the haptic rate. Coordinates are metres in the patient's RAS frame.
"""

__version__ = "0.1.0"
