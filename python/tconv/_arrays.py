# SPDX-License-Identifier: Apache-2.0
"""NumPy arrays and CPU torch tensors as the float32 buffers the library reads and writes.

A tensor's memory is reached through NumPy views (``Tensor.numpy()`` shares it), so inputs that
are already in the layer's layout are never copied. channels_last means the memory order
N, spatial..., C of a tensor shaped N, C, spatial... (PyTorch's memory format; a NumPy array
with the same strides counts too)."""

import sys

import numpy as np

from ._errors import fail


def torch_module():
    """torch if it is imported (a tensor argument means it is), else None: tconv never
    imports PyTorch itself."""
    return sys.modules.get("torch")


def is_tensor(x):
    torch = torch_module()
    return torch is not None and isinstance(x, torch.Tensor)


def as_numpy(x, what, fn):
    """A NumPy view of a NumPy array or CPU tensor; anything else is an Error naming `what`."""
    if isinstance(x, np.ndarray):
        return x
    if is_tensor(x):
        if x.device.type != "cpu":
            fail(f"{fn}: {what} must be a CPU tensor, got one on {x.device}")
        if x.is_complex() or x.layout != torch_module().strided:
            fail(f"{fn}: {what} must be a dense float32 tensor")
        return x.detach().numpy()
    fail(f"{fn}: {what} must be a numpy.ndarray or a torch.Tensor, got {type(x).__name__}")


def check_float32(a, what, fn):
    if a.dtype != np.float32:
        fail(f"{fn}: {what} must be float32, got {a.dtype}")


def channels_last_view(a):
    """The N, spatial..., C view of an N, C, spatial... array (no copy)."""
    return np.moveaxis(a, 1, -1)


def is_channels_last(a):
    """True when `a` (N, C, spatial...) is laid out N, spatial..., C in memory and not also
    plain C order (as a 1-channel array is: then it is channels_first)."""
    return (a.ndim >= 3 and not a.flags.c_contiguous
            and channels_last_view(a).flags.c_contiguous)


def contiguous_float32(a, what, fn):
    """`a` itself when C-contiguous float32, else a C-contiguous float32 copy."""
    check_float32(a, what, fn)
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def new_output(like, shape, channels_last):
    """An uninitialised float32 result of `shape` (N, C, spatial...) of the same kind as `like`
    (NumPy or torch), in the given layout; returns (result, the buffer the library writes)."""
    if channels_last:
        nhwc = (shape[0],) + tuple(shape[2:]) + (shape[1],)
        if is_tensor(like):
            buf = torch_module().empty(nhwc, dtype=torch_module().float32)
            return buf.movedim(-1, 1), buf.numpy()
        buf = np.empty(nhwc, dtype=np.float32)
        return channels_last_view_inverse(buf), buf
    if is_tensor(like):
        t = torch_module().empty(tuple(shape), dtype=torch_module().float32)
        return t, t.numpy()
    y = np.empty(shape, dtype=np.float32)
    return y, y


def channels_last_view_inverse(a):
    """The N, C, spatial... view of an N, spatial..., C array (no copy)."""
    return np.moveaxis(a, -1, 1)
