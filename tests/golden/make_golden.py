#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the golden cases: small layers whose expected outputs come from PyTorch.

Each case is a directory <case>/ holding config.json (one layer in tconv's config format),
x.npy, w.npy (PyTorch layout [in_channels, out_channels/groups, *kernel]), b.npy when the layer
has a bias, and y.npy. The convolution runs in float64 (torch.nn.functional.conv_transpose*d),
the activation is applied in float64 and the result is rounded once to float32.

Run by hand after changing a case (needs torch and numpy; the tests only read the files):
    tests/golden/make_golden.py
"""

import json
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))

# One dict per case: tconv config keys (spatial keys as lists, one entry per dim) plus "seed".
CASES = [
    dict(name="conv1d_basic", in_channels=3, out_channels=4, input_size=[7], kernel_size=[3],
         stride=[2], padding=[1], seed=1),
    dict(name="conv1d_dilation_output_padding", in_channels=2, out_channels=3, input_size=[6],
         kernel_size=[3], stride=[3], dilation=[2], output_padding=[2], activation="relu",
         seed=2),
    dict(name="conv1d_channels_last_batch3_nobias", batch=3, in_channels=4, out_channels=2,
         input_size=[5], kernel_size=[4], stride=[2], padding=[1], bias=False,
         layout="channels_last", seed=3),
    dict(name="conv2d_k4s2p1", in_channels=4, out_channels=6, input_size=[5, 5],
         kernel_size=[4, 4], stride=[2, 2], padding=[1, 1], seed=4),
    dict(name="conv2d_groups_output_padding", in_channels=6, out_channels=4, groups=2,
         input_size=[4, 5], kernel_size=[3, 3], stride=[2, 2], padding=[1, 1],
         output_padding=[1, 1], seed=5),
    dict(name="conv2d_depthwise", in_channels=4, out_channels=4, groups=4, input_size=[5, 4],
         kernel_size=[3, 3], stride=[1, 1], padding=[1, 1], seed=6),
    dict(name="conv2d_dilation", in_channels=3, out_channels=5, input_size=[4, 4],
         kernel_size=[3, 3], stride=[2, 2], dilation=[2, 2], padding=[2, 1], seed=7),
    dict(name="conv2d_asymmetric_pads", in_channels=3, out_channels=4, input_size=[4, 5],
         kernel_size=[3, 4], stride=[2, 3], pads=[0, 1, 2, 0], seed=8),
    dict(name="conv2d_stride_above_kernel", in_channels=2, out_channels=3, input_size=[3, 4],
         kernel_size=[2, 2], stride=[3, 3], output_padding=[2, 1], seed=9),
    dict(name="conv2d_leaky_relu", in_channels=5, out_channels=3, input_size=[4, 4],
         kernel_size=[3, 3], stride=[2, 2], padding=[1, 1], activation="leaky_relu",
         negative_slope=0.2, seed=10),
    dict(name="conv2d_sigmoid", in_channels=3, out_channels=4, input_size=[3, 5],
         kernel_size=[2, 3], stride=[2, 1], activation="sigmoid", seed=11),
    dict(name="conv2d_tanh_batch2_nobias", batch=2, in_channels=4, out_channels=3,
         input_size=[4, 3], kernel_size=[3, 3], stride=[2, 2], padding=[1, 0], bias=False,
         activation="tanh", seed=12),
    dict(name="conv2d_channels_last_groups_batch2", batch=2, in_channels=4, out_channels=6,
         groups=2, input_size=[4, 4], kernel_size=[4, 4], stride=[2, 2], padding=[1, 1],
         layout="channels_last", activation="relu", seed=13),
    dict(name="conv2d_channels_last_asymmetric_pads", in_channels=3, out_channels=5,
         input_size=[3, 4], kernel_size=[5, 3], stride=[2, 2], dilation=[1, 2],
         pads=[2, 1, 1, 3], output_padding=[1, 0], layout="channels_last", seed=14),
    dict(name="conv3d_basic", in_channels=2, out_channels=3, input_size=[3, 4, 3],
         kernel_size=[3, 3, 3], stride=[2, 2, 2], padding=[1, 1, 1], output_padding=[1, 0, 1],
         seed=15),
    dict(name="conv3d_channels_last_dilation_pads", batch=2, in_channels=2, out_channels=4,
         groups=2, input_size=[2, 3, 3], kernel_size=[2, 3, 2], stride=[1, 2, 2],
         dilation=[2, 1, 1], pads=[1, 0, 1, 0, 2, 0], layout="channels_last",
         activation="leaky_relu", negative_slope=0.2, seed=16),
]

CONV = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def activation(y, case):
    act = case.get("activation", "none")
    if act == "none":
        return y
    if act == "relu":
        return torch.relu(y)
    if act == "leaky_relu":
        return F.leaky_relu(y, case["negative_slope"])
    if act == "sigmoid":
        return torch.sigmoid(y)
    if act == "tanh":
        return torch.tanh(y)
    raise ValueError(act)


def conv_transpose(case, x, w, b):
    """Float64 ConvTranspose with begin/end pads: PyTorch pads symmetrically, so run it unpadded
    and crop [pad_begin, full - pad_end) per spatial dim."""
    rank = len(case["input_size"])
    if "pads" in case:
        begin, end = case["pads"][:rank], case["pads"][rank:]
    else:
        begin = end = case.get("padding", [0] * rank)
    y = CONV[rank](x, w, b, stride=case.get("stride", 1),
                   output_padding=case.get("output_padding", 0), groups=case.get("groups", 1),
                   dilation=case.get("dilation", 1))
    crop = tuple(slice(pb, y.shape[2 + i] - pe) for i, (pb, pe) in enumerate(zip(begin, end)))
    y = y[(slice(None), slice(None)) + crop]
    if "pads" not in case:  # cross-check the cropping against PyTorch's own padding
        direct = CONV[rank](x, w, b, stride=case.get("stride", 1), padding=begin,
                            output_padding=case.get("output_padding", 0),
                            groups=case.get("groups", 1), dilation=case.get("dilation", 1))
        assert torch.equal(direct, y), case["name"]
    return y


def to_layout(t, case):
    """channels_first N,C,spatial... -> the case's layout."""
    if case.get("layout") == "channels_last":
        return t.permute(0, *range(2, t.dim()), 1).contiguous()
    return t


def save(path, array):
    np.save(path, np.ascontiguousarray(array, dtype="<f4"))


def write_config(out, case):
    """A fresh directory `out` with the case's config.json (make_upsample_golden.py too)."""
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    # One key per line, lists kept on the key's line.
    lines = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in case.items() if k != "seed"]
    with open(os.path.join(out, "config.json"), "w") as f:
        f.write("{\n" + ",\n".join(lines) + "\n}\n")


