"""Benchmarks (scripts that print numbers, never tests): where a physics tick's time goes (:mod:`surgsim.bench.tick`).

Benchmarks live here, not in the physics packages: they time the simulator from outside, wrapping the methods they
measure on the instances they build (:class:`~surgsim.bench.stopwatch.Stopwatch`).
"""
