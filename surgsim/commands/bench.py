"""``surgsim bench solver``: tissue solver speed on 1k–100k node meshes against numpy, PyBullet and warp.sim."""

from __future__ import annotations

import argparse

from surgsim.errors import InputError


def register(subparsers) -> None:
    bench = subparsers.add_parser("bench", help="performance benchmarks",
                                  description="Performance benchmarks (scripts, never timed tests).")
    sub = bench.add_subparsers(dest="bench_command", metavar="BENCHMARK")
    solver = sub.add_parser(
        "solver",
        help="tissue solver speed (real-time factor) against numpy, PyBullet and warp.sim",
        description="Time the tissue solver at dt = 1 ms on the shipped liver and tetrahedral blocks, with the "
                    "peers a user would pick instead on the same mesh, and print a table (and JSON).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  surgsim bench solver --sizes liver,5k --peers numpy,pybullet --json bench.json",
    )
    solver.add_argument("--sizes", default="liver,1k,5k,20k,100k",
                        help="comma-separated: 'liver' and/or block node counts (1k, 5k, 20000 ...)")
    solver.add_argument("--steps", default="300", help="steps per timing (default 300)")
    solver.add_argument("--peers", default="numpy,pybullet,warp",
                        help="comma-separated peers: numpy, pybullet, warp, or none")
    solver.add_argument("--arch", default="auto", help="Taichi backend: auto, cuda, vulkan, metal or cpu")
    solver.add_argument("--json", dest="json_path", default=None, metavar="OUT", help="write the results as JSON")
    solver.set_defaults(func=run_solver)
    bench.set_defaults(func=lambda args: (bench.print_help(), 2)[1])


def run_solver(args) -> int:
    from surgsim.backend import ARCH_CHOICES
    from surgsim.tissue.benchmark import parse_peers, parse_sizes, run_benchmark

    sizes = parse_sizes(args.sizes)
    peers = parse_peers(args.peers)
    try:
        steps = int(args.steps)
    except ValueError:
        raise InputError("--steps", f"'{args.steps}' is not a whole number of steps.") from None
    if not 1 <= steps <= 1_000_000:
        raise InputError("--steps", "the number of steps must lie between 1 and 1,000,000.")
    if args.arch not in ARCH_CHOICES:
        raise InputError("--arch", f"unknown backend '{args.arch}'; choose one of {', '.join(ARCH_CHOICES)}.")
    run_benchmark(sizes, steps=steps, peers=peers, arch=args.arch, json_path=args.json_path)
    return 0
