"""A session starts with its organs at rest: the scene settles until no node moves faster than
``SETTLE_REST_SPEED_M_S`` (at least ``SETTLE_S``, at most ``SETTLE_MAX_S``), so the organs no instrument is near fall
asleep at the first checks instead of creeping through the session's first second with all their nodes solved."""

import logging

import pytest

from surgsim import session as session_module
from surgsim.session import Session
from surgsim.tissue.solver import TissueSolver


def test_the_gallbladder_scene_starts_at_rest_and_its_idle_liver_sleeps_at_once(taichi_cpu, monkeypatch):
    """The settling (in 2 ms steps, whatever the tissue rate) ends at rest; the session's first tissue step (at 250 Hz,
    on the 4th tick) moves no node faster than 0.1 mm/s."""
    monkeypatch.setattr(session_module, "_settle_cache_path", lambda *args: None)  # settle here, whatever is cached
    session = Session("procedures/gallbladder_dissection.yaml", arch=taichi_cpu)
    try:
        while session.tick_count < session.coupler.tissue_every:  # the first tissue step from the settled state,
            session.tick({})  # under the session's own damping (the tissue steps every 4th tick at 250 Hz)
        assert session.solver.last_max_speed < 2 * session_module.SETTLE_REST_SPEED_M_S
        while session.time_s < 0.2:
            session.tick({})
        assert set(session.coupler.sleeping.asleep) == {"liver", "gallbladder"}
    finally:
        session.finish("quit")


def test_settling_stops_once_at_rest_and_goes_on_while_not(taichi_cpu, monkeypatch):
    steps = []
    original = TissueSolver.step

    def counted(self, *args, **kwargs):
        steps.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TissueSolver, "step", counted)
    monkeypatch.setattr(session_module, "_settle_cache_path", lambda *args: None)  # settle here, whatever is cached
    for rest_speed, expected in ((1.0, "least"), (0.0, "most")):
        monkeypatch.setattr(session_module, "SETTLE_REST_SPEED_M_S", rest_speed)
        steps.clear()
        # (the settled scene's cache key holds the rest speed: each setting settles anew)
        session = Session("procedures/liver_retraction.yaml", arch=taichi_cpu)
        session.finish("quit")
        settle_steps = len(steps)
        dt = min(session.tissue_dt_s, session_module.SETTLE_STEP_S)
        bound = session_module.SETTLE_S if expected == "least" else session_module.SETTLE_MAX_S
        assert settle_steps == pytest.approx(round(bound / dt), abs=1)


def test_a_scene_that_does_not_come_to_rest_is_named_and_its_start_not_cached(taichi_cpu, monkeypatch, tmp_path,
                                                                               caplog):
    """Over-accelerated sweeps (a Chebyshev bound forced to 0.999) keep the example pad buzzing through the whole
    settling: the session says so, naming the procedure, and settles again next time instead of caching the
    unsettled start; the same scene with its own bound comes to rest, silently, and is cached."""
    monkeypatch.setenv("SURGSIM_CACHE_DIR", str(tmp_path / "cache"))
    example = "procedures/examples/tissue_lift.yaml"
    with caplog.at_level(logging.WARNING, logger="surgsim.session"):
        Session(example, arch=taichi_cpu, solver_options={"chebyshev_rho": 0.999}).finish("quit")
    assert "tissue_lift.yaml: the scene did not come to rest" in caplog.text
    assert not list(tmp_path.glob("cache/settled/*.npy"))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="surgsim.session"):
        Session(example, arch=taichi_cpu).finish("quit")
    assert "did not come to rest" not in caplog.text
    assert len(list(tmp_path.glob("cache/settled/*.npy"))) == 1
