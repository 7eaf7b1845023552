"""BoundLaunch: a kernel launched with its arguments bound once gives what Taichi's own call gives, and a kernel's
own compile options apply while it compiles and nowhere else."""

# no "from __future__ import annotations": Taichi reads the kernel's annotations

import numpy as np
import pytest


@pytest.fixture
def scale_kernel(taichi_cpu):
    import taichi as ti

    @ti.kernel
    def scale(values: ti.types.ndarray(dtype=ti.f64, ndim=1), factor: ti.types.ndarray(dtype=ti.f64, ndim=1)):
        for i in range(values.shape[0]):
            values[i] = values[i] * factor[0] + 1.0

    return scale


def test_compile_options_apply_inside_and_are_restored_after(taichi_cpu):
    from taichi.lang import impl

    from surgsim.tissue.launch import compile_options

    config = impl.current_cfg()
    before = config.cfg_optimization
    with compile_options({"cfg_optimization": not before}):
        assert config.cfg_optimization is (not before)
    assert config.cfg_optimization is before
    with pytest.raises(RuntimeError):
        with compile_options({"cfg_optimization": not before}):
            raise RuntimeError("a failed compilation")
    assert config.cfg_optimization is before  # restored on the way out of an error too
    with compile_options({}):
        assert config.cfg_optimization is before


def test_a_bound_launch_with_its_own_compile_options_computes_what_the_plain_call_does(scale_kernel):
    import taichi as ti
    from taichi.lang import impl

    from surgsim.tissue.launch import BoundLaunch

    config = impl.current_cfg()
    before = config.cfg_optimization
    seen = []
    launch = BoundLaunch(scale_kernel, compile_options={"cfg_optimization": False})
    original_prepare = launch._prepare

    def prepare(args):
        seen.append(config.cfg_optimization)
        return original_prepare(args)

    launch._prepare = prepare
    values = ti.ndarray(ti.f64, shape=5)
    values.from_numpy(np.arange(5.0))
    factor = np.array([3.0])
    launch(values, factor)
    launch(values, factor)  # bound: no second preparation
    assert seen == [False] and config.cfg_optimization is before
    np.testing.assert_array_equal(values.to_numpy(), (np.arange(5.0) * 3.0 + 1.0) * 3.0 + 1.0)
    reference = ti.ndarray(ti.f64, shape=5)
    reference.from_numpy(np.arange(5.0))
    scale_kernel(reference, factor)
    scale_kernel(reference, factor)
    np.testing.assert_array_equal(values.to_numpy(), reference.to_numpy())


def test_the_contact_pass_is_compiled_without_taichis_control_flow_optimisations():
    from surgsim.tissue.tool_contact import CONTACT_COMPILE_OPTIONS

    assert CONTACT_COMPILE_OPTIONS == {"cfg_optimization": False}
