"""An expert demonstration of procedures/examples/tissue_lift.yaml, for `surgsim script`."""

from surgsim.script import grasp, retract


def script(ctl):
    yield from ctl.wait(0.3)  # let the pad settle under gravity
    yield from grasp(ctl, "grasper", "flap", speed=0.05)
    yield from retract(ctl, "grasper", direction="cranial", distance_mm=10)
    yield from ctl.wait(2.5)  # the goal's 2 s hold, and a little more


def generic(ctl):
    """The same session, every step done from its goal in the procedure file."""
    from surgsim.script import demonstrate

    yield from ctl.wait(0.3)
    yield from demonstrate(ctl)
