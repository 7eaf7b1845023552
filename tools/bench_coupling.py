#!/usr/bin/env python
"""Coupling benchmark: the same as ``surgsim bench coupling`` (see surgsim/bench/coupling.py).

    python tools/bench_coupling.py [--ticks 2000] [--repeats 3] [--arch cpu] [--json OUT]
"""

import sys

from surgsim.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "coupling", *sys.argv[1:]]))
