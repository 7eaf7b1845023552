"""Scoring many traces at once: a local process pool (``surgsim score TRACE... --jobs N``), or Ray tasks on a
local Ray instance or a cluster (``--ray [ADDRESS]``, with the optional extra ``surgsim[cluster]``).

Each trace is scored by the public entry points (:func:`surgsim.scoring.load_session`,
:func:`surgsim.scoring.score_session`) in a worker process, and its report comes back as the very bytes
``surgsim score TRACE --json OUT`` writes, so batch and one-by-one results are byte-identical. Results keep the order
of the traces given, whatever order the workers finish in. A trace that cannot be scored (bad input) does not stop
the others: it is reported with its problem, and the batch exits 2.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from surgsim.errors import InputError


@dataclass(frozen=True)
class BatchResult:
    trace: str
    report_json: bytes | None  # the score report, exactly as `surgsim score --json` writes it
    score: float | None
    passed: bool | None
    truncated: bool
    procedure_path: str | None
    problem: str | None  # why the trace could not be scored (bad input); None when it was

    @property
    def ok(self) -> bool:
        return self.problem is None


def score_one(trace: str, procedure: str | None = None, verify: bool = True, arch: str = "cpu") -> BatchResult:
    """Score one trace as ``surgsim score`` does (``verify``: re-simulate it and score the re-simulated outcome; else
    the recorded one); bad input comes back as ``problem`` (an InputError does not survive pickling intact)."""
    from surgsim.scoring import score_session

    try:
        if verify:
            from surgsim.verify import resimulate, scored_trace

            result = resimulate(trace, procedure, arch=arch)
            source = result.source
            report = score_session(source.procedure.spec, scored_trace(result), verified=True, source=source)
        else:
            from surgsim.scoring.inputs import load_session_source

            source = load_session_source(trace, procedure, allow_unproven=False)
            report = score_session(source.procedure.spec, source.trace, verified=False, source=source)
    except InputError as error:
        return BatchResult(trace, None, None, None, False, None, f"{error.source}: {error.problem}")
    return BatchResult(trace, report.json_bytes(), report.score, report.passed, report.truncated,
                       str(source.procedure.path), None)


def score_many(
    traces: Sequence[str], jobs: int = 1, procedure: str | None = None,
    progress: Callable[[BatchResult], None] | None = None, verify: bool = True, arch: str = "cpu",
) -> list[BatchResult]:
    """Score ``traces`` with ``jobs`` worker processes (1: in this process); results in the order of ``traces``.
    ``progress`` is called with each result as it finishes."""
    if jobs < 1:
        raise InputError("--jobs", f"needs at least 1 worker; got {jobs}.")
    if jobs == 1 or len(traces) == 1:
        results = []
        for trace in traces:
            results.append(score_one(trace, procedure, verify, arch))
            if progress:
                progress(results[-1])
        return results
    results: list[BatchResult | None] = [None] * len(traces)
    with worker_pool(min(jobs, len(traces))) as pool:
        # Longest first (by file size, which grows with the session's length): the workers then finish together
        # instead of one long trace starting last while the others idle.
        order = sorted(range(len(traces)), key=lambda k: -_size(traces[k]))
        futures = {pool.submit(score_one, traces[k], procedure, verify, arch): k for k in order}
        for future in as_completed(futures):
            result = future.result()
            results[futures[future]] = result
            if progress:
                progress(result)
    return results  # type: ignore[return-value]


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:  # missing: its worker reports the problem
        return 0


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes started afresh ("spawn"), not forked: a process that has already run Taichi (a score in
    this process, a session) holds its runtime's threads and locks, and a forked copy of it hangs at its first
    kernel (measured: `score_many` with 2 jobs after one in-process score never finished)."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


RAY_LOCAL = "local"


def score_many_ray(
    traces: Sequence[str], address: str = RAY_LOCAL, procedure: str | None = None,
    progress: Callable[[BatchResult], None] | None = None, verify: bool = True, arch: str = "cpu",
) -> list[BatchResult]:
    """Score ``traces`` as Ray tasks: on a new local Ray instance (``address="local"``) or the cluster at
    ``address`` ("auto", "ray://head:10001", ...). Workers open the traces and procedures by the paths given here, so
    on a cluster they must see the same files (a shared filesystem, as HPC and most cloud clusters have)."""
    try:
        import ray
    except ImportError as error:
        raise InputError("--ray", "needs Ray, which is an optional extra: pip install 'surgsim[cluster]'.") from error
    absolute = [str(Path(trace).resolve()) for trace in traces]
    procedure_path = str(Path(procedure).resolve()) if procedure else None
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=None if address == RAY_LOCAL else address, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
        except (ConnectionError, ValueError, RuntimeError) as error:
            raise InputError("--ray", f"cannot connect to the Ray cluster at '{address}': {error}") from error
    try:
        task = ray.remote(score_one)
        pending = {task.remote(trace, procedure_path, verify, arch): k for k, trace in enumerate(absolute)}
        results: list[BatchResult | None] = [None] * len(traces)
        waiting = list(pending)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            for ref in done:
                k = pending[ref]
                # report the trace as it was named here, not its absolute path
                result = dataclasses.replace(ray.get(ref), trace=traces[k])
                results[k] = result
                if progress:
                    progress(result)
        return results  # type: ignore[return-value]
    finally:
        if started_here:
            ray.shutdown()


# A verifying worker's peak memory (a CT scene's replay: ~350 MB) with a margin for the trace and its report.
WORKER_MEMORY_BYTES = 600 * 2**20


def default_jobs(trace_count: int, verify: bool = True) -> int:
    """Workers for several traces when ``--jobs`` is not given. Re-simulating (``verify``): one per CPU this process
    may use (each replay runs Taichi on one thread), at most one per trace and no more than the available memory
    holds (:data:`WORKER_MEMORY_BYTES` each). Without re-simulation: 1, as reading and scoring a recorded outcome takes
    less time than starting a worker (the six shipped traces: 3.0 s in this process, 3.1 s with two workers)."""
    if not verify or trace_count <= 1:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, trace_count, _memory_for_workers()))


def _memory_for_workers() -> int:
    """How many workers the memory available now holds (no limit where the system does not say)."""
    available = _available_memory_bytes()
    if available is None:
        return 1 << 30
    return max(1, available // WORKER_MEMORY_BYTES)


def _available_memory_bytes() -> int | None:
    """Memory that new processes can have without swapping: Linux's MemAvailable (free memory plus the page cache it
    can reclaim), else the free pages the system reports, else None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def json_paths(traces: Sequence[str], folder: str | os.PathLike) -> list[Path]:
    """Where each trace's report goes in ``folder``: <trace name>.score.json, refusing two traces with one name."""
    paths, seen = [], {}
    for trace in traces:
        name = Path(trace).name.removesuffix(".jsonl") + ".score.json"
        if name in seen:
            raise InputError(trace, f"has the same file name as {seen[name]}; their reports would overwrite each "
                                    "other in the --json folder. Score them in separate runs.")
        seen[name] = trace
        paths.append(Path(folder) / name)
    return paths


