#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A DCGAN generator (Radford et al.: 100 -> 512 -> 256 -> 128 -> 64 -> 3, k4 s2 p1) defined in
PyTorch, run with tconv: each ConvTranspose2d + BatchNorm2d + ReLU block becomes one tconv layer
(the eval-mode batch norm folded into the weights and bias, the activation fused) built with
tconv.from_torch. Prints the largest difference from PyTorch's output and both times.

    PYTHONPATH=build/python python3 examples/python/dcgan_from_torch.py [--batch N] [--threads N]
"""

import argparse
import os
import statistics
import time

# As bench_vs_torch.py: PyTorch's OpenMP threads sleep when idle, OpenBLAS runs inside them.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import torch  # noqa: E402
from torch import nn  # noqa: E402

import tconv  # noqa: E402


def generator(nz=100, ngf=64, nc=3):
    def block(cin, cout, stride, padding):
        return [nn.ConvTranspose2d(cin, cout, 4, stride, padding, bias=False),
                nn.BatchNorm2d(cout), nn.ReLU(True)]
    return nn.Sequential(*block(nz, ngf * 8, 1, 0), *block(ngf * 8, ngf * 4, 2, 1),
                         *block(ngf * 4, ngf * 2, 2, 1), *block(ngf * 2, ngf, 2, 1),
                         nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())


def fold_batch_norm(conv, bn):
    """conv followed by eval-mode bn, as one ConvTranspose2d: output channel o is scaled by
    gamma/sqrt(var + eps) and shifted. Weights are (in, out/groups, kH, kW)."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    folded = nn.ConvTranspose2d(conv.in_channels, conv.out_channels, conv.kernel_size,
                                conv.stride, conv.padding, conv.output_padding, conv.groups,
                                True, conv.dilation)
    with torch.no_grad():
        folded.weight.copy_(conv.weight * scale.view(1, -1, 1, 1))
        bias = conv.bias if conv.bias is not None else torch.zeros(conv.out_channels)
        folded.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
    return folded


def to_tconv(net):
    """The tconv layers of a Sequential of ConvTranspose2d [BatchNorm2d] [ReLU | Tanh] blocks."""
    layers, mods, i = [], list(net), 0
    while i < len(mods):
        conv, i = mods[i], i + 1
        if i < len(mods) and isinstance(mods[i], nn.BatchNorm2d):
            conv, i = fold_batch_norm(conv, mods[i]), i + 1
        activation = None
        if i < len(mods) and isinstance(mods[i], (nn.ReLU, nn.Tanh)):
            activation, i = ("relu" if isinstance(mods[i], nn.ReLU) else "tanh"), i + 1
        layers.append(tconv.from_torch(conv, activation=activation))
    return layers


def median_ms(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    net = generator().eval()
    # Non-trivial batch statistics, as a trained network would have.
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.2, 0.2)
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 2.0)
    layers = to_tconv(net)
    z = torch.randn(args.batch, 100, 1, 1)

    def run_tconv():
        x = z
        for layer in layers:
            x = layer(x, threads=args.threads)
        return x

    with torch.no_grad():
        want = net(z)
        got = run_tconv()
        diff = (got - want).abs().max().item()
        print(f"image {tuple(got.shape)}, {len(layers)} tconv layers; "
              f"max |tconv - torch| = {diff:.2e}")
        # interleave the two so that both see the same machine
        t_tconv, t_torch = [], []
        for _ in range(3):
            t_tconv.append(median_ms(run_tconv, args.repeats // 3 + 1))
            t_torch.append(median_ms(lambda: net(z), args.repeats // 3 + 1))
    tc, tt = statistics.median(t_tconv), statistics.median(t_torch)
    print(f"batch {args.batch}, {args.threads} thread(s): tconv {tc:.3f} ms, "
          f"PyTorch {torch.__version__} {tt:.3f} ms (x{tt / tc:.2f})")
    if diff > 1e-3:
        raise SystemExit("tconv and PyTorch disagree")


if __name__ == "__main__":
    main()
