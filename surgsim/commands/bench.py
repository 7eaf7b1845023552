"""``surgsim bench solver``: tissue solver speed on 1k–100k node meshes against numpy, PyBullet and warp.sim;
``surgsim bench coupling``: what coupling two instruments to the liver costs on top of the solver."""

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
    coupling = sub.add_parser(
        "coupling",
        help="cost of two instruments in contact with the liver against the tissue alone (goal: coupling <= 30 %%)",
        description="Time the shipped liver with a grasper holding its edge and a probe pressing it against the "
                    "solver alone, and print where the coupled tick's time goes. Exit code 1 when the coupling "
                    "takes more than 30 % of the tick.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  surgsim bench coupling --ticks 2000 --repeats 3 --json coupling.json",
    )
    coupling.add_argument("--ticks", default="2000", help="timed ticks per run (default 2000)")
    coupling.add_argument("--repeats", default="3", help="runs; medians are reported (default 3)")
    coupling.add_argument("--arch", default="cpu", help="Taichi backend: auto, cuda, vulkan, metal or cpu")
    coupling.add_argument("--json", dest="json_path", default=None, metavar="OUT", help="write the results as JSON")
    coupling.set_defaults(func=run_coupling)
    bench.set_defaults(func=lambda args: (bench.print_help(), 2)[1])


def _count(text: str, option: str, upper: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InputError(option, f"'{text}' is not a whole number.") from None
    if not 1 <= value <= upper:
        raise InputError(option, f"{value} is out of range; it must lie between 1 and {upper:,}.")
    return value


def _check_arch(arch: str) -> None:
    from surgsim.backend import ARCH_CHOICES

    if arch not in ARCH_CHOICES:
        raise InputError("--arch", f"unknown backend '{arch}'; choose one of {', '.join(ARCH_CHOICES)}.")


def run_coupling(args) -> int:
    from surgsim.coupling.benchmark import SHARE_GOAL, run_benchmark

    ticks = _count(args.ticks, "--ticks", 1_000_000)
    repeats = _count(args.repeats, "--repeats", 100)
    _check_arch(args.arch)
    share = run_benchmark(ticks=ticks, repeats=repeats, arch=args.arch, json_path=args.json_path)
    return 0 if share <= SHARE_GOAL else 1


def run_solver(args) -> int:
    from surgsim.tissue.benchmark import parse_peers, parse_sizes, run_benchmark

    sizes = parse_sizes(args.sizes)
    peers = parse_peers(args.peers)
    steps = _count(args.steps, "--steps", 1_000_000)
    _check_arch(args.arch)
    run_benchmark(sizes, steps=steps, peers=peers, arch=args.arch, json_path=args.json_path)
    return 0