def run_batch(traces: Sequence[str], *, jobs: int | None, json_out: str | None, procedure: str | None,
              trainee: str | None, manifest: str | None = None, ray_address: str | None = None,
              verify: bool = True, arch: str = "cpu") -> int:
    """`surgsim score TRACE... [--jobs N] [--json DIR] [--trainee ID | --manifest CSV]`: a table of results; exit 0
    when every trace passed, 1 when any failed, 2 when any could not be scored (the others are still scored and
    written). With --trainee the traces are recorded in that trainee's history; a manifest (columns trace, trainee)
    adds its traces, each recorded for the trainee it names. ``ray_address`` (--ray) scores them as Ray tasks
    instead of in a local pool. ``jobs`` None: :func:`default_jobs` for the traces."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from surgsim.history.record import check_can_record, read_manifest

    owners: dict[str, str] = {}
    if trainee:
        check_can_record(trainee)
        owners.update(dict.fromkeys(traces, trainee))
    if manifest:
        listed = read_manifest(manifest)
        check_can_record(listed[0][1])
        owners.update(listed)
        traces = list(traces) + [trace for trace, _ in listed if trace not in traces]
    if not traces:
        raise InputError("TRACE", "no traces to score.")
    if jobs is None:
        jobs = default_jobs(len(traces), verify)
    outputs = json_paths(traces, json_out) if json_out else None
    if json_out and Path(json_out).exists() and not Path(json_out).is_dir():
        raise InputError(json_out, "with several traces, --json names a folder for one report per trace.")
    bar = Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=Console(file=sys.stderr), transient=True, disable=not sys.stderr.isatty())
    with bar:
        task = bar.add_task("scoring", total=len(traces))
        if ray_address is not None:
            results = score_many_ray(traces, ray_address, procedure, progress=lambda _: bar.advance(task),
                                     verify=verify, arch=arch)
        else:
            results = score_many(traces, jobs, procedure, progress=lambda _: bar.advance(task), verify=verify,
                                 arch=arch)

    from surgsim.fileio import atomic_output

    for result, path in zip(results, outputs or []):
        if result.ok:
            with atomic_output(path) as tmp:
                tmp.write_bytes(result.report_json)
    if owners:
        _record(owners, [result for result in results if result.ok and result.trace in owners])

    console = Console(width=None if Console().is_terminal else 120)
    table = Table(title=f"{len(traces)} trace(s)", title_justify="left")
    for column in ("trace", "score", "result"):
        table.add_column(column, justify="right" if column == "score" else "left")
    for result in results:
        if result.ok:
            verdict = "pass" if result.passed else "fail"
            table.add_row(result.trace, f"{result.score:.1f}", verdict + (" (truncated)" if result.truncated else ""))
        else:
            table.add_row(result.trace, "-", "not scored")
    console.print(table)
    for result in results:
        if not result.ok:
            print(f"surgsim: error: {result.problem}", file=sys.stderr)
    if any(not result.ok for result in results):
        return 2
    return 0 if all(result.passed for result in results) else 1


def _record(owners: dict[str, str], results: Sequence[BatchResult]) -> None:
    import json

    from surgsim.history import NewAttempt, open_history
    from surgsim.history.record import session_time, trace_sha256

    attempts = [
        NewAttempt(trainee=owners[result.trace], procedure_path=result.procedure_path, trace_path=str(Path(result.trace).resolve()),
                   trace_sha256=trace_sha256(result.trace), session_time=session_time(result.trace),
                   verification="replayed" if json.loads(result.report_json).get("verified") is True else "recorded",
                   report=json.loads(result.report_json))
        for result in results
    ]
    with open_history() as history:
        history.add_all(attempts)
