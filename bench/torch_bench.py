#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Times tconv's layer configs with PyTorch's conv_transpose{1,2,3}d, for comparison with
`tconv bench`: same JSON files, same flop count, median of repeats after a warm-up.

usage: torch_bench.py CONFIG-or-DIR... [--threads N] [--min-time SECONDS] [--layer NAME]
                      [--layout channels_first|channels_last]

PyTorch pads symmetrically: layers with unequal begin/end pads run unpadded and the output is
cropped (a view, no copy). The activation is a separate op (PyTorch does not fuse it) and is
timed. channels_last runs 2D/3D layers in torch.channels_last(_3d) memory format; 1D layers
have no such format and run as NCW.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def spatial(layer, key, rank, default):
    v = layer.get(key, default)
    return list(v) if isinstance(v, list) else [v] * rank


def parse_layer(layer, default_name):
    """The layer's parameters, with pads and output_padding resolved as tconv does."""
    size = layer["input_size"]
    rank = len(size)
    k = spatial(layer, "kernel_size", rank, 1)
    s = spatial(layer, "stride", rank, 1)
    d = spatial(layer, "dilation", rank, 1)
    if "pads" in layer:
        pb, pe = layer["pads"][:rank], layer["pads"][rank:]
    else:
        pb = pe = spatial(layer, "padding", rank, 0)
    base = [(size[i] - 1) * s[i] - pb[i] - pe[i] + d[i] * (k[i] - 1) + 1 for i in range(rank)]
    if "output_size" in layer:
        op = [o - b for o, b in zip(spatial(layer, "output_size", rank, 1), base)]
    else:
        op = spatial(layer, "output_padding", rank, 0)
    return {
        "name": layer.get("name", default_name),
        "batch": layer.get("batch", 1),
        "ic": layer["in_channels"],
        "oc": layer["out_channels"],
        "groups": layer.get("groups", 1),
        "input": size, "kernel": k, "stride": s, "dilation": d,
        "pad_begin": pb, "pad_end": pe, "output_padding": op,
        "output": [b + o for b, o in zip(base, op)],
        "bias": layer.get("bias", True),
        "activation": layer.get("activation", "none"),
        "negative_slope": layer.get("negative_slope", 0.01),
        "layout": layer.get("layout", "channels_first"),
    }


def load_layers(path):
    with open(path) as f:
        top = json.load(f)
    stem = os.path.splitext(os.path.basename(path))[0]
    if "layers" not in top:
        return [parse_layer(top, stem)]
    name = top.get("name", stem)
    return [parse_layer(l, f"{name}[{i}]") for i, l in enumerate(top["layers"])]


def expand(inputs):
    files = []
    for p in inputs:
        if os.path.isdir(p):
            found = sorted(os.path.join(p, f) for f in os.listdir(p) if f.endswith(".json"))
            if not found:
                sys.exit(f"torch_bench: directory '{p}' holds no .json config")
            files += found
        else:
            files.append(p)
    return files


def flops(l):
    """Multiply-adds x 2, every (input, tap) pair once: the formula of tconv's Problem::flops."""
    return (2.0 * l["batch"] * (l["ic"] // l["groups"]) * l["oc"] *
            math.prod(l["kernel"]) * math.prod(l["input"]))


def make_run(l):
    rank = len(l["input"])
    conv = [F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d][rank - 1]
    gen = torch.Generator().manual_seed(0x7C0F)
    x = torch.rand([l["batch"], l["ic"]] + l["input"], generator=gen) * 2 - 1
    w = torch.rand([l["ic"], l["oc"] // l["groups"]] + l["kernel"], generator=gen) * 2 - 1
    b = torch.rand([l["oc"]], generator=gen) * 2 - 1 if l["bias"] else None
    if l["layout"] == "channels_last" and rank > 1:
        fmt = torch.channels_last if rank == 2 else torch.channels_last_3d
        x = x.contiguous(memory_format=fmt)
    symmetric = l["pad_begin"] == l["pad_end"]
    padding = l["pad_begin"] if symmetric else [0] * rank
    crop = None if symmetric else tuple(
        slice(None) if i < 2 else slice(l["pad_begin"][i - 2], l["pad_begin"][i - 2] + l["output"][i - 2])
        for i in range(rank + 2))
    act = {
        "none": lambda y: y,
        "relu": torch.relu,
        "leaky_relu": lambda y: F.leaky_relu(y, l["negative_slope"]),
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
    }[l["activation"]]

    def run():
        y = conv(x, w, b, stride=l["stride"], padding=padding, output_padding=l["output_padding"],
                 groups=l["groups"], dilation=l["dilation"])
        return act(y[crop] if crop else y)

    return run


def time_layer(run, min_time, min_repeats=5):
    run()  # warm-up
    samples = []
    while len(samples) < min_repeats or sum(samples) < min_time:
        t0 = time.perf_counter()
        run()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples), len(samples)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("inputs", nargs="+", metavar="CONFIG-or-DIR")
    ap.add_argument("--threads", type=int, default=0, help="default: PyTorch's default")
    ap.add_argument("--min-time", type=float, default=0.2)
    ap.add_argument("--layer", action="append", default=[])
    ap.add_argument("--layout", choices=["channels_first", "channels_last"])
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    layers = [l for f in expand(args.inputs) for l in load_layers(f)
              if not args.layer or l["name"] in args.layer]
    if not layers:
        sys.exit("torch_bench: no layer to time")
    print(f"torch {torch.__version__}, threads: {torch.get_num_threads()}")
    rows = [("layer", "in -> out", "ms", "GFLOP/s", "repeats")]
    with torch.inference_mode():
        for l in layers:
            if args.layout:
                l["layout"] = args.layout
            out = make_run(l)()
            assert list(out.shape[2:]) == l["output"], (l["name"], out.shape, l["output"])
            sec, n = time_layer(make_run(l), args.min_time)
            shape_in = "x".join(map(str, [l["batch"], l["ic"]] + l["input"]))
            shape_out = "x".join(map(str, [l["batch"], l["oc"]] + l["output"]))
            rows.append((l["name"], f"{shape_in} -> {shape_out}", f"{sec * 1e3:.4f}",
                         f"{flops(l) / sec * 1e-9:.1f}", str(n)))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))).rstrip())


if __name__ == "__main__":
    main()
