"""`surgsim preview PROCEDURE --snapshot OUT.png`: the scene as built, drawn without simulating."""

from __future__ import annotations

import argparse
import sys

from surgsim.errors import InputError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "preview",
        help="draw a procedure's scene (organs, regions, forbidden zones, ports, shafts, camera) without simulating",
        description="Build the procedure's scene (as a session would, from the cached tissue models) and draw it to "
        "a PNG in two 3D views: organs, rigid anatomy, regions (forbidden zones in red; a region that selects no "
        "tissue node is named as such), landmarks, trocar ports and instrument shafts, and the camera's frustum. "
        "No display or GPU needed.",
        epilog="examples:\n  surgsim preview liver_retraction --snapshot scene.png\n"
        "  surgsim preview procedures/my_task.yaml --snapshot my_task.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("procedure", metavar="PROCEDURE", help="a procedure file, or the name of a shipped one")
    parser.add_argument("--snapshot", required=True, metavar="OUT.png", help="where to write the picture")
    parser.set_defaults(func=run)


def run(args) -> int:
    from surgsim.commands.run import resolve_procedure
    from surgsim.fileio import atomic_output
    from surgsim.preview import preview_figure
    from surgsim.procedure.loader import load_procedure
    from surgsim.procedure.scene_builder import build_scene

    if not args.snapshot.lower().endswith(".png"):
        raise InputError(args.snapshot, "the preview is a PNG picture; give it a .png name.")
    procedure = load_procedure(resolve_procedure(args.procedure))
    scene = build_scene(procedure)
    figure = preview_figure(scene, procedure.spec)
    with atomic_output(args.snapshot) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    empty = [name for name, region in scene.regions.items()
             if not len(region.nodes) and region.body not in scene.rigid_bodies]
    if empty:
        print(f"note: region(s) with no tissue node: {', '.join(empty)}", file=sys.stderr)
    print(f"wrote {args.snapshot}", file=sys.stderr)
    return 0
