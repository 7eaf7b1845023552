"""The HUD painted to its own image (Pillow only: no display needed)."""

from __future__ import annotations

import numpy as np

from surgsim.render.frame import EndReport, HudState, InstrumentFrame
from surgsim.render.hud import ALARM_RED, HudPainter
from surgsim.render.text import wrap_text

WIDTH, HEIGHT = 1280, 720


def ink(image) -> int:
    """How many pixels the HUD paints (not fully transparent)."""
    return int((np.asarray(image)[..., 3] > 0).sum())


def alarm_red_pixels(image) -> int:
    rgba = np.asarray(image)
    return int(np.all(rgba == ALARM_RED, axis=2).sum())


def test_an_empty_hud_still_shows_the_timer_and_nothing_else_is_opaque():
    image = HudPainter(WIDTH, HEIGHT).paint(HudState())
    assert image.size == (WIDTH, HEIGHT) and image.mode == "RGBA"
    assert 0 < ink(image) < 0.05 * WIDTH * HEIGHT


def test_text_is_painted_and_longer_text_covers_more():
    painter = HudPainter(WIDTH, HEIGHT)
    short = ink(painter.paint(HudState(procedure_title="Cholecystectomy", step_instructions="Grasp the fundus.")))
    long = ink(painter.paint(HudState(
        procedure_title="Cholecystectomy",
        step_instructions="Grasp the fundus of the gallbladder and retract it over the liver towards the right "
                          "shoulder, then expose the triangle of Calot by pulling the infundibulum laterally.",
    )))
    empty = ink(painter.paint(HudState()))
    assert empty < short < long


def test_the_force_gauge_turns_red_above_the_limit():
    painter = HudPainter(WIDTH, HEIGHT)
    below = painter.paint(HudState(forces_n={"grasper": 2.0}, force_limit_n=4.0))
    above = painter.paint(HudState(forces_n={"grasper": 5.0}, force_limit_n=4.0))
    assert alarm_red_pixels(below) == 0
    assert alarm_red_pixels(above) > 200
    assert ink(painter.paint(HudState(forces_n={"a": 1.0, "b": 1.0}))) > ink(painter.paint(HudState(
        forces_n={"a": 1.0})))


def test_the_timer_turns_red_after_the_time_limit():
    painter = HudPainter(WIDTH, HEIGHT)
    assert alarm_red_pixels(painter.paint(HudState(elapsed_s=30.0, time_limit_s=60.0))) == 0
    assert alarm_red_pixels(painter.paint(HudState(elapsed_s=61.0, time_limit_s=60.0))) > 50


def test_warnings_step_complete_pause_and_end_screen_each_add_to_the_image():
    painter = HudPainter(WIDTH, HEIGHT)
    base = ink(painter.paint(HudState()))
    assert ink(painter.paint(HudState(warnings=("Force above the limit",)))) > base
    assert ink(painter.paint(HudState(warnings=("one", "two")))) > ink(painter.paint(HudState(warnings=("one",))))
    assert ink(painter.paint(HudState(step_complete=True))) > base
    paused = np.asarray(painter.paint(HudState(paused=True)))
    assert (paused[..., 3] > 0).all()  # the whole view is dimmed
    rows = (("Time", "01:23"), ("Path length", "1.2 m"), ("Score", "87 / 100"))
    one_row = ink(painter.paint(HudState(end_report=EndReport(rows[:1], passed=True))))
    three_rows = ink(painter.paint(HudState(end_report=EndReport(rows, passed=False))))
    assert (np.asarray(painter.paint(HudState(end_report=EndReport(rows, passed=True))))[..., 3] > 0).all()
    assert three_rows >= one_row


def test_instrument_flags_and_the_active_marker_are_shown():
    painter = HudPainter(WIDTH, HEIGHT)
    hud = HudState(forces_n={"grasper": 1.0}, force_limit_n=4.0)
    plain = np.asarray(painter.paint(hud)).copy()
    flagged = np.asarray(painter.paint(hud, [InstrumentFrame("grasper", (), jaw=1.0, energy=True)]))
    active = np.asarray(painter.paint(HudState(forces_n={"grasper": 1.0}, force_limit_n=4.0,
                                               active_instrument="grasper")))
    assert (flagged != plain).any(axis=2).sum() > 100
    assert (active != plain).any(axis=2).sum() > 50


def test_an_unchanged_hud_is_not_repainted():
    painter = HudPainter(WIDTH, HEIGHT)
    first = painter.paint(HudState(elapsed_s=10.2, forces_n={"g": 1.0}))
    same_second = painter.paint(HudState(elapsed_s=10.7, forces_n={"g": 1.0001}))
    next_second = painter.paint(HudState(elapsed_s=11.1, forces_n={"g": 1.0}))
    assert same_second is first
    assert next_second is not first


def test_the_hud_scales_with_the_image_height():
    small = ink(HudPainter(640, 360).paint(HudState(procedure_title="Liver retraction")))
    large = ink(HudPainter(1280, 720).paint(HudState(procedure_title="Liver retraction")))
    assert 2.5 < large / small < 5.5


def test_wrapping_keeps_lines_within_the_width():
    from surgsim.render.text import load_font

    font = load_font(16)
    lines = wrap_text("the quick brown fox jumps over the lazy dog " * 5, font, 200)
    assert len(lines) > 3
    assert all(font.getlength(line) <= 200 for line in lines)
    assert wrap_text("first\nsecond", font, 500) == ["first", "second"]
