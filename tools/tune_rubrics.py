"""Tune the shipped rubrics: benchmarks from the scripted experts' re-simulated values, with a stated margin.

    python tools/tune_rubrics.py                       # every shipped procedure: re-simulate, derive, write, check
    python tools/tune_rubrics.py --procedure liver_retraction --check     # derive and check, write nothing

For each procedure in ``procedures/`` with traces in ``procedures/traces/``, the expert's and the novice's commands
are re-simulated and verified (:mod:`surgsim.verify`, as ``surgsim score`` does), and scored. Then, for every metric
the rubric already weighs (which metrics count and their weights are the instructor's design; only the numbers are
derived), from the expert's value ``v``:

- ``expert``: ``v`` plus :data:`MARGIN` (25 %) in the direction of worse: a human expert slower or less tidy than the
  scripted one by up to that much still earns full marks. Counts (tissue damage episodes, forbidden contacts) get no
  margin: one more incident is one more error. A lower-is-better value of 0 stays 0.
- ``zero_at``, where no points are left: the procedure's own limit where it has one (time: ``time_limit_s``; forces:
  ``force_limit_N``; mean cut deviation: the cut goal's ``tolerance_mm``), when that lies beyond the expert
  benchmark; otherwise :data:`ZERO_AT_FACTOR` × the expert benchmark (a fraction: 0). Counts: zero at
  ``expert + COUNT_ZERO_AT[metric]`` (a single forbidden contact takes all of its points).
- ``min_score`` (the pass mark): :data:`PASS_MARK` for every procedure.

Only the rubric's lines change in the YAML (comments and layout stay), so traces recorded with the split hashes are
rescored, not refused. Finally both traces are rescored against the new rubric; the script exits 1 unless every
expert passes and every novice's 0-100 score is below the pass mark.

After a change of the simulator: re-record the traces (``python tools/make_traces.py --keep``: ``--keep`` because
the old benchmarks may misjudge the new sessions), then run this. A rubric change does not change a session, so the
traces need no re-recording after it; this script's check is the verdicts' check.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROCEDURES = ROOT / "procedures"
TRACES = PROCEDURES / "traces"

MARGIN = 0.25
ZERO_AT_FACTOR = 3.0
PASS_MARK = 85.0
COUNT_METRICS = ("tissue_damage", "forbidden_contacts")
COUNT_ZERO_AT = {"tissue_damage": 3, "forbidden_contacts": 1}
HIGHER_IS_BETTER = ("economy_of_motion", "goals_completed_fraction", "cut_within_2mm_fraction")
# Where a lower-is-better metric of 0 earns nothing, when the expert's value (hence the benchmark) is 0 and the
# procedure has no limit for it.
ZERO_AT_WHEN_EXPERT_IS_ZERO = {"time_above_force_limit_s": 1.0, "idle_time_s": 10.0, "cut_deviation_mean_mm": 2.0,
                               "torn_area_mm2": 50.0}


@dataclass(frozen=True)
class Derived:
    expert: float
    zero_at: float


def _nice(value: float) -> float:
    """Three significant digits: benchmarks an instructor can read."""
    if value == 0 or not math.isfinite(value):
        return 0.0
    digits = 2 - int(math.floor(math.log10(abs(value))))
    return round(value, digits) + 0.0


def procedure_limit(procedure, metric: str) -> float | None:
    """The procedure's own bound for ``metric``, where it has one."""
    from surgsim.procedure.schema import CutGoal

    if metric == "time_s":
        return procedure.time_limit_s
    if metric in ("max_force_N", "force_p95_N", "force_rms_N", "mean_contact_force_N"):
        return procedure.force_limit_N
    if metric == "cut_deviation_mean_mm":
        tolerances = [step.goal.tolerance_mm for step in procedure.steps if isinstance(step.goal, CutGoal)]
        return min(tolerances) if tolerances else None
    return None


def derive(metric: str, value: float | None, procedure) -> Derived:
    """The benchmark of ``metric`` from the scripted expert's ``value`` (see the module's docstring)."""
    if metric == "goals_completed_fraction":
        return Derived(1.0, 0.0)
    if value is None:
        raise SystemExit(f"{procedure.name}: the expert has no value for {metric}; it cannot be tuned from it")
    if metric in COUNT_METRICS:
        expert = float(round(value))
        return Derived(expert, expert + COUNT_ZERO_AT[metric])
    if metric in HIGHER_IS_BETTER:
        expert = _nice(value * (1.0 - MARGIN))
        return Derived(expert, 0.0)
    expert = _nice(value * (1.0 + MARGIN))
    limit = procedure_limit(procedure, metric)
    if limit is not None and limit > expert:
        zero_at = limit
    elif expert > 0:
        zero_at = _nice(ZERO_AT_FACTOR * expert)
    else:
        zero_at = ZERO_AT_WHEN_EXPERT_IS_ZERO.get(metric, 1.0)
    return Derived(expert, zero_at)


