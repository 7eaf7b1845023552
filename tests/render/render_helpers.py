"""Pixel statistics shared by the render tests."""

from __future__ import annotations

import numpy as np

from surgsim.render import palette

BACKGROUND_RGB = np.round(np.array(palette.BACKGROUND) * 255)


def covered(pixels: np.ndarray) -> np.ndarray:
    """Mask [H, W] of pixels that differ from the background (something was drawn there)."""
    return np.abs(pixels.astype(np.int16) - BACKGROUND_RGB).max(axis=2) > 12


def covered_fraction(pixels: np.ndarray) -> float:
    return float(covered(pixels).mean())
