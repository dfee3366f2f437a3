# SPDX-License-Identifier: Apache-2.0
"""tconv.Layer (one layer from an exact config) and tconv.Model (a chain of layers).

Tensors are in the layer's layout as the library defines it: channels_first (N, C, spatial...)
or channels_last (N, spatial..., C). A channels_last layer also takes and gives tensors shaped
(N, C, spatial...) whose memory is channels_last (PyTorch's memory format). Buffers already in
that form are used as they are: ``layer(x, out=y)`` allocates nothing."""

import json
import os

import numpy as np

from . import _arrays, _tconv
from ._errors import Error, fail, relabel


def config_source(config, what):
    """(text, is_path) for a dict, JSON text or a path."""
    if isinstance(config, dict):
        return json.dumps(config), False
    if isinstance(config, str) and config.lstrip().startswith("{"):
        return config, False
    if isinstance(config, (str, os.PathLike)):
        return os.fspath(config), True
    fail(f"{what}: config must be a dict, JSON text or a path, got {type(config).__name__}")


def _param(a, what, fn):
    a = _arrays.as_numpy(a, what, fn)
    return _arrays.contiguous_float32(a, what, fn)


def _check_shape(a, expected, what, fn):
    if tuple(a.shape) != tuple(expected):
        fail(f"{fn}: {what} must have shape {tuple(expected)}, got {tuple(a.shape)}")


class _Executable:
    """What Layer and Model share: buffers in, buffer out."""

    def __call__(self, x, out=None, *, threads=None):
        fn = self._what()
        if threads is not None and (not isinstance(threads, int) or not 1 <= threads <= 1024):
            fail(f"{fn}: threads must be None or an int from 1 to 1024, got {threads!r}")
        xa, torch_layout = self._buffer(x, self.input_shape, "input", fn)
        if out is None:
            if torch_layout:  # N, C, spatial... shaped, channels_last in memory
                s = self.output_shape
                y, ybuf = _arrays.new_output(x, (s[0], s[-1]) + s[1:-1], True)
            else:
                y, ybuf = _arrays.new_output(x, self.output_shape, False)
        else:
            y = out
            ybuf, _ = self._buffer(out, self.output_shape, "out", fn, output=True)
            if np.may_share_memory(xa, ybuf):
                fail(f"{fn}: out must not overlap the input")
        self._impl.execute(xa, ybuf, threads)
        return y

    def _buffer(self, a, shape, what, fn, output=False):
        """(the buffer in the library's layout, whether `a` is the N, C, spatial... view)."""
        arr = _arrays.as_numpy(a, what, fn)
        _arrays.check_float32(arr, what, fn)
        shape = tuple(shape)
        if self._channels_last and arr.ndim == len(shape) and arr.ndim >= 3:
            nchw = (shape[0], shape[-1]) + shape[1:-1]
            if tuple(arr.shape) == nchw and tuple(arr.shape) != shape:
                view = _arrays.channels_last_view(arr)
                if not view.flags.c_contiguous:
                    fail(f"{fn}: {what} shaped {nchw} must be channels_last in memory "
                         f"(or pass it as {shape})")
                return view, True
        if tuple(arr.shape) != shape:
            fail(f"{fn}: {what} has shape {tuple(arr.shape)}, the layer's is {shape}"
                 + (f" (or {(shape[0], shape[-1]) + shape[1:-1]} channels_last)"
                    if self._channels_last else ""))
        if arr.flags.c_contiguous:
            return arr, False
        if output:
            fail(f"{fn}: out must be C-contiguous")
        return np.ascontiguousarray(arr), False

    @property
    def input_shape(self):
        return tuple(self._impl.input_shape)

    @property
    def output_shape(self):
        return tuple(self._impl.output_shape)


