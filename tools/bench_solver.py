#!/usr/bin/env python
"""Tissue solver benchmark: the same as ``surgsim bench solver`` (see surgsim/bench/solver.py).

    python tools/bench_solver.py [--sizes liver,1k,5k,20k,100k] [--steps 300] [--peers numpy,pybullet,warp]
                                 [--arch auto] [--json OUT]
"""

import sys

from surgsim.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "solver", *sys.argv[1:]]))
