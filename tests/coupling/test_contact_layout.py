"""The contact pass's buffer layout (surgsim.tissue.contact_layout): generated columns, every group fits the io
array, and the fields the host packs land where the kernel reads them."""

from __future__ import annotations

import numpy as np

from surgsim.tissue import contact_layout as L
from surgsim.tissue.tool_contact import capsule_row


def test_columns_follow_the_declared_widths():
    assert L.columns("a", ("b", 3), "c") == (0, 1, 4)
    assert L.row_width("a", ("b", 3), "c") == 5


def test_every_row_group_fits_the_io_array():
    for group in (L.HEADER, L.BOUNDS, L.CAPSULE, L.CUTTER, L.OUTPUT, L.GRASP, L.COUNTERS):
        assert L.row_width(*group) <= L.IO_WIDTH, group
    # the section offsets are stored one per column of rows ROW_FLOAT_SECTIONS and ROW_INT_SECTIONS
    assert len(L.FLOAT_SECTIONS) <= L.IO_WIDTH and len(L.INT_SECTIONS) <= L.IO_WIDTH
    assert L.ROW_CAPSULES == len(L.ROWS)


def test_section_indices_name_their_sections():
    assert L.FLOAT_SECTIONS[L.F_BURN] == "burn" and L.FLOAT_SECTIONS[L.F_CAP] == "cap"
    assert L.INT_SECTIONS[L.I_TET_FLAGS] == "tet_flags" and L.INT_SECTIONS[L.I_GRASP_GROUP] == "grasp_group"


def test_capsule_row_packs_the_declared_columns():
    row = capsule_row((1, 2, 3), (4, 5, 6), 0.5, before=((7, 8, 9), (10, 11, 12)), friction=0.3, energized=True)
    assert row.shape == (L.IO_WIDTH,)
    assert np.array_equal(row[L.C_P0:L.C_P0 + 3], [1, 2, 3]) and np.array_equal(row[L.C_P1:L.C_P1 + 3], [4, 5, 6])
    assert row[L.C_RADIUS] == 0.5 and row[L.C_FRICTION] == 0.3
    assert np.array_equal(row[L.C_P0_BEFORE:L.C_P0_BEFORE + 3], [7, 8, 9])
    assert np.array_equal(row[L.C_P1_BEFORE:L.C_P1_BEFORE + 3], [10, 11, 12])
    assert int(row[L.C_FLAGS]) == L.CAPSULE_ENABLED | L.CAPSULE_ENERGIZED
