# SPDX-License-Identifier: Apache-2.0
"""Shared by the Python tests: PyTorch's float64 result and the project's error bound."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = 1e-5  # the bound the C++ tests and `tconv verify` use

ACTIVATIONS = {
    None: lambda t, s: t,
    "relu": lambda t, s: F.relu(t),
    "leaky_relu": lambda t, s: F.leaky_relu(t, s),
    "sigmoid": lambda t, s: torch.sigmoid(t),
    "tanh": lambda t, s: torch.tanh(t),
}


def f64(a):
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def reference(rank, x, w, b=None, activation=None, negative_slope=0.01, **kw):
    """(PyTorch's result in float64, the per-element error scale: sum of |x*w| over the terms
    + |bias| + |result|)."""
    conv = getattr(F, f"conv_transpose{rank}d")
    xt, wt = f64(x), f64(w)
    bt = None if b is None else f64(b)
    pre = conv(xt, wt, bt, **kw)
    ref = ACTIVATIONS[activation](pre, negative_slope)
    scale = conv(xt.abs(), wt.abs(), None if bt is None else bt.abs(), **kw) + ref.abs()
    return ref.numpy(), scale.numpy()


def assert_close(got, ref, scale, tol=TOL):
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == ref.shape
    err = np.abs(got - ref)
    bad = err > tol * scale
    assert not bad.any(), (f"{bad.sum()} of {bad.size} elements off; first at "
                           f"{np.argwhere(bad)[0]}: got {got[bad][0]}, want {ref[bad][0]}")


def rand(rng, *shape):
    return rng.uniform(-1, 1, shape).astype(np.float32)
