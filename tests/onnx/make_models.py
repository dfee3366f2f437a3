#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the ONNX test models and their golden outputs (run by hand; `make test` only reads them).

Needs PyTorch and the onnx package (Debian: python3-torch, python3-onnx). Writes, next to this
script (`--full-dcgan FILE` writes only a full-size DCGAN generator, nz=100 and ngf=64, to FILE:
the README's whole-model compile time, too large to commit):
  models/NAME.onnx       real models exported with torch.onnx.export, and single-node models
                         written with onnx.helper for each auto_pad mode, output_shape,
                         asymmetric pads and Constant-fed weights
  golden/NAME.I.in.npy   the input of the model's I-th ConvTranspose (graph order)
  golden/NAME.I.out.npy  its output after what tconv fuses into it (BatchNormalization, then
                         one activation), computed by PyTorch
  bad/NAME.onnx          broken models, one per error the importer reports
"""
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS, GOLDEN, BAD = (os.path.join(HERE, d) for d in ("models", "golden", "bad"))
FUSABLE = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d, torch.nn.ReLU,
           torch.nn.LeakyReLU, torch.nn.Sigmoid, torch.nn.Tanh)
CONVT = (torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d)


def save_golden(name, i, x, y):
    np.save(os.path.join(GOLDEN, f"{name}.{i}.in.npy"), np.ascontiguousarray(x, np.float32))
    np.save(os.path.join(GOLDEN, f"{name}.{i}.out.npy"), np.ascontiguousarray(y, np.float32))


def randomise_batch_norms(model, gen):
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)):
            n = m.num_features
            m.weight.data = torch.rand(n, generator=gen) + 0.5
            m.bias.data = torch.randn(n, generator=gen) * 0.1
            m.running_mean = torch.randn(n, generator=gen) * 0.1
            m.running_var = torch.rand(n, generator=gen) + 0.5


def export_sequential(name, model, x, dynamic_axes=None):
    """A Sequential: each ConvTranspose with the BatchNorm and activation after it is one layer."""
    gen = torch.Generator().manual_seed(len(name))
    randomise_batch_norms(model, gen)
    model.eval()
    with torch.no_grad():
        i, h, layer_in = 0, x, None
        mods = list(model)
        for k, m in enumerate(mods):
            if isinstance(m, CONVT):
                layer_in = h
            h = m(h)
            last = k + 1 == len(mods) or not isinstance(mods[k + 1], FUSABLE)
            if layer_in is not None and last:
                save_golden(name, i, layer_in.numpy(), h.numpy())
                i, layer_in = i + 1, None
        torch.onnx.export(model, x, os.path.join(MODELS, name + ".onnx"), opset_version=13,
                          input_names=["x"], output_names=["y"], dynamic_axes=dynamic_axes)


class Branch(torch.nn.Module):
    """A ConvTranspose whose output feeds a Relu and an Add: nothing may be fused into it."""

    def __init__(self):
        super().__init__()
        self.up = torch.nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1)

    def forward(self, x):
        y = self.up(x)
        return torch.relu(y) + y


def dcgan_generator(nz, ngf):
    """A DCGAN generator in four stages: 1x1 -> 4x4 -> 8x8 -> 16x16 -> 32x32 RGB."""
    return torch.nn.Sequential(
        torch.nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), torch.nn.BatchNorm2d(ngf * 4),
        torch.nn.ReLU(True),
        torch.nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
        torch.nn.BatchNorm2d(ngf * 2), torch.nn.ReLU(True),
        torch.nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), torch.nn.BatchNorm2d(ngf),
        torch.nn.ReLU(True),
        torch.nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), torch.nn.Tanh())


def full_dcgan(path):
    torch.manual_seed(16)
    model = dcgan_generator(100, 64)
    randomise_batch_norms(model, torch.Generator().manual_seed(1))
    torch.onnx.export(model.eval(), torch.randn(1, 100, 1, 1), path, opset_version=13,
                      input_names=["z"], output_names=["image"])


def real_models():
    torch.manual_seed(16)
    export_sequential("dcgan", dcgan_generator(8, 4), torch.randn(1, 8, 1, 1))

    vocoder = torch.nn.Sequential(  # HiFi-GAN-like upsampler: x8, x4, x2 along time
        torch.nn.ConvTranspose1d(16, 8, 16, stride=8, padding=4), torch.nn.LeakyReLU(0.1),
        torch.nn.ConvTranspose1d(8, 4, 8, stride=4, padding=2), torch.nn.LeakyReLU(0.1),
        torch.nn.ConvTranspose1d(4, 2, 5, stride=2, padding=2, output_padding=1))
    export_sequential("vocoder", vocoder, torch.randn(1, 16, 10))

    decoder3d = torch.nn.Sequential(
        torch.nn.ConvTranspose3d(6, 4, 3, stride=2, padding=1, output_padding=1),
        torch.nn.BatchNorm3d(4), torch.nn.ReLU(),
        torch.nn.ConvTranspose3d(4, 2, 2, stride=2, dilation=1), torch.nn.Sigmoid())
    export_sequential("decoder3d", decoder3d, torch.randn(1, 6, 3, 4, 4))

    grouped = torch.nn.Sequential(
        torch.nn.ConvTranspose2d(8, 12, 3, stride=2, padding=1, groups=4, dilation=2))
    export_sequential("grouped", grouped, torch.randn(2, 8, 5, 6))

    depthwise = torch.nn.Sequential(  # a dynamic batch: imported with an input shape
        torch.nn.ConvTranspose2d(8, 8, 4, stride=2, padding=1, groups=8), torch.nn.LeakyReLU(0.2))
    export_sequential("depthwise", depthwise, torch.randn(2, 8, 5, 5),
                      dynamic_axes={"x": {0: "batch"}})

    branch = Branch().eval()
    x = torch.randn(1, 3, 4, 4)
    with torch.no_grad():
        save_golden("branch", 0, x.numpy(), branch.up(x).numpy())
        torch.onnx.export(branch, x, os.path.join(MODELS, "branch.onnx"), opset_version=13,
                          input_names=["x"], output_names=["y"])


def reference(x, w, b, strides, dilations, group, pads, output_padding):
    """ConvTranspose as the ONNX spec defines it: the full transposed convolution, the output
    padding appended at the end, then pads cropped from each side."""
    rank = x.ndim - 2
    conv = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[rank - 1]
    y = conv(torch.from_numpy(x), torch.from_numpy(w), None, tuple(strides), 0, 0, group,
             tuple(dilations))
    grow = []
    for op in reversed(output_padding):
        grow += [0, op]
    y = F.pad(y, grow)
    index = [slice(None), slice(None)]
    for i in range(rank):
        index.append(slice(pads[i], y.shape[2 + i] - pads[i + rank]))
    y = y[tuple(index)]
    if b is not None:
        y = y + torch.from_numpy(b).reshape([1, -1] + [1] * rank)
    return y.numpy()


def helper_model(name, x_shape, w_shape, attrs, pads, output_padding=None, opset=11,
                 constant_weights=False, bias=True):
    """One ConvTranspose written with onnx.helper; `pads` are those the spec's formulas give for
    `attrs` (the golden applies them independently of the importer)."""
    rng = np.random.default_rng(len(name))
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    b = rng.standard_normal(w_shape[1] * attrs.get("group", 1)).astype(np.float32)
    rank = len(x_shape) - 2
    inputs = ["x", "w_id", "b"] if bias else ["x", "w_id"]
    nodes, inits = [], []
    if constant_weights:  # Constant -> Identity -> ConvTranspose
        nodes.append(helper.make_node("Constant", [], ["w"], name="weights",
                                      value=numpy_helper.from_array(w, "w_value")))
        nodes.append(helper.make_node("Constant", [], ["b"], name="bias",
                                      value=numpy_helper.from_array(b, "b_value")))
    else:
        inits += [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")]
    nodes.append(helper.make_node("Identity", ["w"], ["w_id"], name="weights_identity"))
    nodes.append(helper.make_node("ConvTranspose", inputs, ["y"], name=name, **attrs))
    y = reference(x, w, b if bias else None, attrs.get("strides", [1] * rank),
                  attrs.get("dilations", [1] * rank), attrs.get("group", 1), pads,
                  output_padding or attrs.get("output_padding", [0] * rank))
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(y.shape))], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="make_models.py")
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(MODELS, name + ".onnx"))
    save_golden(name, 0, x, y)


def helper_models():
    # k3 s2 on 3x5: unpadded extent 7x11; SAME wants 6x10, a total padding of 1 per axis.
    same = dict(strides=[2, 2], kernel_shape=[3, 3])
    helper_model("same_upper", [1, 2, 3, 5], [2, 3, 3, 3], dict(same, auto_pad="SAME_UPPER"),
                 pads=[0, 0, 1, 1])
    helper_model("same_lower", [1, 2, 3, 5], [2, 3, 3, 3], dict(same, auto_pad="SAME_LOWER"),
                 pads=[1, 1, 0, 0])
    helper_model("valid", [1, 2, 3, 5], [2, 3, 3, 3],
                 dict(strides=[2, 2], auto_pad="VALID", output_padding=[1, 0]), pads=[0, 0, 0, 0])
    # output_shape 6x9 of the 7x11 extent: totals 1 and 2, the odd one at the start (not SAME_UPPER).
    helper_model("output_shape", [1, 2, 3, 5], [2, 3, 3, 3],
                 dict(strides=[2, 2], output_shape=[6, 9]), pads=[1, 1, 0, 1])
    helper_model("asymmetric_pads", [1, 3, 4, 4], [3, 2, 3, 2],
                 dict(strides=[2, 3], dilations=[2, 1], pads=[0, 1, 2, 0]), pads=[0, 1, 2, 0],
                 opset=7)
    helper_model("constant_weights", [2, 4, 7], [4, 3, 5],
                 dict(strides=[3], pads=[1, 2], output_padding=[2]), pads=[1, 2], opset=9,
                 constant_weights=True)


def bad_model(name, nodes, inputs, inits, opset=13, y_type=TensorProto.FLOAT, y_rank=4):
    # The output's sizes are left unknown: shape inference then has no shape to disagree with.
    graph = helper.make_graph(nodes, name, inputs,
                              [helper.make_tensor_value_info("y", y_type, [None] * y_rank)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    with open(os.path.join(BAD, name + ".onnx"), "wb") as f:
        f.write(model.SerializeToString())


def bad_models():
    with open(os.path.join(BAD, "not_protobuf.onnx"), "w") as f:
        f.write("this is not an ONNX model\n")
    with open(os.path.join(MODELS, "dcgan.onnx"), "rb") as f:
        data = f.read()
    with open(os.path.join(BAD, "truncated.onnx"), "wb") as f:
        f.write(data[: len(data) * 2 // 3])

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 3, 3])
    w = numpy_helper.from_array(np.ones([4, 2, 3, 3], np.float32), "w")

    def convt(**attrs):
        return helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="up", **attrs)

    bad_model("no_convtranspose", [helper.make_node("Relu", ["x"], ["y"], name="relu")], [x], [])
    bad_model("auto_pad_value", [convt(auto_pad="SAME")], [x], [w])
    bad_model("group", [convt(group=3)], [x], [w])
    bad_model("strides_zero", [convt(strides=[0, 1])], [x], [w])
    bad_model("kernel_shape", [convt(kernel_shape=[2, 2])], [x], [w])
    bad_model("pads_and_auto_pad", [convt(auto_pad="SAME_UPPER", pads=[1, 1, 1, 1])], [x], [w])
    bad_model("output_shape_too_large", [convt(output_shape=[9, 9])], [x], [w])
    bad_model("weights_input", [convt()],
              [x, helper.make_tensor_value_info("w", TensorProto.FLOAT, [4, 2, 3, 3])], [])
    bad_model("double", [convt()],
              [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [1, 4, 3, 3])],
              [numpy_helper.from_array(np.ones([4, 2, 3, 3], np.float64), "w")],
              y_type=TensorProto.DOUBLE)
    bad_model("dynamic", [convt()],
              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 3, 3])], [w])
    bad_model("rank_2", [helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="up")],
              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
              [numpy_helper.from_array(np.ones([4, 2], np.float32), "w")], y_rank=2)
    bad_model("weights_rank_1", [convt()], [x],  # ONNX's own shape inference would crash
              [numpy_helper.from_array(np.ones([3], np.float32), "w")])
    weights_from_op = [helper.make_node("Relu", ["w0"], ["w"], name="relu_w"), convt()]
    bad_model("weights_from_op", weights_from_op, [x],
              [numpy_helper.from_array(np.ones([4, 2, 3, 3], np.float32), "w0")])


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--full-dcgan":
        return full_dcgan(sys.argv[2])
    for d in (MODELS, GOLDEN, BAD):
        os.makedirs(d, exist_ok=True)
    real_models()
    helper_models()
    bad_models()


if __name__ == "__main__":
    main()