_METRIC_LINE = re.compile(r"^(?P<indent>\s+)(?P<name>\w+): \{weight: (?P<weight>[0-9.]+), expert: [^,]+, zero_at: "
                          r"[^}]+\}(?P<rest>.*)$")


def rewrite_rubric(text: str, benchmarks: dict[str, Derived], pass_mark: float) -> str:
    """``text`` (a procedure's YAML) with the rubric's metric numbers and ``min_score`` replaced, nothing else."""
    lines = text.split("\n")
    start = lines.index("rubric:")
    seen = set()
    for index in range(start, len(lines)):
        match = _METRIC_LINE.match(lines[index])
        if match and match["name"] in benchmarks:
            derived = benchmarks[match["name"]]
            lines[index] = (f"{match['indent']}{match['name']}: {{weight: {match['weight']}, expert: "
                            f"{derived.expert:g}, zero_at: {derived.zero_at:g}}}{match['rest']}")
            seen.add(match["name"])
        elif lines[index].strip().startswith("min_score:"):
            indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
            lines[index] = f"{indent}min_score: {pass_mark:g}"
    missing = set(benchmarks) - seen
    if missing:
        raise SystemExit(f"the rubric's lines for {sorted(missing)} are not in the one-line form "
                         "'name: {weight: W, expert: E, zero_at: Z}' this tool rewrites")
    return "\n".join(lines)


def verified_report(trace: Path, procedure_path: Path, spec=None):
    """The verified re-simulation of ``trace`` scored against ``spec`` (default: the procedure file's)."""
    from surgsim.scoring import score_session
    from surgsim.verify import resimulate, scored_trace

    result = resimulate(trace, procedure_path, progress=sys.stderr.isatty())
    return result, (lambda procedure: score_session(procedure, scored_trace(result), verified=True,
                                                    source=result.source))


def tune(name: str, *, write: bool, reports: Path | None = None) -> bool:
    from surgsim.procedure import load_procedure

    path = PROCEDURES / f"{name}.yaml"
    procedure = load_procedure(path).spec
    print(f"{name}: re-simulating the expert and the novice (verified)…", flush=True)
    _, score_expert = verified_report(TRACES / f"{name}.expert.jsonl", path)
    _, score_novice = verified_report(TRACES / f"{name}.novice.jsonl", path)
    expert_metrics = score_expert(procedure).metrics.scalars()
    benchmarks = {metric: derive(metric, expert_metrics[metric], procedure)
                  for metric in procedure.rubric.metrics.weighted()}
    text = rewrite_rubric(path.read_text(), benchmarks, PASS_MARK)
    draft = path.with_name(f".{name}.tuning.yaml")  # beside the original, so that its asset paths resolve
    try:
        draft.write_text(text)
        tuned = load_procedure(draft).spec
    finally:
        draft.unlink(missing_ok=True)
    expert, novice = score_expert(tuned), score_novice(tuned)
    for metric, derived in benchmarks.items():
        print(f"  {metric:26} expert's value {_show(expert_metrics[metric]):>10} → expert {derived.expert:g}, "
              f"zero at {derived.zero_at:g}")
    good = expert.passed and novice.score < PASS_MARK and not novice.passed
    print(f"  expert {expert.score:.1f} ({'pass' if expert.passed else 'FAIL: ' + '; '.join(expert.failures)}), "
          f"novice {novice.score:.1f} ({'pass' if novice.passed else 'fail'}: {'; '.join(novice.failures)}); "
          f"pass mark {PASS_MARK:g} → {'as intended' if good else 'NOT AS INTENDED'}")
    if reports is not None:
        reports.mkdir(parents=True, exist_ok=True)
        expert.write_json(reports / f"{name}.expert.score.json")
        novice.write_json(reports / f"{name}.novice.score.json")
    if write and good:
        path.write_text(text)
        print(f"  wrote {path.relative_to(ROOT)}")
    elif write:
        print(f"  left {path.relative_to(ROOT)} as it was")
    return good


def _show(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--procedure", action="append", help="only this shipped procedure (repeatable; default all)")
    parser.add_argument("--check", action="store_true", help="derive and check only; write no procedure")
    parser.add_argument("--reports", type=Path, metavar="DIR",
                        help="also write the expert's and the novice's verified score reports (tuned rubric) here")
    args = parser.parse_args(argv)
    names = args.procedure or sorted(p.stem for p in PROCEDURES.glob("*.yaml")
                                     if (TRACES / f"{p.stem}.expert.jsonl").is_file())
    from surgsim.errors import InputError

    ok = True
    for name in names:
        try:
            ok &= tune(name, write=not args.check, reports=args.reports)
        except InputError as error:
            print(f"{name}: {error}", file=sys.stderr)
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
