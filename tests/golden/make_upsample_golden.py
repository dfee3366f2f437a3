#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the golden cases of the resize_conv and pixel_shuffle kinds, in make_golden.py's format
(config.json, x.npy, w.npy in PyTorch's Conv layout [conv out, in/groups, *kernel], b.npy, y.npy),
computed in float64 as written: nn.Upsample(scale, mode, align_corners=False) then the
convolution; the convolution then nn.PixelShuffle. The activation follows, then one rounding to
float32. test_golden.cpp runs them like every other case.

Run by hand after changing a case:
    tests/golden/make_upsample_golden.py
"""

import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

from make_golden import HERE, activation, save, to_layout, write_config

CASES = [
    dict(name="resize_nearest_2d", kind="resize_conv", scale=[2, 2], mode="nearest",
         in_channels=3, out_channels=4, input_size=[4, 5], kernel_size=[3, 3], padding=[1, 1],
         seed=101),
    dict(name="resize_bilinear_2d", kind="resize_conv", scale=[2, 2], mode="bilinear",
         in_channels=3, out_channels=4, input_size=[4, 5], kernel_size=[3, 3], padding=[1, 1],
         activation="relu", seed=102),
    dict(name="resize_bilinear_2d_valid_scale3", kind="resize_conv", scale=[3, 2],
         mode="bilinear", in_channels=2, out_channels=3, input_size=[3, 4], kernel_size=[3, 2],
         bias=False, seed=103),
    dict(name="resize_linear_1d_channels_last", kind="resize_conv", scale=[3], mode="linear",
         batch=2, in_channels=4, out_channels=2, groups=2, input_size=[5], kernel_size=[4],
         pads=[1, 2], layout="channels_last", seed=104),
    dict(name="resize_trilinear_3d", kind="resize_conv", scale=[2, 2, 2], mode="trilinear",
         in_channels=2, out_channels=2, input_size=[2, 3, 3], kernel_size=[3, 3, 3],
         dilation=[1, 1, 1], seed=105),
    dict(name="resize_nearest_3d_dilation", kind="resize_conv", scale=[1, 2, 3], mode="nearest",
         in_channels=2, out_channels=3, input_size=[2, 3, 2], kernel_size=[2, 3, 2],
         dilation=[1, 2, 1], padding=[1, 2, 0], activation="tanh", seed=106),
    dict(name="pixel_shuffle_r2", kind="pixel_shuffle", upscale_factor=2, in_channels=3,
         out_channels=2, input_size=[4, 5], kernel_size=[3, 3], padding=[1, 1], seed=107),
    dict(name="pixel_shuffle_r3_groups_channels_last", kind="pixel_shuffle", upscale_factor=3,
         batch=2, in_channels=4, out_channels=2, groups=2, input_size=[3, 3],
         kernel_size=[3, 2], pads=[1, 0, 2, 1], layout="channels_last", activation="leaky_relu",
         negative_slope=0.2, seed=108),
]

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TORCH_MODE = {"nearest": "nearest", "linear": "linear", "bilinear": "bilinear",
              "trilinear": "trilinear"}


def compute(case, x, w, b):
    rank = len(case["input_size"])
    if "pads" in case:
        begin, end = case["pads"][:rank], case["pads"][rank:]
    else:
        begin = end = case.get("padding", [0] * rank)
    if case["kind"] == "resize_conv":
        mode = case["mode"]
        x = F.interpolate(x, scale_factor=tuple(float(s) for s in case["scale"]),
                          mode=TORCH_MODE[mode],
                          align_corners=None if mode == "nearest" else False)
    # Begin/end pads as an explicit zero pad (F.pad takes the last dim first).
    pad = []
    for pb, pe in reversed(list(zip(begin, end))):
        pad += [pb, pe]
    y = CONV[rank](F.pad(x, pad), w, b, groups=case.get("groups", 1),
                   dilation=case.get("dilation", 1))
    if case["kind"] == "pixel_shuffle":
        y = F.pixel_shuffle(y, case["upscale_factor"])
    return y


def make_case(case):
    rng = np.random.default_rng(case["seed"])
    n, ic, oc = case.get("batch", 1), case["in_channels"], case["out_channels"]
    groups = case.get("groups", 1)
    cc = oc * case.get("upscale_factor", 1) ** 2
    bias = case.get("bias", True)
    uniform = lambda *shape: rng.uniform(-1, 1, size=shape).astype(np.float32)
    x = uniform(n, ic, *case["input_size"])
    w = uniform(cc, ic // groups, *case["kernel_size"])
    b = uniform(cc) if bias else None
    y = compute(case, torch.from_numpy(x).double(), torch.from_numpy(w).double(),
                torch.from_numpy(b).double() if bias else None)
    y = activation(y, case).float()

    out = os.path.join(HERE, case["name"])
    write_config(out, case)
    save(os.path.join(out, "x.npy"), to_layout(torch.from_numpy(x), case).numpy())
    save(os.path.join(out, "w.npy"), w)
    if bias:
        save(os.path.join(out, "b.npy"), b)
    save(os.path.join(out, "y.npy"), to_layout(y, case).numpy())
    print(f"{case['name']}: y {list(to_layout(y, case).shape)}")


def main():
    torch.use_deterministic_algorithms(True)
    for case in CASES:
        make_case(case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
