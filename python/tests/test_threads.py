# SPDX-License-Identifier: Apache-2.0
"""Calls from several Python threads at once give the same bits as one thread, and the GIL is
released while a layer runs (other Python threads keep running)."""

import threading
import time

import numpy as np

import tconv
from helpers import rand


def run_threads(n, target):
    errors = []

    def wrapped(i):
        try:
            target(i)
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_concurrent_functional_calls_match_one_thread():
    rng = np.random.default_rng(20)
    # Several layers (new compiles and re-shapes racing the cache) and repeated shapes.
    weights = [rand(rng, 8, 4, 4), rand(rng, 8, 6, 3)]
    inputs = [rand(rng, 1, 8, n) for n in (30, 31, 45, 30)]
    tconv.clear_cache()
    want = {(i, j): tconv.conv_transpose1d(x, w, stride=2, threads=1)
            for i, w in enumerate(weights) for j, x in enumerate(inputs)}
    tconv.clear_cache()
    got = {}

    def work(t):
        for k in range(12):
            i, j = (t + k) % 2, (t * 3 + k) % 4
            y = tconv.conv_transpose1d(inputs[j], weights[i], stride=2, threads=1 + k % 2)
            got.setdefault((i, j), []).append(y)

    run_threads(4, work)
    for key, ys in got.items():
        for y in ys:
            assert np.array_equal(y, want[key]), key


def test_one_layer_from_many_threads():
    rng = np.random.default_rng(21)
    layer = tconv.Layer({"in_channels": 32, "out_channels": 16, "input_size": [12, 12],
                         "kernel_size": 4, "stride": 2, "padding": 1},
                        rand(rng, 32, 16, 4, 4), rand(rng, 16))
    xs = [rand(rng, *layer.input_shape) for _ in range(4)]
    want = [layer(x, threads=1) for x in xs]

    def work(t):
        out = np.empty(layer.output_shape, np.float32)
        for k in range(20):
            layer(xs[(t + k) % 4], out=out, threads=1 + (t + k) % 2)
            assert np.array_equal(out, want[(t + k) % 4])

    run_threads(4, work)


def test_the_gil_is_released_while_executing():
    # The scalar reference on one thread: one call takes a good fraction of a second.
    rng = np.random.default_rng(22)
    layer = tconv.Layer({"batch": 2, "in_channels": 64, "out_channels": 64,
                         "input_size": [32, 32], "kernel_size": 4, "stride": 2, "padding": 1,
                         "bias": False}, rand(rng, 64, 64, 4, 4), None, max_isa="scalar", threads=1)
    x = rand(rng, *layer.input_shape)
    start = time.perf_counter()
    layer(x)
    call = time.perf_counter() - start
    worker = threading.Thread(target=layer, args=(x,))
    worker.start()
    time.sleep(call / 10)  # the worker is inside execute now
    # Pure Python: runs only while no thread holds the GIL. Had execute kept it, this loop
    # could start only after the worker's call returned.
    start = time.perf_counter()
    while time.perf_counter() - start < call / 10:
        pass
    overlapped = worker.is_alive()
    worker.join()
    assert overlapped, f"one call takes {call:.3f} s"
