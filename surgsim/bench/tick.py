"""``surgsim bench tick``: where the whole physics tick's time goes on the shipped procedures, and the real-time factor.

For each procedure, its expert trace's commands are replayed headless through the session loop (the same loop as
``surgsim run`` and ``surgsim replay``, trace writing included) after set-up and a warm-up, and the time of every
tick is split by stage, each measured around the methods that do it:

- ``commands``: reading the device (here the replayed trace) and handing commands to the instruments;
- ``instruments``: the tissue's reactions pushed on the tools and the PyBullet step;
- ``solver``: the tissue solver's step;
- ``contact``: the tool-contact pass (contact, friction, forces, burn, spring tests);
- ``interactions``: capsules, grasps, cuts, tears, cautery, clips, topology changes;
- ``goals_zones``: the procedure runtime (goals, forbidden zones, force limits) and the tick view it reads;
- ``trace``: writing commands, events and samples;
- ``other``: the rest of the tick (the loop itself).

The real-time factor is simulated seconds per wall second of the ticks (≥ 1: real time). The host's share of a tick
is the tick less the tissue's two kernels (solver and contact pass); its real-time factor is the ceiling that no
faster tissue computation (a GPU) can lift, as the rest of the tick runs on the host's CPU at 1 kHz. With
``--replay`` the command ``surgsim replay TRACE`` (set-up, re-simulation, comparison and scoring) is also timed in a
fresh process.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from surgsim.bench.stopwatch import Stopwatch

ROOT = Path(__file__).resolve().parents[2]
TRACES = ROOT / "procedures" / "traces"
STAGES = ("commands", "instruments", "solver", "contact", "interactions", "goals_zones", "trace", "other")


def shipped_procedures() -> list[str]:
    return sorted(path.name.removesuffix(".expert.jsonl") for path in TRACES.glob("*.expert.jsonl"))


def machine(backend: str) -> dict:
    from surgsim.hostinfo import cpu_description, cpu_label

    return {"cpu": cpu_label(), "cpu_detail": cpu_description(), "cores": os.cpu_count(), "backend": backend,
            "python": platform.python_version(), "platform": platform.platform()}


def _stages(session, device) -> dict[str, list[Stopwatch]]:
    coupler = session.coupler
    world = coupler.world
    watches = {
        "commands": [Stopwatch(device, "read")] + [Stopwatch(i, "command") for i in world.instruments.values()],
        "instruments": [Stopwatch(world, "step")] + [Stopwatch(i, "push") for i in world.instruments.values()],
        "solver": [Stopwatch(coupler.solver, "step")],
        "contact": [Stopwatch(coupler.contact, "run")],
        "interactions": [Stopwatch(coupler.layout, "pack"), Stopwatch(coupler.topology, "commit"),
                         Stopwatch(coupler, "_collect_forces")],
        "goals_zones": [Stopwatch(session.runtime, "update"), Stopwatch(session, "_tick_view")],
        "trace": [],
    }
    for part in (coupler.grasping, coupler.cutting):
        watches["interactions"].append(Stopwatch(part, "prepare"))
    watches["interactions"].append(Stopwatch(coupler.grasping, "move_anchors"))
    watches["interactions"].append(Stopwatch(coupler.grasping, "read_forces"))
    for part in (coupler.monitor, coupler.grasping, coupler.cutting, coupler.tearing, coupler.cautery,
                 coupler.clipping):
        watches["interactions"].append(Stopwatch(part, "after_step"))
    writer = session._trace
    if writer is not None:
        for method in ("write_command", "write_event", "write_sample"):
            watches["trace"].append(Stopwatch(writer, method))
    return watches


def bench_procedure(name: str, *, arch: str = "cpu", warmup_ticks: int = 500, max_ticks: int | None = None,
                    resolution: float = 1.0) -> dict:
    """Replay ``name``'s expert trace and time its ticks by stage (see the module's docstring). ``resolution``: the
    share of the organs' ``target_nodes`` to mesh them with (1: the procedure's own; the commands are the expert's
    either way, so a coarser model is timed on the same motions)."""
    from surgsim.devices.replay import ReplayDevice
    from surgsim.replay import replay_ticks
    from surgsim.scoring import load_session
    from surgsim.session import Session

    trace_path = TRACES / f"{name}.expert.jsonl"
    procedure, recorded = load_session(trace_path)
    header = recorded.header
    total_ticks = replay_ticks(recorded)
    # The current defaults (tissue rate, iterations), not the recording's: this measures the simulator as it is.
    with tempfile.TemporaryDirectory(prefix="surgsim-bench-") as folder:
        started = time.perf_counter()
        session = Session(procedure.path, arch=arch, dt_s=header.dt_s, seed=header.seed,
                          trace_path=Path(folder) / "bench.jsonl", resolution=resolution)
        setup_s = time.perf_counter() - started
        with session:
            device = ReplayDevice.from_trace(recorded)
            warmup = min(warmup_ticks, total_ticks // 4)
            for _ in range(warmup):
                session.tick(device.read().commands)
            timed_ticks = total_ticks - warmup if max_ticks is None else min(max_ticks, total_ticks - warmup)
            watches = _stages(session, device)
            started, cpu_started = time.perf_counter(), time.process_time()
            for _ in range(timed_ticks):
                session.tick(device.read().commands)
            wall = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
    per_tick = 1e3 * wall / max(1, timed_ticks)
    stages = {stage: 1e3 * sum(w.seconds for w in watches.get(stage, ())) / max(1, timed_ticks)
              for stage in STAGES if stage != "other"}
    stages["other"] = max(0.0, per_tick - sum(stages.values()))
    host_ms = per_tick - stages["solver"] - stages["contact"]
    info = session.solver.info(session.coupler.control)
    return {
        "procedure": name,
        "resolution": resolution,
        "real_time_factor": header.dt_s * 1e3 / per_tick,
        "ms_per_tick": per_tick,
        # CPU time of this process per tick: what the tick costs when another process shares the cores.
        "cpu_ms_per_tick": 1e3 * cpu / max(1, timed_ticks),
        "stages": stages,
        # The tick less the tissue's kernels, and the real-time factor it allows: the ceiling for any GPU on this host.
        "host_ms_per_tick": host_ms,
        "host_bound_real_time_factor": header.dt_s * 1e3 / host_ms if host_ms > 0 else None,
        "ticks": timed_ticks,
        "simulated_s": timed_ticks * header.dt_s,
        "setup_s": setup_s,
        "tick_hz": 1.0 / header.dt_s,
        "tissue_hz": 1.0 / session.tissue_dt_s,
        "nodes": info["nodes"],
        "springs": info["springs"],
        "iterations": info["iterations"],
        "execution": info["execution"],
    }


def bench_replay(name: str, *, arch: str = "cpu") -> dict:
    """Wall time of ``surgsim replay`` (a fresh process: imports, set-up, re-simulation, comparison, score)."""
    from surgsim.scoring import load_session

    trace_path = TRACES / f"{name}.expert.jsonl"
    _, recorded = load_session(trace_path)
    duration = (recorded.end.tick if recorded.end else 0) * recorded.header.dt_s
    with tempfile.TemporaryDirectory(prefix="surgsim-bench-") as folder:
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "surgsim", "replay", str(trace_path), "--arch", arch,
                                 "--json", str(Path(folder) / "score.json")], capture_output=True, text=True)
        wall = time.perf_counter() - started
    return {"replay_score_s": wall, "simulated_s": duration, "replay_real_time_factor": duration / wall,
            "replay_exit_code": result.returncode}


def run(procedures: list[str], *, arch: str = "cpu", warmup_ticks: int = 500, max_ticks: int | None = None,
        replay: bool = False, json_path: str | None = None, console=None, resolution: float = 1.0) -> list[dict]:
    from surgsim import backend

    results = []
    for name in procedures:
        result = bench_procedure(name, arch=arch, warmup_ticks=warmup_ticks, max_ticks=max_ticks,
                                 resolution=resolution)
        if replay and resolution == 1.0:  # a replay checks the recording, which was made at full resolution
            result.update(bench_replay(name, arch=arch))
        results.append(result)
        if console is not None:
            console.print(f"[dim]{name}: {result['ms_per_tick']:.3f} ms/tick, real-time factor "
                          f"{result['real_time_factor']:.2f}[/dim]")
    report = {"machine": machine(backend.active() or arch), "procedures": results}
    if console is not None:
        print_table(report, console)
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(report, indent=2) + "\n")
    return results


def print_table(report: dict, console) -> None:
    from rich.table import Table

    m = report["machine"]
    table = Table(title=f"Whole tick by stage, ms per tick — {m['cpu']}, {m['cores']} cores, {m['backend']}")
    if not console.is_terminal:
        console.width = max(console.width, 170)
    table.add_column("procedure")
    table.add_column("nodes", justify="right")
    table.add_column("tissue Hz", justify="right")
    for stage in STAGES:
        table.add_column(stage, justify="right")
    table.add_column("tick", justify="right")
    table.add_column("RTF", justify="right")
    table.add_column("host-bound RTF", justify="right")
    replayed = any("replay_score_s" in r for r in report["procedures"])
    if replayed:
        table.add_column("replay+score s (RTF)", justify="right")
    for r in report["procedures"]:
        rtf = r["real_time_factor"]
        row = [r["procedure"], f"{r['nodes']:,}", f"{r['tissue_hz']:.0f}"]
        row += [f"{r['stages'][stage]:.3f}" for stage in STAGES]
        row += [f"{r['ms_per_tick']:.3f}", f"[{'green' if rtf >= 1 else 'red'}]{rtf:.2f}[/]",
                "-" if r["host_bound_real_time_factor"] is None else f"{r['host_bound_real_time_factor']:.2f}"]
        if replayed:
            row.append(f"{r['replay_score_s']:.1f} ({r['replay_real_time_factor']:.2f})")
        table.add_row(*row)
    console.print(table)
