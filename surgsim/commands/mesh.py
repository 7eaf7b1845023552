"""`surgsim mesh import` (surface, tet mesh or label map → tissue model .npz) and `surgsim mesh info`."""

from __future__ import annotations

import argparse
import contextlib
import logging
import time
from pathlib import Path
from typing import Iterator

IMPORT_EXAMPLES = """\
examples:
  surgsim mesh import assets/meshes/liver.stl -o liver.npz --target-nodes 3000
  surgsim mesh import liver-smooth.obj --scale 0.03 -o liver.npz        file units × 0.03 = metres
  surgsim mesh import organ.stl --units mm --material liver -o organ.npz
  surgsim mesh import assets/meshes/abdomen_ct_seg.nii.gz --label liver=5,gallbladder=4 -o organs.npz
  surgsim mesh import ct_seg.nii.gz --label liver,gallbladder --target-nodes liver=3000,gallbladder=800 -o organs.npz
  surgsim mesh import seg.nrrd --label liver,gallbladder --label-names labels.txt -o organs.npz

Label names: TotalSegmentator's class names (task 'total': liver 5, gallbladder 4, spleen 1, ...) when the label map
follows its numbering, else the names of a names file (--label-names: 'ID NAME' a line, as 3D Slicer colour tables
write them, or ITK-SNAP label descriptions). A label that touches the edge of the scan is imported with a warning:
the organ was cut off there.

Surfaces (.stl .obj .ply .vtp .vtk) are repaired if needed, remeshed and filled with well-shaped tetrahedra (gmsh);
tetrahedral meshes (.vtu, .vtk unstructured grids) are used as they are; label maps (.nii .nii.gz .nrrd .nhdr, a
DICOM folder or .dcm) give one region per label. Results are cached (SURGSIM_CACHE_DIR, default ~/.cache/surgsim/models).
"""

INFO_EXAMPLES = """\
example:
  surgsim mesh info assets/meshes/liver.npz
"""


