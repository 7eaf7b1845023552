"""Regenerate the shipped meshes in assets/meshes/ from the openly licensed candidates in ../shared/assets-candidates.

    python tools/build_assets.py [--source DIR] [--output DIR]

- liver.stl: SOFA share/mesh/liver-smooth.obj, repaired with pymeshfix (it self-intersects) and scaled ×0.03 to metres;
- gallbladder.stl: LapGym (sofa_env) gallbladder_visual.stl, millimetres → metres, decimated to 3,000 points;
- abdomen_ct_seg.nii.gz: TotalSegmentator's example label map, copied unchanged;
- liver.npz, gallbladder.npz: tissue models imported from the two surfaces;
- the three licence texts, copied unchanged. ATTRIBUTION.md is written by hand.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import pyvista as pv

from surgsim.fileio import atomic_output
from surgsim.mesh.pipeline import import_model
from surgsim.mesh.surface import (
    clean_surface,
    decimate_surface,
    make_watertight,
    read_mesh_file,
    repair_surface,
    triangle_array,
)

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPOSITORY.parent / "shared" / "assets-candidates"
DEFAULT_OUTPUT = REPOSITORY / "assets" / "meshes"

SOFA_LIVER_SCALE_TO_METRES = 0.03  # liver-smooth.obj is in unnamed units, 6.4 wide; x0.03 gives a 19 cm liver
GALLBLADDER_SURFACE_POINTS = 3000
LIVER_MODEL_TARGET_NODES = 3000  # the solver's liver scenes need at least 2,000 nodes
GALLBLADDER_MODEL_TARGET_NODES = 1000

COPIED_UNCHANGED = {
    "totalsegmentator-example/example_seg.nii.gz": "abdomen_ct_seg.nii.gz",
    "sofa-framework/LICENSE-LGPL.md": "LICENSE.sofa-framework.LGPL-2.1.md",
    "lapgym-sofa_env/LICENSE.sofa_env.MIT.txt": "LICENSE.sofa_env.MIT.txt",
    "totalsegmentator-example/LICENSE.Apache-2.0.txt": "LICENSE.TotalSegmentator.Apache-2.0.txt",
}


def build_liver_surface(source: Path) -> pv.PolyData:
    path = source / "sofa-framework" / "liver-smooth.obj"
    raw = read_mesh_file(path).scale(SOFA_LIVER_SCALE_TO_METRES)
    # The surface is closed but self-intersects, which only tetgen notices; repair unconditionally.
    return make_watertight(repair_surface(clean_surface(raw, source=path), source=path), source=path)


def build_gallbladder_surface(source: Path) -> pv.PolyData:
    path = source / "lapgym-sofa_env" / "grasp_lift_touch_gallbladder_visual.stl"
    raw = read_mesh_file(path).scale(1e-3)
    surface = make_watertight(clean_surface(raw, source=path), source=path)
    return decimate_surface(surface, GALLBLADDER_SURFACE_POINTS)


def write_binary_stl(surface: pv.PolyData, path: Path) -> None:
    # Rebuilt from bare arrays so that no normals or other point data are carried into the file.
    bare = pv.PolyData.from_regular_faces(np.asarray(surface.points), triangle_array(surface))
    with atomic_output(path) as tmp:
        bare.save(tmp, binary=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help=f"default {DEFAULT_SOURCE}")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"default {DEFAULT_OUTPUT}")
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)

    for relative, name in COPIED_UNCHANGED.items():
        shutil.copyfile(args.source / relative, args.output / name)

    surfaces = {
        "liver": (build_liver_surface(args.source), LIVER_MODEL_TARGET_NODES),
        "gallbladder": (build_gallbladder_surface(args.source), GALLBLADDER_MODEL_TARGET_NODES),
    }
    for name, (surface, target_nodes) in surfaces.items():
        stl = args.output / f"{name}.stl"
        write_binary_stl(surface, stl)
        model = import_model(stl, target_nodes=target_nodes, use_cache=False)
        model.save(args.output / f"{name}.npz")
        print(f"{name}: {surface.n_points:,} surface points, model of {model.node_count:,} nodes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
