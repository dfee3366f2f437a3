# SPDX-License-Identifier: Apache-2.0
"""ConvTranspose1d/2d/3d: module-like objects as torch.nn.ConvTranspose{1,2,3}d (inference), and
from_torch() to build one from a PyTorch module.

``.weight`` and ``.bias`` are NumPy arrays in PyTorch's shapes. They are read-only: assign a new
array (``m.weight = w``) to change them, so that a compiled layer never runs stale weights. Each
module keeps its own small cache of compiled layers, one per input shape (re-shaped from the
first where the library can), released with the module."""

import math

import numpy as np

from . import _arrays
from ._cache import LayerCache
from ._errors import fail
from .functional import _is_int, check_activation, conv_transpose, expand

MODULE_CACHE_CAPACITY = 8  # input shapes a module keeps compiled


class _ConvTransposeNd:
    _rank = 0

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, *, activation=None,
                 negative_slope=0.01):
        fn = type(self).__name__
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels),
                        ("groups", groups)):
            if not _is_int(v) or v < 1:
                fail(f"{fn}: {name} must be an int >= 1, got {v!r}")
        if in_channels % groups:
            fail(f"{fn}: in_channels={in_channels} must be divisible by groups={groups}")
        if out_channels % groups:
            fail(f"{fn}: out_channels={out_channels} must be divisible by groups={groups}")
        rank = self._rank
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = expand(kernel_size, rank, "kernel_size", fn, 1)
        self.stride = expand(stride, rank, "stride", fn, 1)
        self.padding = expand(padding, rank, "padding", fn, 0)
        self.output_padding = expand(output_padding, rank, "output_padding", fn, 0)
        self.dilation = expand(dilation, rank, "dilation", fn, 1)
        self.activation, self.negative_slope = check_activation(activation, negative_slope, fn)
        if not isinstance(bias, bool):
            fail(f"{fn}: bias must be True or False, got {bias!r}")
        # PyTorch's default: kaiming_uniform_(a=sqrt(5)) and a bias of the same bound, both
        # 1/sqrt(fan_in) with fan_in = weight.shape[1] * kernel elements.
        fan_in = out_channels // groups * math.prod(self.kernel_size)
        bound = 1.0 / math.sqrt(fan_in)
        rng = np.random.default_rng()
        shape = (in_channels, out_channels // groups) + self.kernel_size
        self._layers = LayerCache(MODULE_CACHE_CAPACITY)
        self._weight = self._bias = None
        self.weight = rng.uniform(-bound, bound, shape).astype(np.float32)
        self.bias = rng.uniform(-bound, bound, out_channels).astype(np.float32) if bias else None

    @property
    def weight(self):
        return self._weight

    @weight.setter
    def weight(self, value):
        expected = (self.in_channels, self.out_channels // self.groups) + self.kernel_size
        self._weight = self._parameter(value, expected, "weight")

    @property
    def bias(self):
        return self._bias

    @bias.setter
    def bias(self, value):
        self._bias = None if value is None else self._parameter(value, (self.out_channels,), "bias")

    def _parameter(self, value, expected, what):
        fn = type(self).__name__
        a = _arrays.as_numpy(value, what, fn)
        if tuple(a.shape) != expected:
            fail(f"{fn}: {what} must have shape {expected}, got {tuple(a.shape)}")
        a = np.array(a, dtype=np.float32, order="C")  # our own copy, so nobody changes it
        a.flags.writeable = False
        self._layers.clear()  # a new key below as well: no call sees stale weights
        self._version = getattr(self, "_version", 0) + 1
        return a

    def __call__(self, input, output_size=None, *, threads=None):
        """The layer on `input` (NumPy or a CPU tensor, float32; channels_last tensors give
        channels_last results). output_size: PyTorch's rule, instead of output_padding."""
        fn = type(self).__name__
        return conv_transpose(self._rank, fn, input, self._weight, self._bias, self.stride,
                              self.padding, self.output_padding, self.groups, self.dilation,
                              self.activation, self.negative_slope, threads,
                              layers=self._layers, weights_key=("module", self._version),
                              output_size=output_size)

    forward = __call__

    def cache_info(self):
        """This module's compiled layers: count, capacity, hits, misses, compiles, reshapes."""
        return self._layers.info()

    def __repr__(self):
        s = (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
             f"kernel_size={self.kernel_size}, stride={self.stride}")
        for name, default in (("padding", 0), ("output_padding", 0), ("dilation", 1),
                              ("groups", 1)):
            value = getattr(self, name)
            if value != (default,) * self._rank and value != default:
                s += f", {name}={value}"
        if self._bias is None:
            s += ", bias=False"
        if self.activation != "none":
            s += f", activation={self.activation!r}"
        return s + ")"


class ConvTranspose1d(_ConvTransposeNd):
    """torch.nn.ConvTranspose1d for inference, plus a fused activation."""
    _rank = 1


class ConvTranspose2d(_ConvTransposeNd):
    """torch.nn.ConvTranspose2d for inference, plus a fused activation."""
    _rank = 2


class ConvTranspose3d(_ConvTransposeNd):
    """torch.nn.ConvTranspose3d for inference, plus a fused activation."""
    _rank = 3


def from_torch(module, *, activation=None, negative_slope=0.01):
    """A tconv module with the parameters and (copied) weights of a torch.nn.ConvTranspose1d,
    2d or 3d; `activation` fuses one that follows it in the network."""
    torch = _arrays.torch_module()
    kinds = {}
    if torch is not None:
        kinds = {torch.nn.ConvTranspose1d: ConvTranspose1d, torch.nn.ConvTranspose2d:
                 ConvTranspose2d, torch.nn.ConvTranspose3d: ConvTranspose3d}
    cls = next((c for t, c in kinds.items() if isinstance(module, t)), None)
    if cls is None:
        fail("from_torch: module must be a torch.nn.ConvTranspose1d, 2d or 3d, got "
             f"{type(module).__name__}")
    if module.padding_mode != "zeros":
        fail(f"from_torch: padding_mode={module.padding_mode!r} is not supported (only 'zeros')")
    if not isinstance(module.padding, tuple):
        fail(f"from_torch: padding={module.padding!r} is not supported (ints only)")
    m = cls(module.in_channels, module.out_channels, module.kernel_size, module.stride,
            module.padding, module.output_padding, module.groups, module.bias is not None,
            module.dilation, activation=activation, negative_slope=negative_slope)
    m.weight = module.weight.detach().cpu().float()
    if module.bias is not None:
        m.bias = module.bias.detach().cpu().float()
    return m
