"""The tool-contact pass's data layout, declared once: the host (:mod:`surgsim.tissue.tool_contact`), the kernel
(:mod:`surgsim.tissue.kernels_tool_contact`) and the NumPy twin of the tests all import it, and it imports nothing of
theirs.

The pass exchanges one float64 array with the host per tick, ``io`` (:data:`IO_WIDTH` columns): row
:data:`ROW_HEADER` the scalars (``H_*`` columns), rows :data:`ROW_FLOAT_SECTIONS` and :data:`ROW_INT_SECTIONS` the
section offsets of the pass's two device buffers, row :data:`ROW_BOUNDS` the boxes around the capsules (``B_*``; the
kernel writes them), then one row per capsule (``C_*`` columns), the cutter triangles (``CUT_*``), and the output rows
the kernel fills: one per capsule (``OUT_*``), one per grasp group (``GRASP_*``), one of counters (``COUNT_*``).
The pass's own arrays are sections of one float64 and one int32 device buffer (:data:`FLOAT_SECTIONS`,
:data:`INT_SECTIONS`; ``F_*`` and ``I_*`` are their positions).

Every column number below is generated from the declared order and widths (:func:`columns`): adding a field means
adding its name where it belongs, never renumbering by hand.
"""

from __future__ import annotations


def columns(*fields) -> tuple[int, ...]:
    """The first column of each field of a row, in order; a field is a name (one column) or (name, width)."""
    starts, at = [], 0
    for field in fields:
        width = field[1] if isinstance(field, tuple) else 1
        starts.append(at)
        at += width
    return tuple(starts)


def row_width(*fields) -> int:
    """How many columns the fields take."""
    return sum(field[1] if isinstance(field, tuple) else 1 for field in fields)


IO_WIDTH = 20  # columns of the io array; every row group below must fit (checked at import)

# -- rows of the io array --------------------------------------------------------------------------------------------
ROWS = ("header", "float_sections", "int_sections", "bounds")
ROW_HEADER, ROW_FLOAT_SECTIONS, ROW_INT_SECTIONS, ROW_BOUNDS = columns(*ROWS)
ROW_CAPSULES = len(ROWS)  # then the capsules, the cutter triangles and the output rows

# -- row ROW_HEADER: the pass's scalars ------------------------------------------------------------------------------
# node_lo..spring_hi: the solver's awake window (TissueControl.set_awake): the pass leaves the resting nodes, their
# springs and their surface triangles alone (no instrument is near a sleeping organ).
HEADER = ("dt", "skin", "burn_rate", "capsules", "cutters", "grasps", "triangles", "grasped", "springs",
          ("gravity", 3), "spring_count", "tear_checks", "output_row", "tet_count", "node_lo", "node_hi", "spring_lo",
          "spring_hi")
(H_DT, H_SKIN, H_BURN_RATE, H_CAPSULES, H_CUTTERS, H_GRASPS, H_TRIANGLES, H_GRASPED, H_SPRINGS, H_GRAVITY,
 H_SPRING_COUNT, H_TEAR_CHECKS, H_OUTPUT_ROW, H_TET_COUNT, H_NODE_LO, H_NODE_HI, H_SPRING_LO,
 H_SPRING_HI) = columns(*HEADER)

# -- row ROW_BOUNDS: the box around the capsules that sense or push, and the box around those that push ------------
BOUNDS = (("reach_lo", 3), ("reach_hi", 3), ("push_lo", 3), ("push_hi", 3))
B_REACH_LO, B_REACH_HI, B_PUSH_LO, B_PUSH_HI = columns(*BOUNDS)

# -- a capsule row (see tool_contact.capsule_row) ----------------------------------------------------------------------
CAPSULE = (("p0", 3), ("p1", 3), "radius", ("p0_before", 3), ("p1_before", 3), "friction", "flags")
C_P0, C_P1, C_RADIUS, C_P0_BEFORE, C_P1_BEFORE, C_FRICTION, C_FLAGS = columns(*CAPSULE)
CAPSULE_ENABLED = 1  # pushes tissue
CAPSULE_ENERGIZED = 2  # burns what it touches
CAPSULE_SENSE = 4  # without ENABLED: only counts the triangles within reach (jaws closing through tissue)

# -- a cutter triangle row (the area a scissors blade swept) ---------------------------------------------------------
CUTTER = (("a", 3), ("b", 3), ("c", 3))
CUT_A, CUT_B, CUT_C = columns(*CUTTER)

# -- output rows: one per capsule, one per grasp group, one of counters ----------------------------------------------
OUTPUT = (("force", 3), ("point", 3), "weight", "count", "strongest", "strongest_force", "energized", "sensed")
OUT_FORCE, OUT_POINT, OUT_WEIGHT, OUT_COUNT, OUT_STRONGEST, OUT_STRONGEST_FORCE, OUT_ENERGIZED, OUT_SENSED = columns(
    *OUTPUT)
GRASP = (("force", 3), "count")
GRASP_FORCE, GRASP_COUNT = columns(*GRASP)
COUNTERS = ("torn", "cut", "charred", ("force", 3))
COUNT_TORN, COUNT_CUT, COUNT_CHARRED, COUNT_FORCE = columns(*COUNTERS)

# -- the pass's device arrays: sections of one float64 and one int32 buffer (few kernel arguments, one compilation) --
# near_offsets / near / near_weight: each tet's tear neighbourhood (the tets whose rest centroids lie within the tear
# length of its own, itself included, with their rest volumes), CSR (tool_contact.tear_neighbourhoods).
FLOAT_SECTIONS = ("mass", "drag", "param", "burn", "normal", "push", "x_step", "rest", "failure_stretch", "entries",
                  "rest_inverse", "cap", "near_weight")
(F_MASS, F_DRAG, F_PARAM, F_BURN, F_NORMAL, F_PUSH, F_X_STEP, F_REST, F_FAILURE_STRETCH, F_ENTRIES, F_REST_INVERSE,
 F_CAP, F_NEAR_WEIGHT) = columns(*FLOAT_SECTIONS)
INT_SECTIONS = ("capsule", "springs", "active", "flags", "overstrained", "offsets", "neighbors",
                "triangles", "tri_mask", "grasp_nodes", "grasp_group", "tets", "tet_live", "tet_flags", "gripped",
                "near_offsets", "near")
(I_CAPSULE, I_SPRINGS, I_ACTIVE, I_FLAGS, I_OVERSTRAINED, I_OFFSETS, I_NEIGHBORS, I_TRIANGLES,
 I_TRI_MASK, I_GRASP_NODES, I_GRASP_GROUP, I_TETS, I_TET_LIVE, I_TET_FLAGS, I_GRIPPED, I_NEAR_OFFSETS,
 I_NEAR) = columns(*INT_SECTIONS)

# Spring flags: 0 untouched, FLAG_CUT0 + k crossed by cutter k. Tet flags: 0, or FLAG_TORN (over-strained long enough).
FLAG_TORN = 1
FLAG_CUT0 = 2

SETTLED_FOLD = 0.3  # a tet settled below this share of its rest volume is no strain reference (set_strain_reference)
MAX_CAPSULES = 31  # a bit mask per triangle

