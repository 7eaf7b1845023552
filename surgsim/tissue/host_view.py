"""NumPy views of Taichi ndarrays that live in host memory (the CPU backend), so that reading them costs a memcpy.

``ndarray.to_numpy()`` launches a Taichi kernel that copies the array into a fresh NumPy array: ~100-300 µs for the
4,000 node positions of a CT scene on a 2-core CPU, more when the other core is busy (its copy loop is parallel and
waits for a second thread). The tick reads positions every tissue step (goals, zones, clips), the solver its guard
value every step; on the CPU backend the ndarray's memory *is* host memory, so a view of it gives the same numbers
for a 2 µs copy. On a GPU the memory is the device's: :func:`host_view` returns None and callers copy as before.

A view aliases the ndarray: it changes when a kernel writes the array, and it must not outlive it (:class:`HostView`
keeps the ndarray alive with its view). Kernels on the CPU backend run synchronously in the calling thread, so a view
read between launches sees the finished result.
"""

from __future__ import annotations

import ctypes

import numpy as np

_CTYPES = {np.dtype(np.float64): ctypes.c_double, np.dtype(np.float32): ctypes.c_float,
           np.dtype(np.int32): ctypes.c_int32, np.dtype(np.int64): ctypes.c_int64, np.dtype(np.uint8): ctypes.c_uint8}


def _numpy_dtype(array) -> np.dtype | None:
    import taichi as ti

    dtype = array.dtype  # the scalar type, also of a vector/matrix ndarray
    for ti_type, np_type in ((ti.f64, np.float64), (ti.f32, np.float32), (ti.i32, np.int32), (ti.i64, np.int64),
                             (ti.u8, np.uint8)):
        if dtype == ti_type:
            return np.dtype(np_type)
    return None


class HostView:
    """``HostView(ndarray).array``: a NumPy view of a Taichi ndarray in host memory, or None where the memory is a
    device's (then :meth:`copy` falls back to ``to_numpy``)."""

    __slots__ = ("ndarray", "array")

    def __init__(self, ndarray):
        self.ndarray = ndarray
        self.array = host_view(ndarray)

    def copy(self) -> np.ndarray:
        """The ndarray's values as a fresh NumPy array."""
        return self.ndarray.to_numpy() if self.array is None else self.array.copy()


def host_view(ndarray) -> np.ndarray | None:
    """A NumPy view of ``ndarray`` when the active backend keeps it in host memory (the CPU backend), else None."""
    from surgsim import backend

    if backend.active() != "cpu":
        return None
    dtype = _numpy_dtype(ndarray)
    if dtype is None:
        return None
    try:
        from taichi.lang import impl

        address = int(impl.get_runtime().prog.get_ndarray_data_ptr_as_int(ndarray.arr))
    except (AttributeError, RuntimeError, TypeError):  # a Taichi without this accessor: copy instead
        return None
    shape = tuple(ndarray.shape) + tuple(getattr(ndarray, "element_shape", ()) or ())
    count = int(np.prod(shape)) if shape else 1
    if address == 0 or count == 0:
        return None
    buffer = (_CTYPES[dtype] * count).from_address(address)
    return np.ctypeslib.as_array(buffer).reshape(shape)
