# SPDX-License-Identifier: Apache-2.0
"""tconv: JIT-compiled x86-64 transposed convolutions for NumPy arrays and PyTorch tensors.

    import numpy as np, tconv
    x = np.random.rand(1, 256, 14, 14).astype(np.float32)
    w = np.random.rand(256, 128, 4, 4).astype(np.float32)  # (in, out/groups, kH, kW)
    y = tconv.conv_transpose2d(x, w, stride=2, padding=1)  # (1, 128, 28, 28)

The functional API and the ConvTranspose modules follow torch.nn.functional.conv_transpose{1,2,3}d
and torch.nn.ConvTranspose{1,2,3}d; Layer and Model run exact layer configs (the tconv
command's JSON). Every failure is a tconv.Error (a ValueError). The GIL is released while a
layer compiles and runs."""

try:
    import numpy as _numpy  # noqa: F401  (every array the package returns or takes)
except ImportError as _e:
    raise ImportError("tconv needs NumPy in this Python (Debian: python3-numpy, for "
                      "/usr/bin/python3, the interpreter the package was built for)") from _e

from . import _tconv
from ._errors import Error
from .functional import conv_transpose1d, conv_transpose2d, conv_transpose3d
from .functional import cache as _functional_cache
from .layer import Layer, Model
from .modules import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d, from_torch

__version__ = _tconv.__version__

__all__ = ["Error", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
           "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "from_torch", "Layer",
           "Model", "cpu_info", "cache_info", "clear_cache", "set_cache_capacity",
           "__version__"]


def cpu_info():
    """The CPU as tconv sees it: model, ISA features, threads, best_isa, and isa (the best
    capped by TCONV_MAX_ISA: what layers compiled now use)."""
    return _tconv.cpu_info()


def cache_info():
    """The functional API's layer cache (layers, capacity, hits, misses, compiles, reshapes)
    and, under "kernels", the library's process-wide kernel cache (entries, code_bytes,
    capacity_bytes, hits, misses, evictions, kernels_in_use, scratch_bytes)."""
    info = _functional_cache.info()
    info["kernels"] = _tconv.cache_stats()
    return info


def clear_cache():
    """Drops the functional API's compiled layers, then every kernel no live layer uses and
    this thread's spare scratch (modules and Layer objects keep theirs while they live)."""
    _functional_cache.clear()
    _tconv.clear_kernel_cache()


def set_cache_capacity(layers=None, kernel_bytes=None):
    """Bounds the functional API's cache to `layers` compiled layers (default 64) and/or the
    library's unused kernels to `kernel_bytes` of code (default 32 MiB)."""
    if layers is not None:
        if not isinstance(layers, int) or isinstance(layers, bool) or layers < 0:
            raise Error(f"set_cache_capacity: layers must be an int >= 0, got {layers!r}")
        _functional_cache.set_capacity(layers)
    if kernel_bytes is not None:
        if not isinstance(kernel_bytes, int) or isinstance(kernel_bytes, bool) or kernel_bytes < 0:
            raise Error(f"set_cache_capacity: kernel_bytes must be an int >= 0, "
                        f"got {kernel_bytes!r}")
        _tconv.set_kernel_cache_capacity(kernel_bytes)
