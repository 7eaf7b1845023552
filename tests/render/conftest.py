"""Render test set-up: a private Xvfb per test process (CI has no DISPLAY), the shipped organ models, scenes."""

from __future__ import annotations

from pathlib import Path

import pytest

from surgsim.mesh.model import TissueModel
from surgsim.render.frame import InstrumentSpec, RenderScene, TissueMesh
from surgsim.render.virtual_display import VirtualDisplay

MESHES = Path(__file__).resolve().parents[2] / "assets" / "meshes"


@pytest.fixture(scope="session")
def virtual_display():
    """DISPLAY of an Xvfb started for this test process (each xdist worker gets its own)."""
    if not VirtualDisplay.available():
        pytest.skip("Xvfb is not installed (apt-get install xvfb); the OpenGL viewer tests need a virtual display")
    display = VirtualDisplay(1280, 720)
    display.start()
    yield display.display
    display.stop()


@pytest.fixture(scope="session")
def liver_model() -> TissueModel:
    return TissueModel.load(MESHES / "liver.npz")


@pytest.fixture(scope="session")
def gallbladder_model() -> TissueModel:
    return TissueModel.load(MESHES / "gallbladder.npz")


@pytest.fixture(scope="session")
def liver_scene(liver_model) -> RenderScene:
    return RenderScene((TissueMesh.from_model("liver", liver_model),),
                       instruments=(InstrumentSpec("grasper", "grasper"),))

