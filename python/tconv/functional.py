# SPDX-License-Identifier: Apache-2.0
"""conv_transpose1d/2d/3d with the semantics of torch.nn.functional.conv_transpose{1,2,3}d, plus
a fused activation. Layers are compiled on the first call with a new (parameters, weights) key
and kept in a bounded LRU cache (tconv.cache_info(), tconv.set_cache_capacity()); a new input
size of a cached layer is a re-shape, not a new compile. Weights are keyed by their content (a
64-bit fingerprint computed each call, at memory speed), so changing an array in place is seen."""

import json
import numbers

from . import _arrays, _tconv
from ._cache import LayerCache
from ._errors import Error, fail, relabel

ACTIVATIONS = ("none", "relu", "leaky_relu", "sigmoid", "tanh")
DEFAULT_CACHE_CAPACITY = 64  # compiled layers kept by the functional API

cache = LayerCache(DEFAULT_CACHE_CAPACITY)


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def expand(value, rank, name, fn, minimum):
    """An int or a sequence of 1 or `rank` ints (as PyTorch accepts) -> a tuple of `rank`."""
    if _is_int(value):
        values = (int(value),) * rank
    elif isinstance(value, (tuple, list)) and len(value) in (1, rank) and all(map(_is_int, value)):
        values = tuple(int(v) for v in value) * (rank if len(value) == 1 else 1)
    else:
        fail(f"{fn}: {name} must be an int or a sequence of {rank} ints, got {value!r}")
    for v in values:
        if v < minimum:
            fail(f"{fn}: {name}={value!r}: each value must be >= {minimum}")
    return values


def check_activation(activation, negative_slope, fn):
    name = "none" if activation is None else activation
    if name not in ACTIVATIONS:
        fail(f"{fn}: activation must be None or one of {', '.join(repr(a) for a in ACTIVATIONS)}, "
             f"got {activation!r}")
    if not isinstance(negative_slope, numbers.Real) or isinstance(negative_slope, bool):
        fail(f"{fn}: negative_slope must be a number, got {negative_slope!r}")
    return name, float(negative_slope)


def check_threads(threads, fn):
    if threads is not None and (not _is_int(threads) or not 1 <= threads <= 1024):
        fail(f"{fn}: threads must be None or an int from 1 to 1024, got {threads!r}")
    return threads


def output_padding_for(output_size, input_spatial, rank, kernel, stride, padding, dilation, fn):
    """PyTorch's rule: output_size (the spatial sizes, or with N and C in front) must lie between
    the smallest output and that plus stride - 1; the difference is the output padding."""
    if not isinstance(output_size, (tuple, list)) or not all(map(_is_int, output_size)):
        fail(f"{fn}: output_size must be a sequence of ints, got {output_size!r}")
    size = tuple(int(v) for v in output_size)
    if len(size) == rank + 2:
        size = size[2:]
    if len(size) != rank:
        fail(f"{fn}: output_size must have {rank} or {rank + 2} elements, got {len(size)}")
    pads = []
    for d in range(rank):
        smallest = ((input_spatial[d] - 1) * stride[d] - 2 * padding[d]
                    + dilation[d] * (kernel[d] - 1) + 1)
        largest = smallest + stride[d] - 1
        if not smallest <= size[d] <= largest:
            fail(f"{fn}: output_size[{d}]={size[d]} is not in the valid range "
                 f"[{smallest}, {largest}] for input size {input_spatial[d]}")
        pads.append(size[d] - smallest)
    return tuple(pads)


