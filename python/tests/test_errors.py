# SPDX-License-Identifier: Apache-2.0
"""Bad inputs: each is a tconv.Error (a ValueError) whose message names the argument; none
crashes or returns garbage."""

import numpy as np
import pytest

import tconv
from helpers import torch

X = np.zeros((1, 4, 5, 5), np.float32)
W = np.zeros((4, 2, 3, 3), np.float32)
B = np.zeros(2, np.float32)
LAYER = {"name": "L", "in_channels": 4, "out_channels": 2, "input_size": [5, 5],
         "kernel_size": 3}
f2 = tconv.conv_transpose2d

CASES = [
    # functional: types, dtypes, shapes
    (lambda: f2(X.astype(np.float64), W), r"conv_transpose2d: input must be float32, got float64"),
    (lambda: f2(X, W.astype(np.float16)), r"weight must be float32, got float16"),
    (lambda: f2(X, W, B.astype(np.int32)), r"bias must be float32, got int32"),
    (lambda: f2([[1.0]], W), r"input must be a numpy.ndarray or a torch.Tensor, got list"),
    (lambda: f2(X, "w"), r"weight must be a numpy.ndarray or a torch.Tensor, got str"),
    (lambda: f2(X[0, 0], W), r"input must have 4 dimensions \(N, C, H, W\) or 3 without"),
    (lambda: f2(X, W[0]), r"weight must have 4 dimensions"),
    (lambda: f2(X, W[:3]), r"weight.shape\[0\]=3 \(in_channels\) differs from the input's"),
    (lambda: f2(X, W, np.zeros(3, np.float32)), r"bias must have shape \(2,\)"),
    (lambda: tconv.conv_transpose1d(X, W), r"conv_transpose1d: input must have 3 dimensions"),
    # functional: parameters
    (lambda: f2(X, W, stride=0), r"stride=0: each value must be >= 1"),
    (lambda: f2(X, W, stride=(1, 2, 3)), r"stride must be an int or a sequence of 2 ints"),
    (lambda: f2(X, W, stride=1.5), r"stride must be an int"),
    (lambda: f2(X, W, padding=-1), r"padding=-1: each value must be >= 0"),
    (lambda: f2(X, W, dilation=(1, 0)), r"dilation=\(1, 0\): each value must be >= 1"),
    (lambda: f2(X, W, groups=3), r"groups=3 does not divide the input's 4 channels"),
    (lambda: f2(X, W, groups=0), r"groups must be an int >= 1"),
    (lambda: f2(X, W, stride=2, output_padding=2),
     r"conv_transpose2d: .*output_padding\[0\]=2 must be < max\(stride\[0\]=2, dilation\[0\]=1\)"),
    (lambda: f2(X, W, padding=5), r"conv_transpose2d: .*output"),
    (lambda: f2(X, W, activation="gelu"), r"activation must be None or one of"),
    (lambda: f2(X, W, activation="leaky_relu", negative_slope="x"),
     r"negative_slope must be a number"),
    (lambda: f2(X, W, threads=0), r"threads must be None or an int from 1 to 1024, got 0"),
    # modules
    (lambda: tconv.ConvTranspose2d(4, 3, 3, groups=2), r"out_channels=3 must be divisible by groups=2"),
    (lambda: tconv.ConvTranspose2d(0, 3, 3), r"in_channels must be an int >= 1, got 0"),
    (lambda: tconv.ConvTranspose2d(4, 2, 3)(X, output_size=[20, 20]),
     r"output_size\[0\]=20 is not in the valid range \[7, 7\]"),
    (lambda: tconv.ConvTranspose2d(4, 2, 3)(X, output_size=[7]), r"output_size must have 2 or 4"),
    (lambda: setattr(tconv.ConvTranspose2d(4, 2, 3), "weight", W[:, :1]),
     r"ConvTranspose2d: weight must have shape \(4, 2, 3, 3\)"),
    (lambda: tconv.from_torch(torch.nn.Conv2d(2, 2, 3)), r"from_torch: module must be a torch.nn"),
    # Layer and Model
    (lambda: tconv.Layer(dict(LAYER, kernel_size=0), W, B), r"^Layer: kernel_size=0 must be >= 1$"),
    (lambda: tconv.Layer(dict(LAYER, strides=2), W, B), r"strides"),
    (lambda: tconv.Layer("{not json", W, B), r"<string>"),
    (lambda: tconv.Layer("/nonexistent/layer.json", W, B), r"/nonexistent/layer.json"),
    (lambda: tconv.Layer(42, W, B), r"Layer: config must be a dict, JSON text or a path"),
    (lambda: tconv.Layer(LAYER, W[:2], B), r"weight"),
    (lambda: tconv.Layer(LAYER, W.reshape(2, 4, 3, 3), B),
     r"Layer L: weight must have shape \(4, 2, 3, 3\), got \(2, 4, 3, 3\)"),
    (lambda: tconv.Layer(LAYER, W), r"bias"),
    (lambda: tconv.Layer(LAYER, W, B, max_isa="sse2"),
     r"max_isa must be 'avx512_amx', 'avx512_bf16', 'avx512', 'avx2'"),
    (lambda: tconv.Layer(LAYER, W, B)(X[:, :3]),
     r"Layer L: input has shape \(1, 3, 5, 5\), the layer's is \(1, 4, 5, 5\)"),
    (lambda: tconv.Layer(LAYER, W, B)(X, out=np.empty((1, 2, 7, 7), np.float64)),
     r"out must be float32, got float64"),
    (lambda: tconv.Layer(LAYER, W, B)(X, out=np.empty((1, 2, 7, 8), np.float32)[..., :7]),
     r"out must be C-contiguous"),
    (lambda: tconv.Layer(LAYER, W, B)(X, threads=2000), r"threads must be None or an int"),
    (lambda: tconv.Model(dict(LAYER, chain=True), "w"), r"Model: weights must be a list"),
    (lambda: tconv.Model({"layers": [LAYER, dict(LAYER, name="M")], "chain": True}, [W, W]),
     r"chain|channels|input"),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_bad_input_is_a_clear_error(case):
    call, pattern = CASES[case]
    with pytest.raises(tconv.Error, match=pattern) as info:
        call()
    assert isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)
    assert info.value.kind in ("invalid_config", "invalid_argument", "unsupported",
                               "out_of_memory", "io")


def test_read_only_out_is_refused():
    layer = tconv.Layer(LAYER, W, B)
    out = np.empty(layer.output_shape, np.float32)
    out.flags.writeable = False
    with pytest.raises(tconv.Error, match="out is read-only"):
        layer(X, out=out)


def test_out_overlapping_the_input_is_refused():
    square = dict(LAYER, out_channels=4, kernel_size=1, bias=False)
    layer = tconv.Layer(square, np.zeros((4, 4, 1, 1), np.float32))
    x = np.zeros((1, 4, 5, 5), np.float32)
    with pytest.raises(tconv.Error, match="out must not overlap the input"):
        layer(x, out=x)


def test_library_errors_carry_their_kind():
    with pytest.raises(tconv.Error) as info:
        tconv.Layer(dict(LAYER, kernel_size=0), W, B)
    assert info.value.kind == "invalid_config"
    with pytest.raises(tconv.Error) as info:
        tconv.Layer("/nonexistent/layer.json", W, B)
    assert info.value.kind == "io"
