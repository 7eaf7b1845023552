"""A running session (``with session:``) keeps its set-up's objects out of Python's cyclic garbage collector, so that
no full collection over them stalls the tick loop and the window (Session.__enter__); the block's end gives them
back, also after an error, and only when no other session of the process still runs."""

from __future__ import annotations

import gc
import weakref

import pytest

from surgsim.devices.replay import ReplayDevice
from surgsim.live import LiveLoop
from surgsim.render.viewer import NullViewer
from surgsim.session import Session

PROCEDURE = "procedures/examples/tissue_lift.yaml"


class _Node:
    """Something that can be put in a reference cycle and watched through a weak reference."""

    def __init__(self):
        self.other = self


def _cycle() -> weakref.ref:
    """A garbage reference cycle (only the collector can free it), watched through a weak reference."""
    return weakref.ref(_Node())


@pytest.fixture
def session(taichi_cpu):
    return Session(PROCEDURE, arch=taichi_cpu)


def test_a_running_session_leaves_its_set_up_to_reference_counting_and_gives_it_back_at_the_end(session):
    assert gc.get_freeze_count() == 0
    from_set_up = _cycle()  # garbage of the set-up: frozen with it
    with session:
        assert gc.get_freeze_count() > 1000  # the scene, the models, the libraries
        during = _cycle()
        gc.collect()
        assert during() is None  # what the session makes is collected as before
        assert from_set_up() is not None  # a full collection did not pass over the set-up
        session.tick({})
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert from_set_up() is None
    assert session.ended is not None


def test_an_error_in_the_block_also_gives_the_heap_back(session):
    with pytest.raises(RuntimeError):
        with session:
            raise RuntimeError("a broken device")
    assert gc.get_freeze_count() == 0
    assert session.ended == "quit"


def test_the_heap_stays_frozen_while_another_session_of_the_process_runs(session, taichi_cpu):
    other = Session(PROCEDURE, arch=taichi_cpu)
    with session:
        with other:
            pass
        assert gc.get_freeze_count() > 0  # the outer session still runs
        from_set_up_of_inner = _cycle()
        gc.collect()
        assert from_set_up_of_inner() is None  # made after the freezes: collected
    assert gc.get_freeze_count() == 0


def test_the_live_loop_runs_its_session_frozen_and_ends_it(session):
    seen = []
    loop = LiveLoop(session, ReplayDevice([], dt_s=session.dt_s), NullViewer(), realtime=False, max_ticks=20)
    original = session.tick

    def tick(commands):
        seen.append(gc.get_freeze_count())
        return original(commands)

    session.tick = tick
    result = loop.run()
    assert result.ticks == 20 and session.ended == "quit"
    assert seen and min(seen) > 1000
    assert gc.get_freeze_count() == 0
