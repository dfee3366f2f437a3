# SPDX-License-Identifier: Apache-2.0
"""tconv.Layer and tconv.Model on exact configs: every config form, the report, out= without
allocation or copy, both layouts, chains, re-shaping, the version and the CPU."""

import json
import tracemalloc

import numpy as np

import tconv
from helpers import assert_close, rand, reference, torch

UP = {"name": "up", "batch": 2, "in_channels": 16, "out_channels": 8, "input_size": [6, 7],
      "kernel_size": 4, "stride": 2, "padding": 1, "activation": "leaky_relu",
      "negative_slope": 0.1}


def up_data(seed=0):
    rng = np.random.default_rng(seed)
    return rand(rng, 2, 16, 6, 7), rand(rng, 16, 8, 4, 4), rand(rng, 8)


def up_reference(x, w, b):
    return reference(2, x, w, b, "leaky_relu", 0.1, stride=2, padding=1)


def test_every_config_form_gives_the_same_layer(tmp_path):
    x, w, b = up_data()
    path = tmp_path / "up.json"
    path.write_text(json.dumps(UP))
    ref, scale = up_reference(x, w, b)
    for config in (UP, json.dumps(UP), str(path), path):
        layer = tconv.Layer(config, w, b)
        assert layer.input_shape == (2, 16, 6, 7) and layer.output_shape == (2, 8, 12, 14)
        assert_close(layer(x), ref, scale)
    assert layer.name == "up"
    assert layer.implementation in ("jit_avx512", "jit_avx2", "reference")
    report = layer.compile_report
    assert report["implementation"] == layer.implementation
    assert report["kernel_names"] == layer.kernels and report["weight_packs"] >= 0
    assert "tconv.Layer('up'" in repr(layer)


def test_max_isa_scalar_is_the_reference():
    x, w, b = up_data(1)
    layer = tconv.Layer(UP, w, b, max_isa="scalar", threads=1)
    assert layer.implementation == "reference" and layer.kernels == []
    ref, scale = up_reference(x, w, b)
    assert_close(layer(x), ref, scale)


def test_out_is_written_without_allocating_or_copying():
    x, w, b = up_data(2)
    layer = tconv.Layer(UP, w, b)
    out = np.empty(layer.output_shape, np.float32)
    assert layer(x, out=out) is out  # warm: scratch, kernels
    tracemalloc.start()
    try:
        for _ in range(5):
            assert layer(x, out=out) is out
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4096, peak  # the input (5 KiB) and output (21 KiB) were neither copied nor made
    ref, scale = up_reference(x, w, b)
    assert_close(out, ref, scale)
    # The functional API allocates the result only: a copy of the 1 MiB input would show.
    big = np.random.default_rng(3).uniform(-1, 1, (1, 64, 64, 64)).astype(np.float32)
    wb = rand(np.random.default_rng(4), 64, 1, 1, 1)
    tconv.conv_transpose2d(big, wb)
    tracemalloc.start()
    try:
        y = tconv.conv_transpose2d(big, wb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert y.nbytes <= peak < y.nbytes + big.nbytes // 2, peak


def test_torch_buffers_and_channels_last_layer():
    x, w, b = up_data(5)
    cl = dict(UP, layout="channels_last")
    layer = tconv.Layer(cl, w, b)
    assert layer.input_shape == (2, 6, 7, 16) and layer.output_shape == (2, 12, 14, 8)
    ref, scale = up_reference(x, w, b)
    # NumPy in the library's layout (N, H, W, C)
    y = layer(np.ascontiguousarray(np.moveaxis(x, 1, -1)))
    assert y.shape == (2, 12, 14, 8)
    assert_close(np.moveaxis(y, -1, 1), ref, scale)
    # torch N, C, H, W tensors in the channels_last memory format, out= too
    xt = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
    yt = layer(xt)
    assert yt.shape == (2, 8, 12, 14) and yt.is_contiguous(memory_format=torch.channels_last)
    assert_close(yt.numpy(), ref, scale)
    out = torch.empty(2, 8, 12, 14).contiguous(memory_format=torch.channels_last)
    assert layer(xt, out=out) is out
    assert_close(out.numpy(), ref, scale)
    # a channels_first torch tensor into a channels_first layer, out= a tensor
    first = tconv.Layer(UP, w, b)
    out = torch.empty(first.output_shape)
    assert first(torch.from_numpy(x), out=out) is out
    assert_close(out.numpy(), ref, scale)


def test_reshape_returns_an_independent_layer():
    x, w, b = up_data(6)
    layer = tconv.Layer(UP, w, b)
    other = layer.reshape(1, (9, 5))
    assert other.input_shape == (1, 16, 9, 5) and layer.input_shape == (2, 16, 6, 7)
    assert other.compile_report["reshapes"] == 1
    x2 = rand(np.random.default_rng(7), 1, 16, 9, 5)
    ref, scale = reference(2, x2, w, b, "leaky_relu", 0.1, stride=2, padding=1)
    assert_close(other(x2), ref, scale)
    ref, scale = up_reference(x, w, b)
    assert_close(layer(x), ref, scale)


def test_model_chain_equals_its_layers(tmp_path):
    rng = np.random.default_rng(8)
    chain = {"name": "gen", "chain": True, "layers": [
        {"name": "a", "in_channels": 8, "out_channels": 4, "input_size": [3, 3],
         "kernel_size": 4, "stride": 2, "padding": 1, "activation": "relu"},
        {"name": "b", "in_channels": 4, "out_channels": 2, "input_size": [6, 6],
         "kernel_size": 4, "stride": 2, "padding": 1, "bias": False, "activation": "tanh"}]}
    wa, ba, wb = rand(rng, 8, 4, 4, 4), rand(rng, 4), rand(rng, 4, 2, 4, 4)
    model = tconv.Model(chain, [(wa, ba), wb])
    assert model.input_shape == (1, 8, 3, 3) and model.output_shape == (1, 2, 12, 12)
    assert [l.name for l in model.layers] == ["a", "b"]
    x = rand(rng, 1, 8, 3, 3)
    want = tconv.conv_transpose2d(tconv.conv_transpose2d(x, wa, ba, 2, 1, activation="relu"),
                                  wb, None, 2, 1, activation="tanh")
    np.testing.assert_allclose(model(x), want, rtol=1e-5, atol=1e-6)
    path = tmp_path / "gen.json"
    path.write_text(json.dumps(chain))
    by_name = tconv.Model(path, {"a": (wa, ba), "b": wb})
    out = np.empty(by_name.output_shape, np.float32)
    assert by_name(x, out=out) is out
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)


def test_version_cpu_and_caches():
    assert tconv.__version__.count(".") == 2
    info = tconv.cpu_info()
    assert info["threads"] >= 1 and info["best_isa"] in ("avx512_amx", "avx512_bf16", "avx512",
                                                         "avx2", "scalar")
    stats = tconv.cache_info()["kernels"]
    assert stats["capacity_bytes"] > 0 and stats["code_bytes"] >= 0
    tconv.clear_cache()
    info = tconv.cache_info()
    assert info["layers"] == 0
    # only the kernels of layers still alive (other tests' modules) stay
    assert info["kernels"]["entries"] == info["kernels"]["kernels_in_use"]