def register(subparsers) -> None:
    from surgsim.mesh.pipeline import DEFAULT_SMOOTHING_ITERATIONS, DEFAULT_TARGET_NODES
    from surgsim.mesh.tetrahedralize import MAX_TARGET_NODES, MIN_TARGET_NODES

    mesh = subparsers.add_parser(
        "mesh",
        help="turn organ surfaces or label maps into tissue models; show a model's figures",
        description="Import organ geometry as a tetrahedral mass-spring tissue model, or describe a model file.",
        epilog=IMPORT_EXAMPLES.split("\n\n")[0] + "\n  surgsim mesh info liver.npz",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mesh.set_defaults(func=lambda args: _print_help(mesh))
    commands = mesh.add_subparsers(dest="mesh_command", metavar="SUBCOMMAND")

    importer = commands.add_parser(
        "import",
        help="surface, tetrahedral mesh or label map → tissue model (.npz)",
        description="Turn an organ surface, tetrahedral mesh or segmentation label map into a tissue model file.",
        epilog=IMPORT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    importer.add_argument("input", type=Path, metavar="INPUT", help="surface, tet mesh, label map or DICOM folder")
    importer.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.npz", help="model file to write")
    importer.add_argument(
        "--label",
        metavar="SPEC",
        help="label map only: which labels, e.g. '5', 'liver=5,gallbladder=4' or 'liver,gallbladder' "
             "(TotalSegmentator's names, or --label-names'; default: all, named label_<id>)",
    )
    importer.add_argument(
        "--label-names",
        type=Path,
        metavar="FILE",
        help="label map only: the names of its labels, 'ID NAME' a line (a 3D Slicer colour table, an ITK-SNAP "
             "label description), for a map that does not follow TotalSegmentator's numbering",
    )
    importer.add_argument(
        "--target-nodes",
        default=str(DEFAULT_TARGET_NODES),
        metavar="N",
        help=f"node count to aim for, {MIN_TARGET_NODES}..{MAX_TARGET_NODES:,} (default {DEFAULT_TARGET_NODES:,}), "
             "or one per label: liver=3000,gallbladder=800",
    )
    importer.add_argument(
        "--material",
        metavar="NAME",
        help="material of every region (default: from the file name, or from each label's name)",
    )
    importer.add_argument(
        "--units",
        choices=("m", "cm", "mm"),
        help="unit of a surface file's coordinates (default: mm if it is over 5 units across, else m)",
    )
    importer.add_argument("--scale", type=float, metavar="F", help="multiply a surface's coordinates by F")
    importer.add_argument(
        "--smoothing",
        type=int,
        default=DEFAULT_SMOOTHING_ITERATIONS,
        metavar="N",
        help=f"label map only: smoothing iterations of each label surface (default {DEFAULT_SMOOTHING_ITERATIONS})",
    )
    importer.add_argument("--no-cache", action="store_true", help="rebuild even if a cached model exists")
    importer.add_argument("--force", action="store_true", help="replace OUT.npz if it exists")
    importer.set_defaults(func=run_import)

    info = commands.add_parser(
        "info",
        help="counts, size, volume, mass and mesh quality of a model file",
        description="Show a tissue model's counts, regions, size, volume, mass and mesh quality.",
        epilog=INFO_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    info.add_argument("model", type=Path, metavar="FILE.npz", help="model written by 'surgsim mesh import'")
    info.set_defaults(func=run_info)


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def run_import(args) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from surgsim.errors import InputError
    from surgsim.fileio import prepare_output
    from surgsim.mesh.pipeline import CACHED_STAGE, PIPELINE_STAGES, import_model

    output = args.output
    if output.suffix.lower() != ".npz":
        raise InputError(output, "the model file name must end in .npz.")
    if output.is_dir():
        raise InputError(output, "is a folder; give the name of the .npz model file to write.")
    prepare_output(output)  # before the import, which can take minutes: a file in the folder path, a device
    if output.exists() and not args.force:
        raise InputError(output, "exists already; pass --force to replace it, or choose another -o name.")

    stages = PIPELINE_STAGES + ("save",)
    errors = Console(stderr=True)
    started = time.perf_counter()
    from_cache = False
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<15}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
        # Off a terminal (pipes, logs, CI) a bar is only noise.
        disable=not errors.is_terminal,
    ) as bar, _log_notes_to(errors):
        task = bar.add_task(stages[0], total=len(stages))

        def show_stage(stage: str) -> None:
            nonlocal from_cache
            if stage == CACHED_STAGE:
                from_cache = True
                bar.update(task, completed=len(PIPELINE_STAGES), description="cached")
            else:
                bar.update(task, completed=stages.index(stage), description=stage)

        model = import_model(
            args.input,
            labels=args.label,
            label_names=args.label_names,
            target_nodes=args.target_nodes,
            material=args.material,
            units=args.units,
            scale=args.scale,
            smoothing=args.smoothing,
            use_cache=not args.no_cache,
            progress=show_stage,
        )
        show_stage("save")
        model.save(output)
        bar.update(task, completed=len(stages))

    elapsed = time.perf_counter() - started
    if from_cache:  # the import's own warnings were given when it was made; the cut-off ones matter every time
        for name, edges in model.metadata.get("cut_off_by_scan_edge", {}).items():
            errors.print(f"warning: {name} touches the edge of the scan ({', '.join(edges)}): the organ is cut off "
                         "there.", markup=False, highlight=False, soft_wrap=True)
    regions = ", ".join(model.region_names)
    print(
        f"wrote {output}: {model.node_count:,} nodes, {model.tet_count:,} tets, {model.spring_count:,} springs, "
        f"regions {regions}, {model.volume() * 1e6:,.1f} ml, {model.masses.sum() * 1e3:,.1f} g "
        f"in {elapsed:.2f} s{' (cached)' if from_cache else ''}"
    )
    return 0


@contextlib.contextmanager
def _log_notes_to(console) -> Iterator[None]:
    """Show surgsim's info and warning log messages (unit guesses, repairs) as notes while a command runs.

    The mesher retries with other versions of a surface and repairs each one it tries, so the same kind of note
    about the same input can come several times with slightly different numbers; the user is told once.
    """

    class ConsoleNotes(logging.Handler):
        def __init__(self, level: int):
            super().__init__(level)
            self.shown: set[tuple] = set()

        def emit(self, record: logging.LogRecord) -> None:
            args = record.args if isinstance(record.args, tuple) else ()
            kind_of_note = (record.levelno, str(record.msg), str(args[0]) if args else "")
            if kind_of_note in self.shown:
                return
            self.shown.add(kind_of_note)
            kind = "warning" if record.levelno >= logging.WARNING else "note"
            console.print(f"{kind}: {record.getMessage()}", markup=False, highlight=False, soft_wrap=True)

    logger = logging.getLogger("surgsim")
    handler = ConsoleNotes(level=logging.INFO)
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


def run_info(args) -> int:
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from surgsim.mesh.model import TissueModel
    from surgsim.mesh.quality import (
        MAX_SPRING_OVER_MEDIAN_GOAL,
        MIN_DIHEDRAL_GOAL_DEG,
        mesh_quality,
        quality_shortfall,
    )

    model = TissueModel.load(args.model)
    quality = mesh_quality(model)
    lower, upper = model.positions.min(axis=0) * 1e3, model.positions.max(axis=0) * 1e3
    size = upper - lower

    summary = Table(title=f"{args.model}", show_header=False)
    summary.add_column("quantity")
    summary.add_column("value", justify="right")
    rows = [
        ("nodes", f"{model.node_count:,}"),
        ("tetrahedra", f"{model.tet_count:,}"),
        ("springs", f"{model.spring_count:,}"),
        ("surface triangles", f"{len(model.surface_triangles):,}"),
        ("size", f"{size[0]:.1f} x {size[1]:.1f} x {size[2]:.1f} mm"),
        ("bounding box", f"({_mm(lower)}) to ({_mm(upper)}) mm"),
        ("volume", f"{model.volume() * 1e6:,.1f} ml"),
        ("mass", f"{model.masses.sum() * 1e3:,.1f} g"),
        ("min dihedral angle", f"{quality.min_dihedral_deg:.1f}°"),
        ("max dihedral angle", f"{quality.max_dihedral_deg:.1f}°"),
        ("shortest spring", f"{quality.shortest_spring_m * 1e3:.2f} mm"),
        ("longest spring", f"{quality.longest_spring_m * 1e3:.2f} mm"),
        ("edge ratio (median / worst)", f"{quality.median_edge_ratio:.2f} / {quality.worst_edge_ratio:.2f}"),
        ("longest / median spring", f"{quality.longest_spring_over_median:.2f}"),
        (f"tets below {MIN_DIHEDRAL_GOAL_DEG:g}° (goal 0)", f"{quality.tets_below_dihedral_goal:,}"),
        (
            f"springs over {MAX_SPRING_OVER_MEDIAN_GOAL:g}× median (goal 0)",
            f"{quality.springs_over_length_goal:,}",
        ),
        ("source", str(model.metadata.get("source", "unknown"))),
    ]
    for name, value in rows:
        summary.add_row(name, value)

    regions = Table(title="regions")
    for column in ("region", "material", "label", "nodes", "tets", "volume ml", "mass g", "E kPa"):
        regions.add_column(column, justify="left" if column in ("region", "material") else "right")
    tet_volumes = model.tet_volumes()
    for index, (name, material_name) in enumerate(zip(model.region_names, _region_material_names(model))):
        in_region = model.tet_region == index
        node_mass = model.masses[model.node_region == index].sum()
        regions.add_row(
            name,
            material_name,
            str(int(model.region_labels[index])) if model.region_labels[index] >= 0 else "-",
            f"{int(np.count_nonzero(model.node_region == index)):,}",
            f"{int(np.count_nonzero(in_region)):,}",
            f"{tet_volumes[in_region].sum() * 1e6:,.1f}",
            f"{node_mass * 1e3:,.1f}",
            f"{model.region_materials['youngs_modulus_pa'][index] / 1e3:g}",
        )

    console = Console(width=None if Console().is_terminal else 120)
    console.print(summary)
    console.print(regions)
    if not quality.meets_goals:
        shortfall = quality_shortfall(model.positions, model.tets).describe(model.positions, model.tets)
        console.print(f"below the mesh quality goals: {shortfall}.", markup=False, highlight=False, soft_wrap=True)
    return 0


def _mm(values) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


def _region_material_names(model) -> list[str]:
    """Each region's material name: as recorded at import, else the built-in material with the same properties."""
    from surgsim.mesh.materials import MATERIALS
    from surgsim.mesh.model import MATERIAL_PROPERTIES

    recorded = model.metadata.get("region_materials")
    if isinstance(recorded, list) and len(recorded) == model.region_count:
        return [str(name) for name in recorded]
    names = []
    for index in range(model.region_count):
        properties = tuple(float(model.region_materials[p][index]) for p in MATERIAL_PROPERTIES)
        match = (m.name for m in MATERIALS.values() if tuple(getattr(m, p) for p in MATERIAL_PROPERTIES) == properties)
        names.append(next(match, "custom"))
    return names
