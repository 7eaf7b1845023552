"""Each kind of report opened in a real browser (headless Chromium): the page renders, with its figures, offline."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image
from test_reports import make_reports

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install -y chromium)"
)


def screenshot(html_path, png_path, profile) -> np.ndarray:
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}", "--window-size=1200,1600",
        "--hide-scrollbars", f"--screenshot={png_path}", html_path.resolve().as_uri(),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    return np.asarray(Image.open(png_path).convert("RGB")).astype(int)


def test_every_report_renders_in_headless_chromium(surgsim_home, tmp_path, cohort_traces):
    outputs = make_reports(tmp_path, cohort_traces)
    for kind, html_path in outputs.items():
        pixels = screenshot(html_path, tmp_path / f"{kind}.png", tmp_path / f"profile-{kind}")
        assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1000, kind
        not_white = (pixels < 235).any(axis=2)
        assert not_white.mean() > 0.02, f"{kind}: the page rendered (nearly) blank"
        # figures are drawn in colour (tip paths, groups, verdicts); text and table rules alone are grey
        colourful = (pixels.max(axis=2) - pixels.min(axis=2)) > 60
        assert colourful.sum() > 500, f"{kind}: no figure visible"
