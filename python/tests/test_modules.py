# SPDX-License-Identifier: Apache-2.0
"""ConvTranspose modules and from_torch: the same numbers as the PyTorch module, output_size,
default initialisation, weights that cannot go stale."""

import math

import numpy as np
import pytest

import tconv
from helpers import assert_close, rand, reference, torch

TORCH = {1: torch.nn.ConvTranspose1d, 2: torch.nn.ConvTranspose2d, 3: torch.nn.ConvTranspose3d}
OURS = {1: tconv.ConvTranspose1d, 2: tconv.ConvTranspose2d, 3: tconv.ConvTranspose3d}


def torch_reference(m, x, output_size=None):
    """The module's result in float64 and the error scale (the output padding read from the
    shape of the module's own result)."""
    with torch.no_grad():
        shape = m(torch.from_numpy(x), output_size=output_size).shape[2:]
    smallest = [(i - 1) * s - 2 * p + d * (k - 1) + 1 for i, s, p, d, k in
                zip(x.shape[2:], m.stride, m.padding, m.dilation, m.kernel_size)]
    kw = dict(stride=m.stride, padding=m.padding, groups=m.groups, dilation=m.dilation,
              output_padding=[o - s for o, s in zip(shape, smallest)])
    b = None if m.bias is None else m.bias.detach().numpy()
    return reference(len(m.stride), x, m.weight.detach().numpy(), b, **kw)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_from_torch_matches_the_module(rank):
    torch.manual_seed(rank)
    rng = np.random.default_rng(rank)
    for groups, bias in ((1, True), (2, False), (4, True)):
        m = TORCH[rank](8, 12, 3, stride=2, padding=1, output_padding=1, groups=groups,
                        bias=bias, dilation=1)
        ours = tconv.from_torch(m)
        x = rand(rng, 2, 8, *(6, 5, 4)[:rank])
        y = ours(torch.from_numpy(x))
        with torch.no_grad():
            want = m(torch.from_numpy(x))
        assert y.shape == want.shape
        ref, scale = torch_reference(m, x)
        assert_close(y.numpy(), ref, scale)
        # and the float32 module itself agrees within the same bound
        assert_close(want.numpy(), ref, scale, tol=1e-4)


def test_from_torch_dcgan_layer_in_both_layouts():
    torch.manual_seed(0)
    m = torch.nn.ConvTranspose2d(64, 32, 4, 2, 1, bias=False)
    ours = tconv.from_torch(m, activation="relu")
    x = torch.randn(1, 64, 8, 8)
    with torch.no_grad():
        want = torch.relu(m(x))
    for t in (x, x.contiguous(memory_format=torch.channels_last)):
        y = ours(t)
        assert y.is_contiguous(memory_format=torch.channels_last) == (t is not x)
        np.testing.assert_allclose(y.numpy(), want.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("rank", [1, 2])
def test_output_size_follows_pytorch(rank):
    torch.manual_seed(3)
    m = TORCH[rank](4, 6, 3, stride=3, padding=1)
    ours = tconv.from_torch(m)
    x = rand(np.random.default_rng(3), 1, 4, *(5, 6)[:rank])
    smallest = [(s - 1) * 3 - 2 + 3 for s in x.shape[2:]]
    for extra in range(3):
        size = [v + extra for v in smallest]
        y = ours(x, output_size=size)
        with torch.no_grad():
            want = m(torch.from_numpy(x), output_size=size)
        assert y.shape == tuple(want.shape)
        ref, scale = torch_reference(m, x, size)
        assert_close(y, ref, scale)
    # N and C in front, as PyTorch allows
    assert ours(x, output_size=[1, 6] + smallest).shape[2:] == tuple(smallest)
    with pytest.raises(tconv.Error, match=r"output_size\[0\]=.* is not in the valid range"):
        ours(x, output_size=[v + 3 for v in smallest])


def test_default_init_and_attributes():
    m = tconv.ConvTranspose2d(16, 8, (3, 5), stride=2, groups=2)
    assert m.weight.shape == (16, 4, 3, 5) and m.weight.dtype == np.float32
    assert m.bias.shape == (8,)
    bound = 1 / math.sqrt(4 * 15)  # PyTorch: fan_in = weight.shape[1] * kernel elements
    assert np.abs(m.weight).max() <= bound and np.abs(m.bias).max() <= bound
    assert np.abs(m.weight).max() > 0.8 * bound
    assert m.kernel_size == (3, 5) and m.stride == (2, 2) and m.padding == (0, 0)
    assert "ConvTranspose2d(16, 8, kernel_size=(3, 5), stride=(2, 2), groups=2)" == repr(m)
    assert tconv.ConvTranspose1d(2, 2, 3, bias=False).bias is None


def test_weights_are_read_only_and_assignment_recompiles():
    rng = np.random.default_rng(5)
    m = tconv.ConvTranspose1d(3, 2, 4, stride=2)
    x = rand(rng, 1, 3, 9)
    y1 = m(x)
    with pytest.raises(ValueError, match="read-only"):
        m.weight[0, 0, 0] = 1.0
    m.weight = m.weight * 2
    m.bias = m.bias * 2
    np.testing.assert_allclose(m(x), 2 * y1, rtol=1e-5, atol=1e-6)
    info = m.cache_info()
    assert info["compiles"] == 2 and info["layers"] == 1  # the old weights' layer is gone


def test_module_reshapes_for_new_input_sizes():
    rng = np.random.default_rng(6)
    m = tconv.ConvTranspose1d(16, 8, 16, stride=8, padding=4)
    for length in (40, 41, 57, 40):
        x = rand(rng, 1, 16, length)
        ref, scale = reference(1, x, m.weight, m.bias, stride=8, padding=4)
        assert_close(m(x), ref, scale)
    info = m.cache_info()
    assert info == dict(info, compiles=1, reshapes=2, hits=1)