def make_case(case):
    rng = np.random.default_rng(case["seed"])
    rank = len(case["input_size"])
    n, ic, oc = case.get("batch", 1), case["in_channels"], case["out_channels"]
    groups = case.get("groups", 1)
    bias = case.get("bias", True)
    uniform = lambda *shape: rng.uniform(-1, 1, size=shape).astype(np.float32)
    x = uniform(n, ic, *case["input_size"])
    w = uniform(ic, oc // groups, *case["kernel_size"])
    b = uniform(oc) if bias else None

    y = conv_transpose(case, torch.from_numpy(x).double(), torch.from_numpy(w).double(),
                       torch.from_numpy(b).double() if bias else None)
    y = activation(y, case).float()

    out = os.path.join(HERE, case["name"])
    write_config(out, case)
    save(os.path.join(out, "x.npy"), to_layout(torch.from_numpy(x), case).numpy())
    save(os.path.join(out, "w.npy"), w)
    if bias:
        save(os.path.join(out, "b.npy"), b)
    save(os.path.join(out, "y.npy"), to_layout(y, case).numpy())
    size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    assert size < 20000, (case["name"], size)
    print(f"{case['name']}: y {list(to_layout(y, case).shape)}, {size} bytes")


def main():
    names = [c["name"] for c in CASES]
    assert len(set(names)) == len(names)
    torch.use_deterministic_algorithms(True)
    for case in CASES:
        make_case(case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
