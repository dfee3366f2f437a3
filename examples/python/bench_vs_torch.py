#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Times tconv against torch.nn.functional.conv_transpose{1,2,3}d on layer configs (configs/ by
default), in one process: for each layer, calls alternate tconv, PyTorch, tconv, ... and the
median of each is reported, so that both see the same machine load. tconv runs a compiled
tconv.Layer; PyTorch gets the same float32 tensors (channels_last ones for channels_last
layers) and the same thread count. Layers with asymmetric pads (PyTorch has none) are skipped.

    PYTHONPATH=build/python python3 examples/python/bench_vs_torch.py configs/dcgan.json \\
        --threads 1 --min-time 0.5
"""

import argparse
import json
import os
import re
import statistics
import sys
import time

# PyTorch at its best on a 2-CPU machine: its OpenMP threads sleep when idle and OpenBLAS
# (Debian's fastest BLAS) runs one thread inside each; with OpenBLAS's own threads beside
# spinning OpenMP threads, two-thread depthwise layers took 190-520 ms instead of 7-11. Both
# are read when torch loads, so they are set before the import.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import tconv  # noqa: E402


def config_layers(paths):
    """(file stem, layer dict) for every layer of every config file (directories: *.json)."""
    files = []
    for p in paths:
        files += sorted(os.path.join(p, f) for f in os.listdir(p) if f.endswith(".json")) \
            if os.path.isdir(p) else [p]
    for path in files:
        with open(path) as f:
            data = json.load(f)
        stem = os.path.splitext(os.path.basename(path))[0]
        layers = data.get("layers", [data])
        for i, layer in enumerate(layers):
            named = dict(layer)
            named.setdefault("name", stem if len(layers) == 1 else f"{stem}[{i}]")
            yield named


def torch_call(layer, w, b, x):
    """A closure calling PyTorch on the layer's problem, or None when PyTorch cannot express it."""
    p = layer.config
    rank = len(p["input_size"])
    begin, end = p["pads"][:rank], p["pads"][rank:]
    if begin != end:
        return None
    conv = getattr(torch.nn.functional, f"conv_transpose{rank}d")
    kw = dict(stride=p["stride"], padding=begin, output_padding=p["output_padding"],
              groups=p["groups"], dilation=p["dilation"])
    act = {"none": lambda t: t, "relu": torch.relu, "sigmoid": torch.sigmoid,
           "tanh": torch.tanh,
           "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, p["negative_slope"])}
    f = act[p["activation"]]
    wt, bt = torch.from_numpy(w), None if b is None else torch.from_numpy(b)
    if p["layout"] == "channels_last":  # the N, C, spatial... view of tconv's N, spatial..., C
        xt = torch.from_numpy(x).movedim(-1, 1)
    else:
        xt = torch.from_numpy(x)
    return lambda: f(conv(xt, wt, bt, **kw))


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="*", default=["configs"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--torch-threads", type=int, help="PyTorch's threads (default: --threads)")
    parser.add_argument("--min-time", type=float, default=0.3, help="seconds per layer and side")
    parser.add_argument("--min-repeats", type=int, default=7)
    parser.add_argument("--filter", default="", help="regular expression on layer names")
    parser.add_argument("--max-gflop", type=float, default=2.0, help="skip larger layers")
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads or args.threads)
    rng = np.random.default_rng(0)
    print(f"tconv {tconv.__version__} ({tconv.cpu_info()['isa']}) vs PyTorch {torch.__version__}, "
          f"{args.threads} thread(s) (PyTorch {torch.get_num_threads()}), median of interleaved "
          f"calls; OMP_WAIT_POLICY="
          f"{os.environ['OMP_WAIT_POLICY']}, OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")
    print("| layer | input | tconv ms | PyTorch ms | PyTorch / tconv |")
    print("|---|---|---:|---:|---:|")
    ratios = []
    for cfg in config_layers(args.configs):
        if args.filter and not re.search(args.filter, cfg["name"]):
            continue
        wshape, bshape, gflop = param_shapes(cfg)
        if gflop > args.max_gflop:
            continue
        w = rng.uniform(-1, 1, wshape).astype(np.float32)
        b = rng.uniform(-1, 1, bshape).astype(np.float32) if bshape else None
        layer = tconv.Layer(cfg, w, b, threads=args.threads)
        x = rng.uniform(-1, 1, layer.input_shape).astype(np.float32)
        out = np.empty(layer.output_shape, np.float32)
        theirs = torch_call(layer, w, b, x)
        if theirs is None:
            print(f"| {cfg['name']} | skipped: asymmetric pads | | | |")
            continue
        ours = lambda: layer(x, out=out)
        ours(), theirs()  # warm-up: first-touch pages, caches
        t_ours, t_theirs, start = [], [], time.perf_counter()
        while (len(t_ours) < args.min_repeats
               or time.perf_counter() - start < 2 * args.min_time) and len(t_ours) < 10000:
            t_ours.append(timed(ours))
            t_theirs.append(timed(theirs))
        a, c = statistics.median(t_ours) * 1e3, statistics.median(t_theirs) * 1e3
        ratios.append(c / a)
        print(f"| {cfg['name']} | {list(layer.input_shape)} | {a:.3f} | {c:.3f} | {c / a:.2f} |")
        sys.stdout.flush()
    if ratios:
        geo = float(np.exp(np.mean(np.log(ratios))))
        print(f"\n{len(ratios)} layers; geometric mean of PyTorch / tconv: {geo:.2f}")


def param_shapes(layer):
    """(weight shape, bias shape or None, GFLOP) of a layer config."""
    rank = len(layer["input_size"])
    k = layer["kernel_size"]
    k = [k] * rank if isinstance(k, int) else list(k)
    g = layer.get("groups", 1)
    ic, oc = layer["in_channels"], layer["out_channels"]
    bshape = [oc] if layer.get("bias", True) else None
    gflop = (2.0 * layer.get("batch", 1) * ic // g * oc * float(np.prod(k))
             * float(np.prod(layer["input_size"])) / 1e9)
    return [ic, oc // g] + k, bshape, gflop


if __name__ == "__main__":
    main()