def conv_transpose(rank, fn, input, weight, bias, stride, padding, output_padding, groups,
                   dilation, activation, negative_slope, threads, layers=cache, weights_key=None,
                   output_size=None):
    """The functional API's body; modules pass their own cache and a key for their weights."""
    x = _arrays.as_numpy(input, "input", fn)
    _arrays.check_float32(x, "input", fn)
    unbatched = x.ndim == rank + 1
    if unbatched:
        x = x[None]
    elif x.ndim != rank + 2:
        fail(f"{fn}: input must have {rank + 2} dimensions (N, C, {_spatial_names(rank)}) or "
             f"{rank + 1} without the batch, got shape {tuple(x.shape)}")
    w = _arrays.as_numpy(weight, "weight", fn)
    _arrays.check_float32(w, "weight", fn)
    if w.ndim != rank + 2:
        fail(f"{fn}: weight must have {rank + 2} dimensions (in_channels, out_channels/groups, "
             f"{_spatial_names(rank)}), got shape {tuple(w.shape)}")
    if not _is_int(groups) or groups < 1:
        fail(f"{fn}: groups must be an int >= 1, got {groups!r}")
    in_channels, out_channels = x.shape[1], w.shape[1] * groups
    if w.shape[0] != in_channels:
        fail(f"{fn}: weight.shape[0]={w.shape[0]} (in_channels) differs from the input's "
             f"channels, input.shape[{0 if unbatched else 1}]={in_channels}")
    if in_channels % groups:
        fail(f"{fn}: groups={groups} does not divide the input's {in_channels} channels")
    b = None
    if bias is not None:
        b = _arrays.as_numpy(bias, "bias", fn)
        _arrays.check_float32(b, "bias", fn)
        if b.shape != (out_channels,):
            fail(f"{fn}: bias must have shape ({out_channels},) (out_channels), "
                 f"got {tuple(b.shape)}")
    stride = expand(stride, rank, "stride", fn, 1)
    padding = expand(padding, rank, "padding", fn, 0)
    dilation = expand(dilation, rank, "dilation", fn, 1)
    kernel = tuple(w.shape[2:])
    if output_size is not None:
        output_padding = output_padding_for(output_size, x.shape[2:], rank, kernel, stride,
                                            padding, dilation, fn)
    output_padding = expand(output_padding, rank, "output_padding", fn, 0)
    act, slope = check_activation(activation, negative_slope, fn)
    if act != "leaky_relu":
        slope = None  # PyTorch ignores it; the library refuses it
    check_threads(threads, fn)

    channels_last = _arrays.is_channels_last(x)
    xbuf = _arrays.channels_last_view(x) if channels_last else _arrays.contiguous_float32(
        x, "input", fn)
    if weights_key is None:
        w = _arrays.contiguous_float32(w, "weight", fn)
        b = None if b is None else _arrays.contiguous_float32(b, "bias", fn)
        weights_key = (_tconv.fingerprint(w), None if b is None else _tconv.fingerprint(b))
    family = (rank, in_channels, out_channels, groups, kernel, stride, padding, output_padding,
              dilation, act, slope, channels_last, b is not None, weights_key)
    shape = (x.shape[0],) + tuple(x.shape[2:])

    def compile_layer():
        config = {"name": fn, "batch": shape[0], "in_channels": in_channels,
                  "out_channels": out_channels, "groups": groups, "input_size": list(shape[1:]),
                  "kernel_size": list(kernel), "stride": list(stride), "padding": list(padding),
                  "output_padding": list(output_padding), "dilation": list(dilation),
                  "bias": b is not None, "activation": act,
                  "layout": "channels_last" if channels_last else "channels_first"}
        if slope is not None:
            config["negative_slope"] = slope
        wc = _arrays.contiguous_float32(w, "weight", fn)
        bc = None if b is None else _arrays.contiguous_float32(b, "bias", fn)
        return _tconv.Layer.compile(json.dumps(config), False, wc, bc, None, 0, "")

    try:
        layer = layers.get(family, shape, compile_layer)
    except Error as e:
        raise relabel(e, fn) from None
    out_shape = layer.output_shape
    if channels_last:
        out_shape = [out_shape[0], out_shape[-1]] + out_shape[1:-1]
    y, ybuf = _arrays.new_output(input, out_shape, channels_last)
    layer.execute(xbuf, ybuf, threads)
    return y[0] if unbatched else y


def _spatial_names(rank):
    return ", ".join(("D", "H", "W")[3 - rank:])


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, activation=None, negative_slope=0.01, threads=None):
    """torch.nn.functional.conv_transpose1d on NumPy arrays or CPU tensors (float32): input
    (N, C_in, W) or (C_in, W), weight (C_in, C_out/groups, kW), bias (C_out,). Then the
    activation: None, 'relu', 'leaky_relu' (negative_slope), 'sigmoid' or 'tanh'. threads: per
    call (None: the library's default, TCONV_NUM_THREADS, else
    OMP_NUM_THREADS, else all CPUs)."""
    return conv_transpose(1, "conv_transpose1d", input, weight, bias, stride, padding,
                          output_padding, groups, dilation, activation, negative_slope, threads)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, activation=None, negative_slope=0.01, threads=None):
    """torch.nn.functional.conv_transpose2d (see conv_transpose1d): input (N, C_in, H, W),
    weight (C_in, C_out/groups, kH, kW). A channels_last input gives a channels_last result."""
    return conv_transpose(2, "conv_transpose2d", input, weight, bias, stride, padding,
                          output_padding, groups, dilation, activation, negative_slope, threads)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, activation=None, negative_slope=0.01, threads=None):
    """torch.nn.functional.conv_transpose3d (see conv_transpose1d): input (N, C_in, D, H, W),
    weight (C_in, C_out/groups, kD, kH, kW)."""
    return conv_transpose(3, "conv_transpose3d", input, weight, bias, stride, padding,
                          output_padding, groups, dilation, activation, negative_slope, threads)
