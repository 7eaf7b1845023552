"""The score report: its data, its deterministic JSON form, and its table for the terminal.

The JSON is byte-identical for the same trace, procedure and surgsim version, on any machine: keys sorted, no
timestamps or machine-specific paths (the procedure's path as the header or the command line wrote it), written
atomically, and every float rounded to :data:`DECIMALS` = 4 places in its unit: 0.1 mN, 0.1 µm (millimetre
metrics), 0.0001 mm² (areas), 0.1 ms, 0.0001 of a score point or of a ratio. That is far below what any metric can tell apart, and far above the
last-bit differences between machines' JIT-compiled float code (~1e-12, :mod:`surgsim.reproduction`): a value lands
on the other side of a rounding boundary with a chance of about 1e-8, so a verified score's JSON is the same
wherever it is computed. ``tests/scoring/test_score_precision.py`` checks it on the shipped traces, their outcomes
moved by ±1e-12 of each value as another CPU's re-simulation would.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from surgsim.fileio import atomic_output
from surgsim.scoring.rubric import ComponentScore

REPORT_FORMAT = "surgsim-score"
REPORT_FORMAT_VERSION = 1
DECIMALS = 4


# One line per metric, printed under the report's table and written into its JSON ("metric_definitions").
METRIC_DEFINITIONS = {
    "time_s": "simulated time from the start to the end of the session (or of its last record)",
    "idle_time_s": "time in which every instrument tip moved slower than 5 mm/s, instructed holds excepted",
    "path_length_mm": "distance travelled by all instrument tips together",
    "economy_of_motion": "straight-line distance between goal positions over the path travelled (1 = straight)",
    "max_force_N": "largest force on any instrument tip at any tick",
    "mean_contact_force_N": "time-weighted mean tip force while in contact (above 0.05 N)",
    "force_rms_N": "root mean square of the tip force while in contact, every tick",
    "force_p95_N": "95th percentile of the tip force while in contact, every tick",
    "time_above_force_limit_s": "time in which any tip force exceeded the force limit (a step's own limit in it)",
    "tissue_damage": "damage episodes: tears, cuts and burns off target, over-retractions, over-indentations",
    "tears": "tear episodes (tears of one region less than 0.25 s apart are one episode)",
    "torn_springs": "tissue springs broken by over-stretching",
    "torn_area_mm2": "tissue surface opened by tears, at rest (each broken spring's dual facet, on the tear's plane)",
    "cuts_off_target": "episodes of cutting away from the cut line's tolerance or outside a cut step",
    "cut_off_target_area_mm2": "tissue surface opened by cuts (scissors or cautery) off target, likewise",
    "burns_off_target": "episodes of cautery outside the step's target region",
    "over_retractions": "times a retracted region was pulled beyond its goal's max_distance_mm",
    "max_retraction_over_mm": "how far the worst over-retraction went beyond max_distance_mm",
    "over_indentations": "times a touched region was pushed in deeper than its goal's max_depth_mm",
    "max_indentation_over_mm": "how far the worst over-indentation went beyond max_depth_mm",
    "forbidden_contacts": "contacts with forbidden zones that break the zone's limit",
    "forbidden_max_force_N": "largest force at a forbidden zone",
    "cut_deviation_mean_mm": "mean distance of the cuts from the line they should follow",
    "cut_deviation_max_mm": "largest distance of a cut from the line",
    "cut_within_2mm_fraction": "share of the cuts within 2 mm of the line (FLS pattern cutting)",
    "goals_completed": "steps whose goal was reached",
    "goals_completed_fraction": "steps whose goal was reached, as a fraction of all steps",
}


@dataclass(frozen=True)
class InstrumentMetrics:
    path_length_mm: float
    economy_of_motion: float | None
    max_force_N: float


@dataclass(frozen=True)
class WindowMetrics:
    """The metrics of a step, or (:class:`SessionMetrics`) of the whole session; defined in :mod:`surgsim.scoring`."""

    time_s: float
    idle_time_s: float
    path_length_mm: float
    economy_of_motion: float | None
    max_force_N: float
    mean_contact_force_N: float | None
    force_rms_N: float | None
    force_p95_N: float | None
    time_above_force_limit_s: float
    tissue_damage: int
    tears: int
    torn_springs: int
    torn_area_mm2: float | None
    cuts_off_target: int
    cut_off_target_area_mm2: float | None
    burns_off_target: int
    over_retractions: int
    max_retraction_over_mm: float | None
    over_indentations: int
    max_indentation_over_mm: float | None
    forbidden_contacts: int
    forbidden_max_force_N: float | None
    cut_deviation_mean_mm: float | None
    cut_deviation_max_mm: float | None
    cut_within_2mm_fraction: float | None
    instruments: dict[str, InstrumentMetrics]


@dataclass(frozen=True)
class SessionMetrics(WindowMetrics):
    goals_completed: int
    goals_total: int
    goals_completed_fraction: float

    def scalars(self) -> dict[str, float | int | None]:
        """Every metric except the per-instrument breakdown, by name (the names the rubric uses)."""
        fields = dataclasses.fields(self)
        return {field.name: getattr(self, field.name) for field in fields if field.name != "instruments"}


@dataclass(frozen=True)
class StepReport:
    name: str
    goal: str
    started: bool
    completed: bool
    completed_at_s: float | None
    time_limit_s: float | None
    metrics: WindowMetrics


@dataclass(frozen=True)
class ProcedureInfo:
    """Which procedure scored the session: ``path`` as the trace's header or the command line wrote it, the hashes
    of its physics and rubric (:mod:`surgsim.procedure.identity`), and whether it was *rescored*: its rubric is not
    the one the session was recorded with (``recorded_rubric_sha256``, None for traces from before the hashes)."""

    name: str
    title: str
    path: str
    sha256: str  # the file's bytes now
    physics_sha256: str
    rubric_sha256: str
    recorded_rubric_sha256: str | None
    rescored: bool
    in_library: bool | None = None  # one of the library's procedures (procedures/); None: not known


@dataclass(frozen=True)
class ScoreReport:
    procedure: ProcedureInfo
    verified: bool  # scored from a re-simulation that reproduced the recording (else: the recorded outcome)
    recorded_with: str  # surgsim version that recorded the trace
    backend: str
    dt_s: float
    seed: int
    end_reason: str | None
    truncated: bool
    metrics: SessionMetrics
    steps: tuple[StepReport, ...]
    components: tuple[ComponentScore, ...]
    score: float
    passed: bool
    failures: tuple[str, ...]

    @property
    def procedure_name(self) -> str:
        return self.procedure.name

    @property
    def procedure_title(self) -> str:
        return self.procedure.title

    def to_json(self) -> dict:
        return {
            "format": REPORT_FORMAT,
            "format_version": REPORT_FORMAT_VERSION,
            "procedure": dataclasses.asdict(self.procedure),
            "verified": self.verified,
            "trace": {
                "recorded_with": self.recorded_with,
                "backend": self.backend,
                "dt_s": self.dt_s,
                "seed": self.seed,
                "end_reason": self.end_reason,
                "truncated": self.truncated,
            },
            "truncated": self.truncated,
            "metrics": dataclasses.asdict(self.metrics),
            "steps": [dataclasses.asdict(step) for step in self.steps],
            "rubric": [dataclasses.asdict(component) for component in self.components],
            "metric_definitions": METRIC_DEFINITIONS,
            "score": self.score,
            "passed": self.passed,
            "failures": list(self.failures),
        }

    def json_bytes(self) -> bytes:
        return (json.dumps(_rounded(self.to_json()), sort_keys=True, indent=2, allow_nan=False) + "\n").encode()

    def write_json(self, path: str | os.PathLike) -> Path:
        with atomic_output(path) as tmp:
            tmp.write_bytes(self.json_bytes())
        return Path(path)


def _rounded(value):
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"a non-finite metric ({value}) cannot be reported")
        return round(value, DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(item) for item in value]
    return value


# -- the terminal table ------------------------------------------------------------------------------------------------
def _number(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


_SESSION_ROWS = (
    ("time_s", "time", "s", 1),
    ("idle_time_s", "idle time", "s", 1),
    ("path_length_mm", "path length, all tips", "mm", 0),
    ("economy_of_motion", "economy of motion", "", 2),
    ("max_force_N", "max contact force", "N", 2),
    ("mean_contact_force_N", "mean contact force", "N", 2),
    ("force_rms_N", "contact force RMS", "N", 2),
    ("force_p95_N", "contact force 95th percentile", "N", 2),
    ("time_above_force_limit_s", "time above force limit", "s", 2),
    ("tissue_damage", "tissue damage episodes", "", 0),
    ("tears", "  tear episodes", "", 0),
    ("torn_springs", "  torn springs", "", 0),
    ("torn_area_mm2", "  torn surface", "mm²", 1),
    ("cuts_off_target", "  cuts off target", "", 0),
    ("cut_off_target_area_mm2", "  surface cut off target", "mm²", 1),
    ("burns_off_target", "  burns off target", "", 0),
    ("over_retractions", "  over-retractions", "", 0),
    ("max_retraction_over_mm", "  worst, beyond the maximum", "mm", 1),
    ("over_indentations", "  over-indentations", "", 0),
    ("max_indentation_over_mm", "  worst, beyond the maximum", "mm", 1),
    ("forbidden_contacts", "forbidden-zone contacts", "", 0),
    ("forbidden_max_force_N", "  max force there", "N", 2),
    ("cut_deviation_mean_mm", "mean cut deviation", "mm", 2),
    ("cut_deviation_max_mm", "max cut deviation", "mm", 2),
    ("cut_within_2mm_fraction", "cuts within 2 mm of the line", "", 2),
    ("goals_completed", "goals completed", "", 0),
    ("goals_completed_fraction", "goals completed, fraction", "", 2),
)


def render(report: ScoreReport, console: Console) -> None:
    """Print the report as tables: session metrics with rubric points, instruments, steps, verdict."""
    scalars = report.metrics.scalars()
    points = {component.metric: component for component in report.components}
    title = f"{report.procedure_title} — score {report.score:.1f}"
    session = Table(title=title, title_justify="left")
    for column, justify in (("metric", "left"), ("value", "right"), ("unit", "left"), ("expert", "right"),
                            ("zero at", "right"), ("weight", "right"), ("points", "right")):
        session.add_column(column, justify=justify)
    for name, label, unit, digits in _SESSION_ROWS:
        component = points.get(name)
        rubric_cells = (
            (_number(component.expert, digits), _number(component.zero_at, digits), f"{component.weight:g}",
             f"{100 * component.points:.0f}%")
            if component else ("", "", "", "")
        )
        session.add_row(label, _number(scalars[name], digits), unit, *rubric_cells)
    console.print(session)
    shown = [name for name, *_ in _SESSION_ROWS if name in METRIC_DEFINITIONS]
    console.print("\n".join(f"  {name}: {METRIC_DEFINITIONS[name]}" for name in shown), highlight=False)

    instruments = Table(title="instruments", title_justify="left")
    for column in ("instrument", "path length (mm)", "economy of motion", "max force (N)"):
        instruments.add_column(column, justify="left" if column == "instrument" else "right")
    for name, metrics in report.metrics.instruments.items():
        instruments.add_row(name, _number(metrics.path_length_mm, 0), _number(metrics.economy_of_motion, 2),
                            _number(metrics.max_force_N, 2))
    console.print(instruments)

    steps = Table(title="steps", title_justify="left")
    for column in ("step", "goal", "done", "time (s)", "path (mm)", "max force (N)", "damage", "forbidden"):
        steps.add_column(column, justify="left" if column in ("step", "goal", "done") else "right")
    for step in report.steps:
        done = "yes" if step.completed else ("in progress" if step.started else "not reached")
        m = step.metrics
        steps.add_row(step.name, step.goal, done, _number(m.time_s), _number(m.path_length_mm, 0),
                      _number(m.max_force_N, 2), str(m.tissue_damage), str(m.forbidden_contacts))
    console.print(steps)

    info = report.procedure
    console.print(f"procedure {info.name} ({info.path}): physics sha256 {info.physics_sha256[:12]}…, rubric sha256 "
                  f"{info.rubric_sha256[:12]}…", highlight=False)
    if info.rescored:
        recorded = f" (recorded with rubric {info.recorded_rubric_sha256[:12]}…)" if info.recorded_rubric_sha256 else ""
        console.print(f"[yellow]Rescored against the procedure's current rubric{recorded}.[/yellow]", highlight=False)
    if info.in_library is False:
        console.print(f"[yellow]The procedure {info.path} is not one of the library's (procedures/): this is a score "
                      f"under its rubric, not under a shipped procedure's.[/yellow]", highlight=False)
    if report.verified:
        console.print("Verified: the trainee's commands were re-simulated; they reproduce the recording, and the "
                      "re-simulated outcome was scored.")
    else:
        console.print("[yellow]Not verified: the outcome recorded in the trace was scored as it is (surgsim score "
                      "re-simulates and verifies it unless told --no-verify).[/yellow]")
    if report.truncated:
        console.print("[yellow]The trace was cut short (no end record): scored up to its last record.[/yellow]")
    if report.passed:
        console.print(f"[green]PASS[/green] with {report.score:.1f} / 100")
    else:
        console.print(f"[red]FAIL[/red] with {report.score:.1f} / 100:")
        for failure in report.failures:
            console.print(f"  - {failure}")