class Layer(_Executable):
    """One compiled layer: ``Layer(config, weight, bias=None, *, max_isa=None, threads=None,
    layer=None)``. config: a dict, JSON text or a path (``layer`` picks one of several);
    weight (in_channels, out_channels/groups, *kernel) and bias (out_channels,) float32, copied
    (packed) at compile. max_isa caps the implementation ('avx512_amx', 'avx512_bf16', 'avx512',
    'avx2', 'scalar'); threads is the default per call."""

    def __init__(self, config, weight, bias=None, *, max_isa=None, threads=None, layer=None):
        text, is_path = config_source(config, "Layer")
        if threads is not None and (not isinstance(threads, int) or not 1 <= threads <= 1024):
            fail(f"Layer: threads must be None or an int from 1 to 1024, got {threads!r}")
        if max_isa is not None and not isinstance(max_isa, str):
            fail(f"Layer: max_isa must be None or 'avx512_amx', 'avx512_bf16', 'avx512', 'avx2' "
                 f"or 'scalar', got {max_isa!r}")
        if layer is not None and not isinstance(layer, str):
            fail(f"Layer: layer must be None or a layer name, got {layer!r}")
        w = _param(weight, "weight", "Layer")
        b = None if bias is None else _param(bias, "bias", "Layer")
        try:
            impl = _tconv.Layer.compile(text, is_path, w, b, max_isa, threads or 0, layer or "")
        except Error as e:
            raise (relabel(e, "Layer") if isinstance(config, dict) else e) from None
        _check_shape(w, impl.weight_shape, "weight", f"Layer {impl.problem['name']}")
        if b is not None:
            _check_shape(b, impl.bias_shape, "bias", f"Layer {impl.problem['name']}")
        self._set(impl)

    @classmethod
    def _wrap(cls, impl):
        self = cls.__new__(cls)
        self._set(impl)
        return self

    def _set(self, impl):
        self._impl = impl
        self._channels_last = impl.problem["layout"] == "channels_last"

    def _what(self):
        return f"Layer {self.name}"

    def reshape(self, batch, input_size):
        """A new Layer for another batch and input size, sharing the packed weights (never
        packed again); this one is unchanged, so both may run at once."""
        return Layer._wrap(self._impl.reshaped(batch, list(input_size)))

    @property
    def name(self):
        return self._impl.problem["name"]

    @property
    def implementation(self):
        return self._impl.implementation

    @property
    def kernels(self):
        return list(self._impl.kernels)

    @property
    def compile_report(self):
        return self._impl.report

    @property
    def config(self):
        """The layer's parameters as the library holds them (pads in ONNX order)."""
        return self._impl.problem

    def __repr__(self):
        return (f"tconv.Layer({self.name!r}, {self.input_shape} -> {self.output_shape}, "
                f"{self.implementation})")


class Model(_Executable):
    """A chain ("chain": true: each layer's output feeds the next): ``Model(config, weights, *,
    max_isa=None, threads=None)``. weights: one entry per layer in the config's order, either
    the weight array or a (weight, bias) pair; or a dict from layer name to such an entry."""

    def __init__(self, config, weights, *, max_isa=None, threads=None):
        text, is_path = config_source(config, "Model")
        if threads is not None and (not isinstance(threads, int) or not 1 <= threads <= 1024):
            fail(f"Model: threads must be None or an int from 1 to 1024, got {threads!r}")
        if isinstance(weights, dict):
            names = _layer_names(text, is_path)
            missing = [n for n in names if n not in weights]
            if missing:
                fail(f"Model: weights has no entry for layer {missing[0]!r}")
            weights = [weights[n] for n in names]
        if not isinstance(weights, (list, tuple)):
            fail(f"Model: weights must be a list with one entry per layer, or a dict by layer "
                 f"name, got {type(weights).__name__}")
        ws, bs = [], []
        for i, entry in enumerate(weights):
            w, b = entry if isinstance(entry, (tuple, list)) and len(entry) == 2 else (entry, None)
            ws.append(_param(w, f"weights[{i}]", "Model"))
            bs.append(None if b is None else _param(b, f"weights[{i}] bias", "Model"))
        if max_isa is not None and not isinstance(max_isa, str):
            fail(f"Model: max_isa must be None or 'avx512_amx', 'avx512_bf16', 'avx512', 'avx2' "
                 f"or 'scalar', got {max_isa!r}")
        try:
            impl = _tconv.Model.compile(text, is_path, ws, bs, max_isa, threads or 0)
        except Error as e:
            raise (relabel(e, "Model") if isinstance(config, dict) else e) from None
        for i, (layer, w, b) in enumerate(zip(impl.layers, ws, bs)):
            _check_shape(w, layer.weight_shape, f"weights[{i}]", f"Model {impl.name}")
            if b is not None:
                _check_shape(b, layer.bias_shape, f"weights[{i}] bias", f"Model {impl.name}")
        self._impl = impl
        self._channels_last = (impl.layers[0].problem["layout"] == "channels_last"
                               and impl.layers[-1].problem["layout"] == "channels_last")

    def _what(self):
        return f"Model {self.name}"

    @property
    def name(self):
        return self._impl.name

    @property
    def layers(self):
        return [Layer._wrap(impl) for impl in self._impl.layers]

    def __repr__(self):
        return f"tconv.Model({self.name!r}, {len(self._impl.layers)} layers, " \
               f"{self.input_shape} -> {self.output_shape})"


def _layer_names(text, is_path):
    try:
        if is_path:
            with open(text) as f:
                data = json.load(f)
        else:
            data = json.loads(text)
    except (OSError, ValueError):
        fail("Model: weights by name need a readable JSON config")
    layers = data.get("layers", [data]) if isinstance(data, dict) else []
    return [layer.get("name") for layer in layers if isinstance(layer, dict)]
