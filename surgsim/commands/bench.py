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
    solver.add_argument("--volume-term", default="on",
                        help="also time the solver with the per-tet volume term (SolverOptions.poisson), interleaved "
                             "with the springs alone, and report the cost ratio (default on)")
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
    tick = sub.add_parser(
        "tick",
        help="the whole physics tick by stage on the shipped procedures, and its real-time factor",
        description="Replay each shipped procedure's expert session headless after set-up and a warm-up, and print "
                    "the milliseconds per tick by stage (commands, instruments + PyBullet, solver, contact, "
                    "interactions, goals/zones, trace, other) and the real-time factor (simulated s per wall s).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  surgsim bench tick liver_retraction --replay --json tick.json",
    )
    tick.add_argument("procedures", nargs="*", metavar="PROCEDURE",
                      help="shipped procedure names (default: all that ship an expert trace)")
    tick.add_argument("--warmup", default="500", help="ticks replayed before timing (default 500)")
    tick.add_argument("--ticks", default=None, help="time at most this many ticks (default: the whole session)")
    tick.add_argument("--replay", action="store_true",
                      help="also time `surgsim replay` of each trace in a fresh process (set-up and score included)")
    tick.add_argument("--arch", default="cpu", help="Taichi backend: auto, cuda, vulkan, metal or cpu")
    tick.add_argument("--resolution", default="full", metavar="SHARE",
                      help="mesh the imported organs with this share of their target_nodes, as `surgsim run "
                           "--resolution` does (default: full, the procedure's own)")
    tick.add_argument("--json", dest="json_path", default=None, metavar="OUT", help="write the results as JSON")
    tick.set_defaults(func=run_tick)
    bench.set_defaults(func=lambda args: (bench.print_help(), 2)[1])


def run_tick(args) -> int:
    from rich.console import Console

    from surgsim.bench.tick import run, shipped_procedures

    known = shipped_procedures()
    for name in args.procedures:
        if name not in known:
            raise InputError("bench tick", f"no shipped procedure '{name}' with an expert trace; choose from "
                                           f"{', '.join(known)}.")
    warmup = _count(args.warmup, "--warmup", 1_000_000) if args.warmup != "0" else 0
    ticks = None if args.ticks is None else _count(args.ticks, "--ticks", 10_000_000)
    _check_arch(args.arch)
    from surgsim.resolution import parse_resolution

    resolution = parse_resolution(args.resolution)
    if resolution is None:
        raise InputError("--resolution", "bench tick measures a given resolution: full or a share in (0, 1].")
    run(args.procedures or known, arch=args.arch, warmup_ticks=warmup, max_ticks=ticks, replay=args.replay,
        json_path=args.json_path, console=Console(), resolution=resolution)
    return 0


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
    from surgsim.bench.coupling import SHARE_GOAL, run_benchmark

    ticks = _count(args.ticks, "--ticks", 1_000_000)
    repeats = _count(args.repeats, "--repeats", 100)
    _check_arch(args.arch)
    share = run_benchmark(ticks=ticks, repeats=repeats, arch=args.arch, json_path=args.json_path)
    return 0 if share <= SHARE_GOAL else 1


def run_solver(args) -> int:
    from surgsim.bench.solver import parse_peers, parse_sizes, run_benchmark

    sizes = parse_sizes(args.sizes)
    peers = parse_peers(args.peers)
    steps = _count(args.steps, "--steps", 1_000_000)
    _check_arch(args.arch)
    if args.volume_term not in ("on", "off"):
        raise InputError("--volume-term", f"'{args.volume_term}' is neither on nor off.")
    run_benchmark(sizes, steps=steps, peers=peers, arch=args.arch, json_path=args.json_path,
                  volume_term=args.volume_term == "on")
    return 0
