"""The heads-up display, painted with Pillow as a few small RGBA layers over the 3D view.

Layout, scaled with the image height (sizes given for 720 px):

- top left: procedure title, step title and the step's instructions, word-wrapped
- top right: the timer, ``elapsed / limit``, red once over the limit
- top centre: warnings, one red box each
- bottom left: a force gauge per instrument: a bar whose full scale is 1.5 × the force limit, with the limit marked
  by a white tick; green below 80 % of the limit, amber up to it, red above it; the value in newtons beside it; the
  active instrument in bold with a marker, and "jaw closed" / "ENERGY" flags
- lower centre: the step-complete cue (green banner)
- "PAUSED" over a dimmed view; the end screen (pass/fail and the score table) over everything

Each element is a :class:`HudLayer` of its own size, repainted only when what it shows changes (the timer once a
second, a gauge when its bar moves by a pixel), so the overlay re-uploads and blends only small rectangles: on a
software renderer a full-screen HUD would cost more than the 3D view. :meth:`HudPainter.paint` composes the layers
into one full-size image (tests, snapshots of the HUD alone).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw

from surgsim.render.frame import EndReport, HudState, InstrumentFrame
from surgsim.render.text import font_height, load_font, wrap_text

GAUGE_FULL_SCALE_OF_LIMIT = 1.5
GAUGE_FULL_SCALE_WITHOUT_LIMIT_N = 5.0
GAUGE_AMBER_FRACTION_OF_LIMIT = 0.8
# The HUD shows the physics' real-time factor when it falls below this (slow motion the trainee should know of).
SLOW_PHYSICS = 0.95

WHITE = (255, 255, 255, 255)
GREY_TEXT = (200, 200, 200, 255)
PANEL = (0, 0, 0, 150)
DIM = (0, 0, 0, 110)
END_DIM = (0, 0, 0, 170)
END_PANEL = (20, 20, 24, 235)
GAUGE_BACKGROUND = (70, 70, 70, 210)
GAUGE_GREEN = (60, 200, 90, 255)
GAUGE_AMBER = (240, 180, 40, 255)
ALARM_RED = (230, 40, 40, 255)
WARNING_BOX = (200, 30, 30, 220)
COMPLETE_GREEN = (40, 160, 70, 230)
PASS_GREEN = (80, 220, 110, 255)


@dataclass(frozen=True, eq=False)  # compared by identity: an unchanged layer is the very same object
class HudLayer:
    """One HUD element: an RGBA image (straight alpha) whose top-left corner goes at (``x``, ``y``) [px]."""

    name: str
    x: int
    y: int
    image: Image.Image


@dataclass(frozen=True)
class _Gauge:
    name: str
    value_text: str
    fill_px: int
    limit_px: int | None
    colour: tuple[int, int, int, int]
    active: bool
    flags: str


def _clock(seconds: float) -> str:
    whole = max(0, int(seconds))
    return f"{whole // 60:02d}:{whole % 60:02d}"


def _text_height(font) -> float:
    return font_height(font) * 1.3


class HudPainter:
    """Paints :class:`HudState` for a ``width`` × ``height`` view."""

    def __init__(self, width: int, height: int):
        self.size = (int(width), int(height))
        self._layers: dict[str, tuple[object, HudLayer | None]] = {}
        self._composed: tuple[tuple[HudLayer, ...], Image.Image] | None = None

    def resize(self, width: int, height: int) -> None:
        if (int(width), int(height)) != self.size:
            self.size = (int(width), int(height))
            self._layers.clear()

    def _px(self, value: float) -> int:
        return max(1, round(value * self.size[1] / 720.0))

    # -- public ------------------------------------------------------------------------------------------------------
    def layers(self, hud: HudState, instruments: Sequence[InstrumentFrame] = ()) -> tuple[HudLayer, ...]:
        """The visible layers, bottom first; a layer whose content did not change is the same object as before."""
        timer = _clock(hud.elapsed_s) + (f" / {_clock(hud.time_limit_s)}" if hud.time_limit_s is not None else "")
        over_time = hud.time_limit_s is not None and hud.elapsed_s > hud.time_limit_s
        by_name = {i.name: i for i in instruments}
        gauges = tuple(self._gauge(name, force, hud, by_name.get(name)) for name, force in hud.forces_n.items())
        complete = hud.step_complete_text if hud.step_complete else None
        paused = hud.paused and hud.end_report is None
        # Rounded so the layer is repainted only when the shown figure changes.
        slow = (round(hud.physics_rate, 1) if hud.physics_rate is not None and hud.physics_rate < SLOW_PHYSICS
                else None)
        specs: list[tuple[str, object, Callable[[], HudLayer | None]]] = [
            ("step", (hud.procedure_title, hud.step_title, hud.step_instructions),
             lambda: self._step_panel(hud.procedure_title, hud.step_title, hud.step_instructions)),
            ("timer", (timer, over_time), lambda: self._timer(timer, over_time)),
            ("physics", slow, lambda: slow is not None and self._physics_rate(slow)),
            ("warnings", tuple(hud.warnings), lambda: self._warnings(tuple(hud.warnings))),
            ("gauges", gauges, lambda: self._gauges(gauges)),
            ("complete", complete, lambda: complete and self._banner("complete", complete, COMPLETE_GREEN, 0.72)),
            ("paused", paused, lambda: paused and self._paused()),
            ("end", hud.end_report, lambda: hud.end_report and self._end_screen(hud.end_report)),
        ]
        visible = []
        for name, content, paint in specs:
            cached = self._layers.get(name)
            if cached is None or cached[0] != content:
                cached = (content, paint() or None)
                self._layers[name] = cached
            if cached[1] is not None:
                visible.append(cached[1])
        return tuple(visible)

    def paint(self, hud: HudState, instruments: Sequence[InstrumentFrame] = ()) -> Image.Image:
        """The whole HUD as one ``width`` × ``height`` RGBA image (the same object while nothing changed)."""
        layers = self.layers(hud, instruments)
        if self._composed is None or self._composed[0] != layers:
            canvas = Image.new("RGBA", self.size, (0, 0, 0, 0))
            for layer in layers:
                canvas.alpha_composite(layer.image, dest=(layer.x, layer.y))
            self._composed = (layers, canvas)
        return self._composed[1]

    # -- what a gauge shows ------------------------------------------------------------------------------------------
    def _gauge(self, name: str, force_n: float, hud: HudState, instrument: InstrumentFrame | None) -> _Gauge:
        limit = hud.force_limit_n
        full_scale = GAUGE_FULL_SCALE_OF_LIMIT * limit if limit else GAUGE_FULL_SCALE_WITHOUT_LIMIT_N
        width = self._px(240)
        force = float(force_n) if np.isfinite(force_n) else full_scale
        if limit is not None and force > limit:
            colour = ALARM_RED
        elif limit is not None and force > GAUGE_AMBER_FRACTION_OF_LIMIT * limit:
            colour = GAUGE_AMBER
        else:
            colour = GAUGE_GREEN
        flags = []
        if instrument is not None and instrument.jaw >= 0.5:
            flags.append("jaw closed")
        if instrument is not None and instrument.energy:
            flags.append("ENERGY")
        return _Gauge(
            name=name, value_text=f"{force:.1f} N",
            fill_px=round(min(max(force, 0.0) / full_scale, 1.0) * width),
            limit_px=round(limit / full_scale * width) if limit else None,
            colour=colour, active=name == hud.active_instrument, flags="  ".join(flags),
        )

    # -- layers ------------------------------------------------------------------------------------------------------
    @staticmethod
    def _canvas(width: float, height: float) -> tuple[Image.Image, ImageDraw.ImageDraw]:
        image = Image.new("RGBA", (max(1, int(np.ceil(width))), max(1, int(np.ceil(height)))), (0, 0, 0, 0))
        return image, ImageDraw.Draw(image)

    def _step_panel(self, title: str, step_title: str, instructions: str) -> HudLayer | None:
        pad, max_width = self._px(10), 0.42 * self.size[0]
        lines = []
        for text, font, colour in ((title, load_font(self._px(22), bold=True), WHITE),
                                   (step_title, load_font(self._px(18), bold=True), WHITE),
                                   (instructions, load_font(self._px(16)), GREY_TEXT)):
            if text:
                lines += [(line, font, colour) for line in wrap_text(text, font, max_width)]
        if not lines:
            return None
        width = max(font.getlength(text) for text, font, _ in lines) + 2 * pad
        image, draw = self._canvas(width, sum(_text_height(font) for _, font, _ in lines) + 2 * pad)
        draw.rounded_rectangle((0, 0, image.width - 1, image.height - 1), radius=pad, fill=PANEL)
        y = pad
        for text, font, colour in lines:
            draw.text((pad, y), text, font=font, fill=colour)
            y += _text_height(font)
        return HudLayer("step", self._px(16), self._px(16), image)

    def _timer(self, text: str, over_time: bool) -> HudLayer:
        font, pad = load_font(self._px(26), bold=True), self._px(8)
        image, draw = self._canvas(font.getlength(text) + 2 * pad, font_height(font) * 1.25 + 2 * pad)
        draw.rounded_rectangle((0, 0, image.width - 1, image.height - 1), radius=pad, fill=PANEL)
        draw.text((pad, pad), text, font=font, fill=ALARM_RED if over_time else WHITE)
        return HudLayer("timer", self.size[0] - self._px(16) - image.width, self._px(16), image)

    def _physics_rate(self, rate: float) -> HudLayer:
        """Below the timer: the physics runs slower than real time (the tissue moves in slow motion)."""
        text = f"physics {rate:.1f}\u00d7"
        font, pad = load_font(self._px(16), bold=True), self._px(6)
        image, draw = self._canvas(font.getlength(text) + 2 * pad, font_height(font) * 1.25 + 2 * pad)
        draw.rounded_rectangle((0, 0, image.width - 1, image.height - 1), radius=pad, fill=WARNING_BOX)
        draw.text((pad, pad), text, font=font, fill=WHITE)
        return HudLayer("physics", self.size[0] - self._px(16) - image.width, self._px(70), image)

    def _warnings(self, warnings: tuple[str, ...]) -> HudLayer | None:
        if not warnings:
            return None
        font, pad = load_font(self._px(18), bold=True), self._px(8)
        texts = [f"\u26a0 {warning}" for warning in warnings]
        box_height = _text_height(font) + 2 * pad
        width = max(font.getlength(text) for text in texts) + 2 * pad
        image, draw = self._canvas(width, len(texts) * (box_height + pad) - pad)
        for row, text in enumerate(texts):
            box_width = font.getlength(text) + 2 * pad
            left, top = (image.width - box_width) / 2, row * (box_height + pad)
            draw.rounded_rectangle((left, top, left + box_width, top + box_height), radius=pad, fill=WARNING_BOX)
            draw.text((left + pad, top + pad), text, font=font, fill=WHITE)
        return HudLayer("warnings", (self.size[0] - image.width) // 2, self._px(16), image)

    def _gauges(self, gauges: tuple[_Gauge, ...]) -> HudLayer | None:
        if not gauges:
            return None
        pad, bar_width, bar_height = self._px(8), self._px(240), self._px(14)
        label_font, bold_font = load_font(self._px(15)), load_font(self._px(15), bold=True)
        small_font = load_font(self._px(13))
        label_height = font_height(label_font) * 1.4
        row_height = label_height + bar_height + pad
        image, draw = self._canvas(bar_width + self._px(90) + 2 * pad, len(gauges) * row_height + pad)
        draw.rounded_rectangle((0, 0, image.width - 1, image.height - 1), radius=pad, fill=PANEL)
        y = pad
        for gauge in gauges:
            label = f"\u25b6 {gauge.name}" if gauge.active else gauge.name
            font = bold_font if gauge.active else label_font
            draw.text((pad, y), label, font=font, fill=WHITE)
            if gauge.flags:
                draw.text((2 * pad + font.getlength(label), y + self._px(2)), gauge.flags, font=small_font,
                          fill=GAUGE_AMBER)
            bar_top = y + label_height
            draw.rectangle((pad, bar_top, pad + bar_width, bar_top + bar_height), fill=GAUGE_BACKGROUND)
            if gauge.fill_px > 0:
                draw.rectangle((pad, bar_top, pad + gauge.fill_px, bar_top + bar_height), fill=gauge.colour)
            if gauge.limit_px is not None:
                tick = pad + gauge.limit_px
                draw.rectangle((tick - 1, bar_top - self._px(3), tick + 1, bar_top + bar_height + self._px(3)),
                               fill=WHITE)
            draw.text((2 * pad + bar_width, bar_top - self._px(2)), gauge.value_text, font=label_font,
                      fill=gauge.colour if gauge.colour == ALARM_RED else WHITE)
            y += row_height
        return HudLayer("gauges", self._px(16), self.size[1] - self._px(16) - image.height, image)

    def _banner(self, name: str, text: str, fill, y_fraction: float, *, size: int = 26,
                subtitle: str | None = None) -> HudLayer:
        font, small, pad = load_font(self._px(size), bold=True), load_font(self._px(16)), self._px(14)
        width = max(font.getlength(text), small.getlength(subtitle or "")) + 2 * pad
        height = font_height(font) * 1.25 + (font_height(small) * 1.5 if subtitle else 0) + 2 * pad
        image, draw = self._canvas(width, height)
        draw.rounded_rectangle((0, 0, image.width - 1, image.height - 1), radius=pad, fill=fill)
        draw.text(((image.width - font.getlength(text)) / 2, pad), text, font=font, fill=WHITE)
        if subtitle:
            draw.text(((image.width - small.getlength(subtitle)) / 2, pad + font_height(font) * 1.35), subtitle,
                      font=small, fill=GREY_TEXT)
        return HudLayer(name, (self.size[0] - image.width) // 2, round(self.size[1] * y_fraction - image.height / 2),
                        image)

    def _paused(self) -> HudLayer:
        image = Image.new("RGBA", self.size, DIM)
        banner = self._banner("paused", "PAUSED", PANEL, 0.45, size=48, subtitle="press P to resume")
        image.alpha_composite(banner.image, dest=(banner.x, banner.y))
        return HudLayer("paused", 0, 0, image)

    def _end_screen(self, report: EndReport) -> HudLayer:
        width, height = self.size
        image = Image.new("RGBA", self.size, END_DIM)
        draw = ImageDraw.Draw(image)
        title_font, verdict_font = load_font(self._px(30), bold=True), load_font(self._px(24), bold=True)
        row_font, value_font = load_font(self._px(17)), load_font(self._px(17), bold=True)
        pad, gap = self._px(24), self._px(32)
        verdict = "PASSED" if report.passed else "FAILED"
        label_width = max([row_font.getlength(label) for label, _ in report.rows] or [0])
        value_width = max([value_font.getlength(value) for _, value in report.rows] or [0])
        panel_width = max(label_width + gap + value_width, title_font.getlength(report.title)) + 2 * pad
        row_height = font_height(row_font) * 1.5
        panel_height = (font_height(title_font) * 1.4 + font_height(verdict_font) * 1.6 + len(report.rows) * row_height
                        + 2 * pad)
        left, top = (width - panel_width) / 2, max(0.0, (height - panel_height) / 2)
        draw.rounded_rectangle((left, top, left + panel_width, top + panel_height), radius=pad, fill=END_PANEL)
        y = top + pad
        draw.text(((width - title_font.getlength(report.title)) / 2, y), report.title, font=title_font, fill=WHITE)
        y += font_height(title_font) * 1.4
        draw.text(((width - verdict_font.getlength(verdict)) / 2, y), verdict, font=verdict_font,
                  fill=PASS_GREEN if report.passed else ALARM_RED)
        y += font_height(verdict_font) * 1.6
        for label, value in report.rows:
            draw.text((left + pad, y), label, font=row_font, fill=GREY_TEXT)
            draw.text((left + panel_width - pad - value_font.getlength(value), y), value, font=value_font, fill=WHITE)
            y += row_height
        return HudLayer("end", 0, 0, image)
