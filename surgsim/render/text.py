"""Fonts and word wrapping for the HUD (Pillow).

The HUD uses DejaVu Sans, which matplotlib ships (a pyvista dependency, so it is always installed with surgsim);
without it, Pillow's built-in font (scalable from Pillow 10.1 on, a small bitmap font before).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import ImageFont


def _dejavu_path(bold: bool) -> Path | None:
    try:
        import matplotlib
    except ImportError:
        return None
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    return path if path.is_file() else None


@lru_cache(maxsize=32)
def load_font(size_px: int, *, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A font of about ``size_px`` pixels."""
    path = _dejavu_path(bold)
    if path is not None:
        return ImageFont.truetype(str(path), size_px)
    try:
        return ImageFont.load_default(size=size_px)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def font_height(font) -> int:
    """The nominal height [px] of a font (its size; the bitmap fallback font has none, so measure it)."""
    return getattr(font, "size", None) or font.getbbox("Ag")[3]


def wrap_text(text: str, font, max_width_px: float) -> list[str]:
    """Greedy word wrap to lines no wider than ``max_width_px`` (a single longer word keeps its own line);
    newlines in ``text`` start new paragraphs."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if line and font.getlength(candidate) > max_width_px:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines
