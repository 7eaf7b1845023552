"""A verified score's JSON is byte-identical across machines: the outcome another CPU re-simulates differs in the last
bits (~1e-12 relative, surgsim.reproduction), and the report rounds every value far above that
(surgsim.scoring.report.DECIMALS). Checked on the shipped traces with their outcomes perturbed as another CPU would."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from surgsim.scoring import score_session
from surgsim.scoring.inputs import load_session_source
from surgsim.scoring.report import DECIMALS

ROOT = Path(__file__).resolve().parents[2]
TRACES = sorted((ROOT / "procedures" / "traces").glob("*.jsonl"))
RELATIVE = 1e-12  # the largest last-bits difference measured between machines (forces, 1.4e-12 N)


def _perturbed(value, salt: int, key: str = ""):
    """``value`` with every float (but event times, which are whole ticks) moved by ±1e-12 of itself, equal floats
    alike: another CPU runs the same code, so what repeats here repeats there (a still instrument's tip stays still;
    moving each of its samples apart would add a path of ~1e-13 m a tick, 5e-7 mm over the gallbladder expert)."""
    if isinstance(value, float) and key != "time_s":
        sign = 1.0 if hash((salt, value)) & 1 else -1.0  # float and int hashes are the same in every process
        moved = value * (1.0 + sign * RELATIVE)
        return min(moved, 1.0) if key == "jaw" else moved  # a jaw opening stays within 0..1
    if isinstance(value, dict):
        return {k: _perturbed(v, salt, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_perturbed(v, salt, key) for v in value]
    return value


def _score_json(trace: Path, procedure: Path) -> bytes:
    source = load_session_source(trace, procedure, allow_unproven=False)
    return score_session(source.procedure.spec, source.trace, verified=True, source=source).json_bytes()


@pytest.mark.parametrize("trace", TRACES, ids=[trace.stem for trace in TRACES])
def test_last_bits_differences_in_the_outcome_leave_the_score_json_byte_identical(trace, tmp_path):
    procedure = ROOT / "procedures" / f"{trace.name.split('.')[0]}.yaml"
    salt = random.Random(trace.name).getrandbits(32)
    lines = []
    for line in trace.read_text().splitlines():
        record = json.loads(line)
        if record["type"] in ("sample", "event"):
            record = _perturbed(record, salt)
        lines.append(json.dumps(record, sort_keys=True, separators=(",", ":")))
    other_cpu = tmp_path / trace.name
    other_cpu.write_text("\n".join(lines) + "\n")
    assert other_cpu.read_text() != trace.read_text()
    original = _score_json(trace, procedure)
    assert _score_json(other_cpu, procedure) == original
    # Every reported float carries at most DECIMALS places, so the bytes cannot depend on the last bits.
    floats = []
    json.loads(original, parse_float=lambda text: floats.append(text) or float(text))
    assert floats and all(len(text.split(".")[1].split("e")[0]) <= DECIMALS for text in floats if "." in text)
