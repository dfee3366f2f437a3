# SPDX-License-Identifier: Apache-2.0
"""The functional API against torch.nn.functional.conv_transpose{1,2,3}d in float64: random
layers of every feature, both layouts, NumPy and torch, the cache and re-shaping."""

import numpy as np
import pytest

import tconv
from helpers import ACTIVATIONS, assert_close, rand, reference, torch

FUNCS = {1: tconv.conv_transpose1d, 2: tconv.conv_transpose2d, 3: tconv.conv_transpose3d}


def random_layer(rng, rank):
    groups = int(rng.choice([1, 1, 2, 3]))
    ic = groups * int(rng.integers(1, 7))
    oc = groups * int(rng.integers(1, 7))
    stride = tuple(int(v) for v in rng.integers(1, 4, rank))
    dilation = tuple(int(v) for v in rng.integers(1, 3, rank))
    kernel = tuple(int(v) for v in rng.integers(1, 5, rank))
    padding = tuple(int(rng.integers(0, d * (k - 1) // 2 + 1)) for k, d in zip(kernel, dilation))
    output_padding = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
    size = {1: (5, 17), 2: (3, 9), 3: (2, 5)}[rank]
    spatial = tuple(int(v) for v in rng.integers(size[0], size[1], rank))
    return dict(batch=int(rng.integers(1, 3)), ic=ic, oc=oc, groups=groups, kernel=kernel,
                spatial=spatial, kw=dict(stride=stride, padding=padding,
                                         output_padding=output_padding, groups=groups,
                                         dilation=dilation),
                bias=bool(rng.integers(0, 2)),
                activation=list(ACTIVATIONS)[int(rng.integers(0, len(ACTIVATIONS)))])


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_random_layers_match_torch(rank):
    rng = np.random.default_rng(1000 + rank)
    for _ in range({1: 60, 2: 60, 3: 25}[rank]):
        L = random_layer(rng, rank)
        x = rand(rng, L["batch"], L["ic"], *L["spatial"])
        w = rand(rng, L["ic"], L["oc"] // L["groups"], *L["kernel"])
        b = rand(rng, L["oc"]) if L["bias"] else None
        y = FUNCS[rank](x, w, b, activation=L["activation"], negative_slope=0.2, **L["kw"])
        assert isinstance(y, np.ndarray) and y.dtype == np.float32
        ref, scale = reference(rank, x, w, b, L["activation"], 0.2, **L["kw"])
        assert_close(y, ref, scale)


@pytest.mark.parametrize("rank", [2, 3])
def test_channels_last_tensors_give_channels_last_results(rank):
    rng = np.random.default_rng(7)
    fmt = torch.channels_last if rank == 2 else torch.channels_last_3d
    x = torch.from_numpy(rand(rng, 2, 8, *(5,) * rank)).contiguous(memory_format=fmt)
    w = torch.from_numpy(rand(rng, 8, 3, *(3,) * rank))
    b = torch.from_numpy(rand(rng, 6))
    y = FUNCS[rank](x, w, b, stride=2, padding=1, output_padding=1, groups=2)
    assert isinstance(y, torch.Tensor) and y.is_contiguous(memory_format=fmt)
    ref, scale = reference(rank, x.numpy(), w.numpy(), b.numpy(), stride=2, padding=1,
                           output_padding=1, groups=2)
    assert_close(y.numpy(), ref, scale)
    yc = FUNCS[rank](x.contiguous(), w, b, stride=2, padding=1, output_padding=1, groups=2)
    assert yc.is_contiguous()
    assert_close(yc.numpy(), ref, scale)


def test_numpy_channels_last_strides_and_views():
    rng = np.random.default_rng(8)
    nhwc = rand(rng, 1, 6, 7, 4)
    x = np.moveaxis(nhwc, -1, 1)  # N, C, H, W shaped, channels_last in memory
    w = rand(rng, 4, 5, 2, 2)
    y = tconv.conv_transpose2d(x, w, stride=2)
    assert np.moveaxis(y, 1, -1).flags.c_contiguous
    ref, scale = reference(2, x, w, stride=2)
    assert_close(y, ref, scale)
    # A strided view that is in neither layout is copied, with the same result.
    big = rand(rng, 1, 4, 12, 14)
    view = big[:, :, ::2, ::2]
    ref, scale = reference(2, view, w, stride=2)
    assert_close(tconv.conv_transpose2d(view, w, stride=2), ref, scale)


def test_torch_tensors_and_unbatched_inputs():
    rng = np.random.default_rng(9)
    x = torch.from_numpy(rand(rng, 4, 11))
    w = torch.from_numpy(rand(rng, 4, 2, 3))
    y = tconv.conv_transpose1d(x, w, None, 2, 1, 1)
    assert isinstance(y, torch.Tensor) and y.shape == (2, 22)
    ref, scale = reference(1, x.numpy()[None], w.numpy(), stride=2, padding=1, output_padding=1)
    assert_close(y.numpy(), ref[0], scale[0])
    # requires_grad parameters are read (not tracked) as they are.
    wg = w.clone().requires_grad_()
    assert_close(tconv.conv_transpose1d(x, wg, None, 2, 1, 1).numpy(), ref[0], scale[0])


def test_cache_compiles_once_and_reshapes_for_new_sizes():
    rng = np.random.default_rng(10)
    tconv.clear_cache()
    w, b = rand(rng, 8, 4, 4), rand(rng, 4)
    before = tconv.cache_info()
    for _ in range(3):
        tconv.conv_transpose1d(rand(rng, 1, 8, 50), w, b, stride=2)
    info = tconv.cache_info()
    assert info["compiles"] - before["compiles"] == 1
    assert info["hits"] - before["hits"] == 2
    for length in (60, 70, 80):
        x = rand(rng, 2, 8, length)
        ref, scale = reference(1, x, w, b, stride=2)
        assert_close(tconv.conv_transpose1d(x, w, b, stride=2), ref, scale)
    info = tconv.cache_info()
    assert info["compiles"] - before["compiles"] == 1
    assert info["reshapes"] - before["reshapes"] == 3
    assert info["layers"] == 4 and info["kernels"]["kernels_in_use"] > 0


def test_weights_changed_in_place_are_seen():
    rng = np.random.default_rng(11)
    x, w = rand(rng, 1, 3, 6, 6), rand(rng, 3, 2, 3, 3)
    y1 = tconv.conv_transpose2d(x, w)
    w *= 2  # same array object, new content
    y2 = tconv.conv_transpose2d(x, w)
    np.testing.assert_allclose(y2, 2 * y1, rtol=1e-5, atol=1e-6)


def test_cache_is_bounded():
    rng = np.random.default_rng(12)
    tconv.set_cache_capacity(layers=3)
    try:
        for i in range(8):
            tconv.conv_transpose1d(rand(rng, 1, 2, 5), rand(rng, 2, 2, 3))
            assert tconv.cache_info()["layers"] <= 3
        tconv.clear_cache()
        assert tconv.cache_info()["layers"] == 0
    finally:
        tconv.set_cache_capacity(layers=64)


def test_threads_argument_gives_the_same_bits():
    rng = np.random.default_rng(13)
    x, w = rand(rng, 2, 16, 20, 20), rand(rng, 16, 8, 4, 4)
    y1 = tconv.conv_transpose2d(x, w, stride=2, padding=1, threads=1)
    y2 = tconv.conv_transpose2d(x, w, stride=2, padding=1, threads=2)
    assert np.array_equal(y1, y2)
