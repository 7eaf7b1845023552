"""Organ names for the labels of a label map: TotalSegmentator's numbering, or a names file.

``surgsim mesh import CT_SEG --label liver,gallbladder`` names labels instead of numbering them. A name means:

- the id a names file gives it (``--label-names FILE``): one label a line, ``ID NAME ...`` (3D Slicer colour
  tables: ``5 liver 221 130 101 255``) or ``ID ... "NAME"`` (ITK-SNAP label descriptions:
  ``5 221 130 101 1 1 1 "liver"``); ``#`` starts a comment;
- otherwise its class id in TotalSegmentator v2's ``total`` task (:data:`TOTALSEGMENTATOR_TOTAL`, from
  ``totalsegmentator/map_to_binary.py``, ``class_map["total"]``), the numbering its label maps follow.

Names resolve to the ``NAME=ID`` form that :func:`surgsim.mesh.volume.parse_label_spec` reads, which then checks that
each id is in the label map (a map that does not follow TotalSegmentator's numbering lacks them, or has other organs
under them: give a names file, or ids).
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from surgsim.errors import InputError

# TotalSegmentator v2, task "total" (CT): the abdominal and thoracic organs and the large vessels. Bones and muscles
# (25-50, 69-117 but the spinal cord) are not soft tissue a procedure simulates; give their ids if you need them.
TOTALSEGMENTATOR_TOTAL = {
    "spleen": 1,
    "kidney_right": 2,
    "kidney_left": 3,
    "gallbladder": 4,
    "liver": 5,
    "stomach": 6,
    "pancreas": 7,
    "adrenal_gland_right": 8,
    "adrenal_gland_left": 9,
    "lung_upper_lobe_left": 10,
    "lung_lower_lobe_left": 11,
    "lung_upper_lobe_right": 12,
    "lung_middle_lobe_right": 13,
    "lung_lower_lobe_right": 14,
    "esophagus": 15,
    "trachea": 16,
    "thyroid_gland": 17,
    "small_bowel": 18,
    "duodenum": 19,
    "colon": 20,
    "urinary_bladder": 21,
    "prostate": 22,
    "kidney_cyst_left": 23,
    "kidney_cyst_right": 24,
    "heart": 51,
    "aorta": 52,
    "pulmonary_vein": 53,
    "brachiocephalic_trunk": 54,
    "subclavian_artery_right": 55,
    "subclavian_artery_left": 56,
    "common_carotid_artery_right": 57,
    "common_carotid_artery_left": 58,
    "brachiocephalic_vein_left": 59,
    "brachiocephalic_vein_right": 60,
    "atrial_appendage_left": 61,
    "superior_vena_cava": 62,
    "inferior_vena_cava": 63,
    "portal_vein_and_splenic_vein": 64,
    "iliac_artery_left": 65,
    "iliac_artery_right": 66,
    "iliac_vena_left": 67,
    "iliac_vena_right": 68,
    "spinal_cord": 79,
}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*")


def read_label_names(path: str | os.PathLike) -> dict[str, int]:
    """Name → label id from a names file (see the module's docstring); :class:`InputError` naming the file and line
    for anything else."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(path, f"cannot read this label names file: {getattr(error, 'strerror', None) or error}.")
    names: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            fields = shlex.split(line)
        except ValueError:
            fields = []
        quoted = re.search(r'"([^"]*)"', line)
        name = quoted.group(1).strip() if quoted else (fields[1] if len(fields) > 1 else "")
        if not fields or not fields[0].isdigit() or not name:
            raise InputError(path, f"line {number}: expected a label id and its name ('5 liver' or "
                                   f"'5 221 130 101 1 1 1 \"liver\"'), not '{line}'.")
        name = name.replace(" ", "_")
        if name.lower() in names:
            raise InputError(path, f"line {number}: the name '{name}' is given twice.")
        names[name.lower()] = int(fields[0])
    if not names:
        raise InputError(path, "names no labels; write one label a line: its id, then its name.")
    return names


def resolve_label_names(spec: str | None, names_file: str | os.PathLike | None = None) -> str | None:
    """``spec`` (a ``--label`` value) with every bare name replaced by ``NAME=ID``: ``"liver,gallbladder"`` →
    ``"liver=5,gallbladder=4"``. Ids and ``NAME=ID`` entries stay as they are."""
    if names_file is not None and spec is None:
        raise InputError("--label-names", "names labels for --label; give --label too, e.g. --label liver,gallbladder.")
    if spec is None:
        return None
    table = read_label_names(names_file) if names_file is not None else TOTALSEGMENTATOR_TOTAL
    where = (f"the names file {names_file}" if names_file is not None
             else "TotalSegmentator's numbering (task 'total'; --label-names FILE gives another)")
    resolved = []
    for item in spec.split(","):
        entry = item.strip()
        if "=" in entry or entry.isdigit() or not _NAME.fullmatch(entry):
            resolved.append(entry)  # an id, NAME=ID, or something parse_label_spec will explain
            continue
        label = table.get(entry.lower())
        if label is None:
            known = ", ".join(sorted(table)[:60])
            raise InputError("--label", f"'{entry}' is not a label name in {where}; known names: {known}. Or give "
                                        f"its id, e.g. {entry}=5.")
        resolved.append(f"{entry}={label}")
    return ",".join(resolved)
